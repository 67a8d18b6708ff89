"""Compromise behaviours a scenario can switch on for a device, kept inside the lab.

Each behaviour is data (a pydantic model with a `kind`) and a sans-IO service (`host.Service`) built
from it by `build_service`: the scenario runner starts the service when the step begins and stops it
when the step ends. Destinations are bounded so the traffic never leaves the lab: scans stay on the
device's own subnet, named targets must be reserved names (RFC 2606/6761: .test, .invalid,
.example, .localhost, .lab) that only the lab's resolver answers, and address literals must be
private or documentation ranges.

CONTRACT (shared by the scenario runner and this module): `CompromiseBehaviour` (discriminated
union on `kind`) and `build_service(spec, context, label) -> host.Service`. Every message the
service logs starts with `[scenario <label>] <kind>:` so a user can match what their product saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from iot_emulator.scenarios import lab_bounds

if TYPE_CHECKING:
    from iot_emulator.devices import host
    from iot_emulator.protocols import services

Port = Annotated[int, Field(ge=1, le=65535)]
Target = Annotated[str, Field(max_length=253), AfterValidator(lab_bounds.check_target)]
"""A reserved name (.test .invalid .example .localhost .lab) or a private/documentation address literal."""
Domain = Annotated[str, Field(max_length=253), AfterValidator(lab_bounds.check_domain)]
UrlPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/%+=&-]*$", max_length=256)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PortScan(_Strict):
    """TCP SYN probes of the device's own subnet (never beyond it), as Mirai-like malware scans."""

    kind: Literal["port_scan"] = "port_scan"
    ports: list[Port] = Field(default=[22, 23, 80, 443, 554, 2323, 8080], min_length=1, max_length=1024)
    rate: Annotated[float, Field(gt=0, le=10000)] = Field(default=50, description="probes per second")
    max_hosts: Annotated[int, Field(ge=1, le=65536)] = 254


class BruteForce(_Strict):
    """Login attempts with a default-credential list against a lab server (telnet or SSH)."""

    kind: Literal["brute_force"] = "brute_force"
    service: Literal["telnet", "ssh"] = "telnet"
    target: Target = Field(default="login.lab.test", description="a reserved name or a private address")
    port: Port | None = None
    attempts: Annotated[int, Field(ge=1, le=100000)] = 20
    interval: Annotated[float, Field(gt=0, le=3600)] = Field(default=2.0, description="seconds between attempts")
    ssh_cipher: Literal["aes128-ctr", "chacha20-poly1305@openssh.com"] = Field(
        default="aes128-ctr", description="ssh: the cipher offered first (the one a server picks)"
    )


class Beacon(_Strict):
    """Command-and-control check-ins to a lab name at a fixed period (a classifier's periodicity test)."""

    kind: Literal["c2_beacon"] = "c2_beacon"
    target: Target = Field(default="c2.lab.test", description="a reserved name or a private address")
    protocol: Literal["http", "https", "dns"] = "http"
    period: Annotated[float, Field(gt=0, le=86400)] = 30
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.0
    path: UrlPath = "/gate.php"


class DnsTunnel(_Strict):
    """Queries whose labels carry encoded data under one domain (long, high-entropy, many per second)."""

    kind: Literal["dns_tunnel"] = "dns_tunnel"
    domain: Domain = Field(default="t.lab.test", description="a reserved name")
    rate: Annotated[float, Field(gt=0, le=1000)] = 5
    label_length: Annotated[int, Field(ge=8, le=63)] = 52
    record: Literal["TXT", "A", "NULL", "CNAME"] = "TXT"

    @model_validator(mode="after")
    def _name_fits(self) -> DnsTunnel:
        if self.label_length + 1 + len(self.domain) > lab_bounds.MAX_NAME:
            raise ValueError(
                f"label_length {self.label_length} under {self.domain!r} makes names longer than "
                f"{lab_bounds.MAX_NAME} characters"
            )
        return self


class Exfiltration(_Strict):
    """A burst of uploads far above the device's normal volume (a spike a NAC's baseline flags)."""

    kind: Literal["exfiltration"] = "exfiltration"
    target: Target = Field(default="drop.lab.test", description="a reserved name or a private address")
    protocol: Literal["http", "https"] = "https"
    total_bytes: Annotated[int, Field(ge=1, le=1 << 30)] = 50_000_000
    chunk_bytes: Annotated[int, Field(ge=512, le=16 << 20)] = 1 << 20
    max_mbps: Annotated[float, Field(gt=0, le=10000)] | None = Field(
        default=None, description="average upload rate cap in Mbit/s (None: as fast as the path allows)"
    )
    path: UrlPath = "/upload"


CompromiseBehaviour = Annotated[PortScan | BruteForce | Beacon | DnsTunnel | Exfiltration, Field(discriminator="kind")]


def build_service(spec: CompromiseBehaviour, context: services.Context, label: str) -> host.Service:
    """The sans-IO service that performs `spec` for the device of `context` (start it, stop it at the step's end)."""
    from iot_emulator.scenarios import beacon, brute_force, dns_tunnel, exfiltration, port_scan

    if isinstance(spec, PortScan):
        return port_scan.PortScan(spec, context, label)
    if isinstance(spec, BruteForce):
        return brute_force.BruteForce(spec, context, label)
    if isinstance(spec, Beacon):
        return (
            beacon.DnsBeacon(spec, context, label)
            if spec.protocol == "dns"
            else beacon.HttpBeacon(spec, context, label)
        )
    if isinstance(spec, DnsTunnel):
        return dns_tunnel.DnsTunnel(spec, context, label)
    return exfiltration.Exfiltration(spec, context, label)
