"""The operator's settings: one typed object, read once, from the command line and `IOT_OPERATOR_*` variables.

Every knob the operator has is an attribute here with its docstring, so this class is the reference
documentation (`iot-operator --help` prints it). The command line wins over the environment, the
environment over the defaults; the Helm chart sets the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Settings of the IoT emulator operator."""

    model_config = SettingsConfigDict(
        env_prefix="IOT_OPERATOR_",
        use_attribute_docstrings=True,
        extra="forbid",
        cli_kebab_case=True,
        cli_prog_name="iot-operator",
        cli_implicit_flags=True,
    )

    # -- what to watch, how hard to work -------------------------------------------------------
    namespaces: list[str] = []
    """Namespaces to watch; empty: the whole cluster."""
    worker_limit: Annotated[int, Field(ge=1)] | None = None
    """Resources handled at once (kopf's queueing.worker_limit); None: no limit. A limit below the number
    of IoTDevices + IoTFleets deadlocks the start: kopf's workers hold their slot until every object is
    indexed (the MAC claims), so the objects left without a slot are never indexed (measured: 100 fleets
    under a limit of 50, nothing ever reconciled). A worker is an asyncio task: no limit costs little."""
    resync_interval: Annotated[float, Field(gt=0)] = 5.0
    """Seconds between two passes over one resource (pods checked, stats read) when nothing wakes it earlier."""
    status_min_interval: Annotated[float, Field(ge=0)] = 5.0
    """A resource's status is patched at most once per this many seconds, and only when it changed."""
    stats_timeout: Annotated[float, Field(gt=0)] = 3.0
    """Seconds to wait for one pod's /stats."""
    stats_concurrency: Annotated[int, Field(ge=1)] = 16
    """/stats requests in flight at once, over all resources."""
    bind_grace: Annotated[float, Field(ge=0)] = 120.0
    """Seconds a device may spend without a lease before it counts as failing."""
    backoff_base: Annotated[float, Field(gt=0)] = 10.0
    """First delay before a failed pod is created again; doubles per failure."""
    backoff_max: Annotated[float, Field(gt=0)] = 300.0
    """Longest delay between two re-creations of a failing pod."""

    # -- the emulator pods ---------------------------------------------------------------------
    emulator_image: str = "iot-emulator:0.1.0"
    """Image of the emulator pods."""
    capture_secret: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")] | None = None
    """Secret (in each resource's namespace) whose key `token` the emulator pods get as
    `IOTEMU_CAPTURE_TOKEN`: the dashboard (its `kube.capture_token`) may then stream their live
    captures (`GET /capture`). Unset: the pods serve no capture over TCP."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """imagePullPolicy of the emulator pods."""
    emulator_command: list[str] = ["iotemu", "run"]
    """Command of the emulator container; the operator appends the manifest, interface and HTTP options."""
    http_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    """Port of the emulator's HTTP endpoint (/healthz, /stats) in pods with their own network namespace."""
    host_port_base: Annotated[int, Field(ge=1024, le=65535)] = 20000
    """hostNetwork pods share the node's ports: each gets base + (hash of its name mod span), declared as hostPort."""
    host_port_span: Annotated[int, Field(ge=1, le=40000)] = 10000
    """See host_port_base."""
    cpu_request: str = "50m"
    """CPU request of an emulator container."""
    memory_request: str = "64Mi"
    """Memory request of an emulator container."""
    memory_limit: str = "1Gi"
    """Memory limit of an emulator container (about 100 KB per device, plus the interpreter)."""
    profiles_dir: Path | None = None
    """Extra profiles, for the MAC of a single Multus-attached device with no spec.mac (the emulator image
    must hold the same files)."""

    # -- reaching the API server and the pods --------------------------------------------------
    kubeconfig: Path | None = None
    """Kubeconfig file; default: in-cluster service account, then the files in $KUBECONFIG (merged) or
    ~/.kube/config. Exec credential plugins, tokenFile, client certificates and proxy-url work as in kubectl."""
    context: str | None = None
    """Kubeconfig context to use; default: its current-context."""
    api_server: str | None = None
    """API server URL used without credentials (a local proxy such as `kubectl proxy`, or a test stand-in)."""
    api_insecure: bool = False
    """Skip TLS verification of api_server."""
    stats_urls: dict[str, str] = {}
    """`namespace/pod` -> base URL of its HTTP endpoint, instead of http://<pod IP>:<port> (tests, port-forwards)."""
    peering: str | None = None
    """Name of the KopfPeering object shared by the operator's replicas: only the replica with the highest
    priority acts, the others wait. None: one replica (no peering objects, no peering RBAC)."""
    priority: int | None = None
    """This replica's peering priority; default: a random one, so two replicas never tie (kopf pauses both
    on a tie)."""
    liveness_endpoint: str | None = None
    """kopf's liveness probe endpoint, e.g. http://0.0.0.0:8081/healthz."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the operator."""
