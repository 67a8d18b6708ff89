"""A small Kubernetes API client on aiohttp: the few verbs the dashboard needs, and how to connect.

Why not the official client: the dashboard needs list, get, create, merge-patch and delete on two
custom resources and a pod listing, plus one long-lived stream per pod; aiohttp is already a
dependency and does all of it in ~150 lines, with no generated code to type-check.

Connection, first that applies: `api_url` (+ `token`) from settings; in a pod, the service
account (`KUBERNETES_SERVICE_HOST`, token and CA under /var/run/secrets); else the kubeconfig's
current context (server, CA, token or client certificate, `insecure-skip-tls-verify`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from iot_dashboard.settings import KubeSettings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MERGE_PATCH = "application/merge-patch+json"


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclasses.dataclass
class Connection:
    url: str
    token: str | None = None
    ssl: ssl.SSLContext | bool = True


def _ssl(ca_file: str | None, ca_data: str | None, insecure: bool, cert: tuple[str, str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file, cadata=ca_data)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def _materialise(data: str | None, path: str | None, directory: Path) -> str | None:
    """A kubeconfig's `*-data` (base64) as a file, since ssl wants paths for client certificates."""
    if path:
        return path
    if not data:
        return None
    fd, name = tempfile.mkstemp(dir=directory, suffix=".pem")
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(data))
    return name


def connection(settings: KubeSettings) -> Connection:
    """Where the API is and how to authenticate; see the module docstring for the order."""
    token = settings.token.get_secret_value() if settings.token else None
    if settings.api_url:
        return Connection(settings.api_url, token, _ssl(None, None, True, None) if settings.insecure else True)
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if host and (SERVICE_ACCOUNT / "token").exists():
        token = token or (SERVICE_ACCOUNT / "token").read_text().strip()
        context = _ssl(str(SERVICE_ACCOUNT / "ca.crt"), None, settings.insecure, None)
        return Connection(f"https://{host}:{port}", token, context)
    path = settings.kubeconfig or Path(os.environ.get("KUBECONFIG") or Path.home() / ".kube" / "config")
    config = yaml.safe_load(path.read_text())
    context_name = config.get("current-context")
    ctx = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == ctx["cluster"])
    user: dict[str, Any] = next((u["user"] for u in config.get("users", []) if u["name"] == ctx.get("user")), {})
    directory = Path(tempfile.mkdtemp(prefix="iotdash-kube-"))
    cert = _materialise(user.get("client-certificate-data"), user.get("client-certificate"), directory)
    key = _materialise(user.get("client-key-data"), user.get("client-key"), directory)
    ca_data = cluster.get("certificate-authority-data")
    context = _ssl(
        cluster.get("certificate-authority"),
        base64.b64decode(ca_data).decode() if ca_data else None,
        settings.insecure or bool(cluster.get("insecure-skip-tls-verify")),
        (cert, key) if cert and key else None,
    )
    return Connection(cluster["server"], token or user.get("token"), context)


class KubeClient:
    """JSON in, JSON out; errors as KubeError with the API's message."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        headers = {"Accept": "application/json"}
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        self.session = aiohttp.ClientSession(
            base_url=conn.url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        )

    async def close(self) -> None:
        await self.session.close()

    async def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"ssl": self.conn.ssl}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": content_type}
        try:
            async with self.session.request(method, path.lstrip("/"), **kwargs) as resp:
                text = await resp.text()
                try:
                    data: Any = json.loads(text) if text else {}
                except ValueError:
                    data = {}
                if resp.status >= 400:
                    message = data.get("message") if isinstance(data, dict) else None
                    raise KubeError(resp.status, str(message or text[:300] or resp.reason))
                return data if isinstance(data, dict) else {}
        except aiohttp.ClientError as exc:
            raise KubeError(0, f"cannot reach the Kubernetes API at {self.conn.url}: {exc}") from exc

    async def list(self, path: str) -> list[dict[str, Any]]:
        items = (await self.request("GET", path)).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    async def get(self, path: str) -> dict[str, Any]:
        return await self.request("GET", path)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body, MERGE_PATCH)

    async def delete(self, path: str) -> dict[str, Any]:
        return await self.request("DELETE", path)
