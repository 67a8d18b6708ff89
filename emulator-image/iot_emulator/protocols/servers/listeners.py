"""The "listeners" service: the TCP ports a device's profile says its real model listens on.

Built for every device (`services.ALWAYS`): a device answers probes as its model does whatever
protocols it is told to speak. On start it serves its profile's `listen` ports on the device's
TCP stack (`TcpStack.ports`); the responders come from a table built once per profile and shared by
all its devices, so a device adds only this service, its `Facts` (at its first connection) and, per
open connection, a `ServerApp`.
"""

from __future__ import annotations

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import answers, catalog, derived
from iot_emulator.protocols import services
from iot_emulator.protocols.servers import (
    dicom_server,
    kasa_server,
    modbus_server,
    printer_server,
    s7_server,
    sip_server,
    tcp_server,
    text_server,
    tls_server,
)
from iot_emulator.protocols.transport import tcp


def responder(service: answers.Listener) -> tcp_server.Responder:
    if isinstance(service, answers.TextService):
        return text_server.TextResponder(service)
    if isinstance(service, answers.BannerService):
        return tcp_server.Banner(service.protocol, service.banner.encode("latin-1"))
    if isinstance(service, answers.PrinterService):
        if service.kind == "jetdirect":
            return printer_server.JetDirect(service)
        return printer_server.Lpd(service) if service.kind == "lpd" else printer_server.Ipp(service)
    if isinstance(service, answers.KasaService):
        return kasa_server.Kasa(service)
    if isinstance(service, answers.DicomService):
        return dicom_server.Dicom(service)
    if isinstance(service, answers.S7Service):
        return s7_server.S7Comm(service)
    if isinstance(service, answers.SipService):
        return sip_server.SipTcp(service)
    return modbus_server.Modbus(service)


@derived.PerObject
def responders(prof: catalog.Profile) -> dict[int, tcp_server.Responder]:
    """Port -> responder for a profile, built on first use and shared by its devices."""
    return {service.port: responder(service) for service in prof.listen}


@derived.PerObject
def certificates(prof: catalog.Profile) -> dict[int, answers.ServerCertificate]:
    """Port -> certificate of the profile's TLS ports, shared as `responders`."""
    return {s.port: s.tls for s in prof.listen if isinstance(s, answers.TextService) and s.tls}


class Listeners:
    """The profile's ports on a device's TCP stack (`tcp.Ports`): no per-port state per device."""

    __slots__ = ("_facts", "context", "table", "tls")
    name = "listeners"

    def __init__(self, context: services.Context) -> None:
        self.context = context
        self.table = responders(context.config.profile)
        self.tls = certificates(context.config.profile)
        self._facts: tcp_server.Facts | None = None

    def start(self, now: float) -> None:
        tcp.stack_of(self.context.host, self.context.rng).ports = self

    def protocol_of(self, port: int) -> str | None:
        answer = self.table.get(port)
        if answer is None:
            return None
        return "https" if port in self.tls else answer.protocol

    def app(self, port: int) -> tcp.TcpApp:
        if self._facts is None:
            self._facts = tcp_server.Facts(self.context)
        answer, spec = self.table[port], self.tls.get(port)
        if spec is None:
            return tcp_server.ServerApp(answer, self._facts)
        return tls_server.TlsServerApp(spec, answer, self._facts)

    def on_timer(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None

    def stop(self, now: float) -> None:
        host_tcp = self.context.host.tcp
        if isinstance(host_tcp, tcp.TcpStack) and host_tcp.ports is self:
            host_tcp.ports = None


@services.register("listeners")
def _listeners(context: services.Context) -> host_mod.Service | None:
    return Listeners(context) if context.config.profile.listen else None
