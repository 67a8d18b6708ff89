"""Where the Kubernetes API is and how to authenticate, read the way kubectl reads it.

Order: an explicit `api_url` (a `kubectl proxy`, a test stand-in); in a pod, the service account
(`KUBERNETES_SERVICE_HOST`, token and CA under /var/run/secrets); else the kubeconfig: the given
file, or every file listed in `$KUBECONFIG` merged as kubectl merges them, or `~/.kube/config`.
The kubeconfig is read by the official client (`kubernetes_asyncio`), so exec credential plugins
(EKS, GKE, AKS, kubelogin/OIDC), `tokenFile`, client certificates (files or inline data),
`proxy-url`, `tls-server-name` and `insecure-skip-tls-verify` all work as they do for kubectl.

The result is a `Connection` held in memory: key material never stays on disk. (The official
client can only hand certificates to `ssl` as files: it writes them into a private directory that
is removed before `load` returns.)

The official client reads a kubeconfig with `yaml.safe_load` and no limit, then walks what it read:
a ~800-byte alias bomb in a context took it past 5 GB and a minute. Each file is first read with
the project's bounded reader (`iot_emulator.config.bounded`: size, depth, alias expansion, time), and a
file over those limits is refused with its name before the client sees it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import ConfigException, kube_config
from kubernetes_asyncio.config.incluster_config import InClusterConfigLoader

from iot_emulator.config import bounded

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_LOADING = threading.Lock()


class NoConnection(RuntimeError):
    """No usable connection: the message says which source failed and why."""


@dataclasses.dataclass(frozen=True, repr=False)
class Connection:
    """Everything needed to reach the API server; secrets stay out of repr() (logs)."""

    server: str
    ca_data: bytes | None = None
    """PEM of the CA that signed the server's certificate (None: the system's)."""
    insecure: bool = False
    token: str | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    tls_server_name: str | None = None
    proxy: str | None = None
    namespace: str | None = None
    """The context's (or the service account's) namespace."""
    expires: dt.datetime | None = None
    """When an exec plugin's credential expires: log in again before then."""
    source: str = ""
    """Where it came from, for messages: `api_url`, `in-cluster`, or the kubeconfig path."""

    def __repr__(self) -> str:
        auth = "token" if self.token else "client certificate" if self.cert_data else "no credentials"
        return f"Connection({self.server!r} from {self.source or '?'}, {auth})"


async def load(
    *,
    api_url: str | None = None,
    token: str | None = None,
    insecure: bool = False,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
) -> Connection:
    """The connection, from the first source that applies (see the module docstring)."""
    if api_url:
        return Connection(api_url.rstrip("/"), insecure=insecure, token=token, source="api_url")
    if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT / "token").exists() and kubeconfig is None:
        return _in_cluster(token, insecure)
    return await _from_kubeconfig(kubeconfig, context, token, insecure)


def _in_cluster(token: str | None, insecure: bool) -> Connection:
    config = Configuration()
    try:
        InClusterConfigLoader(str(SERVICE_ACCOUNT / "token"), str(SERVICE_ACCOUNT / "ca.crt")).load_and_set(config)
    except ConfigException as exc:
        raise NoConnection(f"in-cluster service account: {exc}") from exc
    namespace_file = SERVICE_ACCOUNT / "namespace"
    return Connection(
        server=str(config.host),
        ca_data=Path(str(config.ssl_ca_cert)).read_bytes(),
        insecure=insecure,
        token=token or _bearer(config),
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else None,
        source="in-cluster",
    )


KUBECONFIG_LIMITS = bounded.Limits(max_bytes=4 << 20, max_depth=32, max_alias_nodes=10_000, seconds=10.0)
"""Far above any real kubeconfig (a few KB; a large merged one is well under 1 MB)."""


def _check_bounded(files: str) -> None:
    """Refuses a kubeconfig the official client could not read within bounds (see the module docstring)."""
    for name in files.split(os.pathsep):
        path = Path(name)
        if not name or not path.is_file():
            continue  # a missing file: the client says so (or skips it in a $KUBECONFIG list, as kubectl does)
        try:
            bounded.load(bounded.read_text(path, KUBECONFIG_LIMITS), KUBECONFIG_LIMITS)
        except (bounded.BadInput, yaml.YAMLError, OSError) as exc:
            raise NoConnection(f"kubeconfig {name}: {exc}") from exc


async def _from_kubeconfig(
    kubeconfig: Path | str | None, context: str | None, token: str | None, insecure: bool
) -> Connection:
    files = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    _check_bounded(files)
    config = Configuration()
    # The client keeps one process-wide cache of the files it writes (by content): two loads at once
    # (two operators in one process, a reconnect during a load) would hand each other files that the
    # other's cleanup removes. One load at a time; waiting for the lock does not block the event loop.
    await asyncio.to_thread(_LOADING.acquire)
    try:
        loader, ca, cert, key = await _load(files, context, config)
    finally:
        _LOADING.release()
    current: dict[str, Any] = (loader.current_context or {}).get("context") or {}

    expiry = getattr(loader, "exec_plugin_expiry", None)
    return Connection(
        server=str(config.host),
        ca_data=ca,
        insecure=insecure or not config.verify_ssl,
        token=token or _bearer(config),
        cert_data=cert,
        key_data=key,
        tls_server_name=config.tls_server_name,
        proxy=config.proxy,
        namespace=current.get("namespace"),
        expires=expiry if isinstance(expiry, dt.datetime) else None,
        source=files,
    )


async def _load(
    files: str, context: str | None, config: Configuration
) -> tuple[kube_config.KubeConfigLoader, bytes | None, bytes | None, bytes | None]:
    """The official loader into `config`; the CA and client key material read back into memory."""
    with tempfile.TemporaryDirectory(prefix="iotemu-kube-") as private:  # mode 0700
        try:
            loader = await kube_config.load_kube_config(
                config_file=files,
                context=context,
                client_configuration=config,
                persist_config=False,
                temp_file_path=private,
            )
            ca, cert, key = (_read(getattr(config, a)) for a in ("ssl_ca_cert", "cert_file", "key_file"))
        except (ConfigException, OSError, KeyError, TypeError, ValueError) as exc:
            raise NoConnection(f"kubeconfig {files}: {exc}") from exc
        finally:
            # The client remembers the files it wrote by content and would hand out their (removed)
            # names on the next load: forget them with the directory.
            kube_config._cleanup_temp_files()
    return loader, ca, cert, key


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _bearer(config: Configuration) -> str | None:
    value = config.api_key.get("BearerToken") or config.api_key.get("authorization")
    if not isinstance(value, str) or not value:
        return None
    return value.removeprefix("Bearer ").strip()
