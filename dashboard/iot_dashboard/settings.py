"""The dashboard's one settings object, read once at start (environment `IOTEMU_DASHBOARD_*`, or code).

Everything the service can be told lives here, grouped, with a docstring under each attribute:
this class is the reference for operators of the service. Nested groups are set from the
environment with a double underscore: `IOTEMU_DASHBOARD_LOCAL__INTERFACE=eth1`,
`IOTEMU_DASHBOARD_KUBE__NAMESPACE=lab`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from iot_kube import emulator_pods

DEFAULT_WEB_DIR = Path(__file__).resolve().parents[1] / "web" / "dist"
"""Where the React tab's build lands (`dashboard/web/dist`)."""


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "iotemu"


class LocalSettings(BaseModel):
    """The local backend: manifests in a YAML file, emulator processes on this machine."""

    data_file: Path = Field(default_factory=lambda: _data_home() / "dashboard-devices.yaml")
    """The YAML file of IoTDevice/IoTFleet manifests (written atomically; a corrupt one is never overwritten)."""
    seed_file: Path | None = None
    """Manifests (or an `iot_devices.json`) loaded when `data_file` does not exist yet: the default library."""
    seed_running: bool = False
    """Keep `spec.running` of seeded resources; by default they are loaded stopped (the user presses Play All)."""
    interface: str | None = None
    """Interface the emulator processes send on (required: never a host interface by default)."""
    allow_default_route: bool = False
    """Allow `interface` to be the one carrying this host's default route (a production network, usually)."""
    netns: str | None = None
    """Network namespace holding `interface` (the lab's device namespace)."""
    promiscuous: bool = False
    """Emulators join promiscuous mode: a physical NIC otherwise drops frames to the devices' MACs."""
    lab: str | None = None
    """Name of a lab built by `iotemu lab up`: sets `interface` and `netns` from its record."""
    lab_state_dir: Path | None = None
    """Where the lab's record lives (default: the lab package's own default)."""
    profiles_dir: Path | None = None
    """Extra device profiles, for validation here and passed to every emulator process."""
    emulator_command: list[str] = Field(default_factory=lambda: [sys.executable, "-m", "iot_emulator"])
    """How to run the emulator; `run --control-socket ...` is appended."""
    state_dir: Path | None = None
    """Lease memory of the emulator processes (`--state-dir`); default: next to `data_file`."""
    socket_dir: Path | None = None
    """Directory of the processes' control sockets; default: a private temporary directory."""
    devices_per_process: int = Field(default=250, ge=1, le=5000)
    """Stand-alone devices hosted by one emulator process (fleets use their own `devicesPerPod`)."""
    warm_processes: int = Field(default=0, ge=0, le=64)
    """Emulator processes kept started with no device (`devices-0`, ...), so that Start All on up to
    `warm_processes * devices_per_process` devices spends a request per process, not an interpreter
    start (~1 s of CPU each); each idle one holds ~70 MB RSS. 0: a process only while it has devices."""
    fork_server: bool = True
    """Start emulator processes as forks of one pre-imported process (`python -m iot_emulator.zygote`,
    started with the service): ~10 ms each instead of ~1 s of CPU for a new interpreter. Applies
    when `emulator_command` is `python -m iot_emulator`; false: always a new interpreter."""
    stats_interval: float = Field(default=5.0, gt=0)
    """Seconds between each device's `stats` message."""
    window: int = Field(default=64, ge=1)
    """DHCP exchanges in flight per process (`--window`)."""
    start_rate: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Devices started per second per process (`--start-rate`); unset: the emulator's default
    (unlimited in a lab's namespace, 20/s on a host interface); 0: unlimited."""
    ready_timeout: float = Field(default=20.0, gt=0)
    """Seconds an emulator process gets to answer on its control socket."""
    stop_timeout: float = Field(default=5.0, gt=0)
    """Seconds between SIGTERM and SIGKILL."""
    restart_initial: float = Field(default=0.5, gt=0)
    """First delay before restarting a crashed emulator process; doubles on each crash in a row."""
    restart_max: float = Field(default=30.0, gt=0)
    """Longest delay between restarts."""
    restart_reset_after: float = Field(default=60.0, gt=0)
    """A process that ran this long is healthy again: its next crash restarts after `restart_initial`."""


class KubeSettings(BaseModel):
    """The Kubernetes backend: IoTDevice/IoTFleet resources, events from the emulator pods."""

    api_url: str | None = None
    """API server URL; default: in-cluster (`KUBERNETES_SERVICE_HOST`) or the kubeconfig's current context."""
    kubeconfig: Path | None = None
    """Kubeconfig file (default `$KUBECONFIG` or `~/.kube/config`) when not in a cluster."""
    token: SecretStr | None = None
    """Bearer token for the API (default: the service account's, or the kubeconfig's)."""
    insecure: bool = False
    """Skip TLS verification of the API server (test clusters only)."""
    namespace: str = "default"
    """Namespace of the resources and the emulator pods."""
    managed_by_label: str = emulator_pods.MANAGED_BY
    """Label that marks the operator's pods..."""
    managed_by_value: str = emulator_pods.MANAGER
    """...and its value."""
    device_label: str = emulator_pods.KIND_LABEL["IoTDevice"]
    """Label of a pod that runs one IoTDevice (value: the device name)."""
    fleet_label: str = emulator_pods.KIND_LABEL["IoTFleet"]
    """Label of a pod that runs (a shard of) an IoTFleet (value: the fleet name)."""
    events_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the emulator pods' HTTP endpoint (`/events`), unless the pod's annotation says otherwise."""
    events_port_annotation: str = emulator_pods.HTTP_PORT
    """Pod annotation that overrides `events_port`."""
    events_via_proxy: bool = False
    """Reach pods through the API server's pod proxy instead of their IP (when outside the cluster)."""
    capture_token: SecretStr | None = None
    """The emulator pods' `IOTEMU_CAPTURE_TOKEN`, sent with captures (`X-Iotemu-Token`); unset: no captures."""


class Settings(BaseSettings):
    """Everything the dashboard service reads; see the module docstring for the environment names."""

    model_config = SettingsConfigDict(env_prefix="IOTEMU_DASHBOARD_", env_nested_delimiter="__", extra="ignore")

    backend: Literal["local", "kubernetes"] = "local"
    """Where devices live: manifests + local processes, or a cluster's resources."""
    host: str = "127.0.0.1"
    """Listen address (the token is required on every address, loopback too)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Listen port (0: any free port)."""
    token: SecretStr | None = None
    """Bearer token for /api and /ws (`IOTEMU_DASHBOARD_TOKEN`, or `--token-file`). Unset: a new one each start."""
    token_file: Path | None = None
    """Where the start's token is written (mode 0600) for programs and people; default: next to the data file."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the service answers to besides localhost and IP literals (`.example.org` matches a suffix)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Origins allowed by CORS; empty (the default) disables CORS entirely."""
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    """Largest request body accepted, except imports."""
    max_import_bytes: int = Field(default=16 << 20, ge=1024)
    """Largest import body accepted (413 beyond)."""
    import_seconds: float = Field(default=30.0, gt=0)
    """Longest an import may take to read (YAML composing stops there: 422)."""
    ws_queue_size: int = Field(default=20000, ge=10)
    """Events queued per WebSocket client before the oldest are dropped (a device's queued stats
    count once on `/ws`: they are coalesced to the latest)."""
    ws_tick: float = Field(default=0.05, ge=0.0, le=1.0)
    """Seconds between two `batch` frames to a `/ws` client at most: frames per client stay
    O(1/tick) whatever the number of devices; a message waits at most this long for its frame."""
    history_events: int = Field(default=100, ge=1)
    """Non-stats events kept per device for `/api/devices/{id}/events`."""
    history_stats: int = Field(default=20, ge=1)
    """Stats messages kept per device (the chart's back-fill)."""
    log_buffer: int = Field(default=5000, ge=10)
    """Log and error records kept in memory for `/api/logs`."""
    log_file: Path | None = None
    """Rotating log file (10 MB x 5); unset: stdout only."""
    log_json: bool = False
    """Structured (JSON lines) logs instead of readable ones."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Level of the service's own logs."""
    web_dir: Path = DEFAULT_WEB_DIR
    """The built web tab served at `/` (a placeholder page when it does not exist)."""
    local: LocalSettings = Field(default_factory=LocalSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)

    @field_validator("token")
    @classmethod
    def _token_is_plain(cls, value: SecretStr | None) -> SecretStr | None:
        """It also travels as a WebSocket subprotocol, whose characters are restricted (RFC 6455)."""
        if value is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,256}", value.get_secret_value()):
            raise ValueError("the token must be 16 to 256 characters among A-Z a-z 0-9 . _ ~ -")
        return value

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the service."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def resolved_token_file(self) -> Path:
        return self.token_file or self.local.data_file.with_name("dashboard-token")
