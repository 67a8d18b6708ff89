"""The "listeners" service: the TCP ports a device's profile says its real model listens on.

Built for every device (`services.ALWAYS`): a device answers probes as its model does whatever
protocols it is told to speak. On start it installs one listener per `profile.listen` entry on
the device's TCP stack; the responders come from a table built once per profile and shared by all
its devices, so a device adds only its `Facts` object and, per open connection, a `ServerApp`.
"""

from __future__ import annotations

import functools

from iot_emulator import host as host_mod
from iot_emulator import profile, profile_services
from iot_emulator.protocols import (
    dicom_server,
    kasa_server,
    modbus_server,
    printer_server,
    s7_server,
    services,
    sip_server,
    tcp,
    tcp_server,
    text_server,
    tls_server,
)

_TABLES: dict[int, tuple[profile.Profile, dict[int, tcp_server.Responder]]] = {}


def responder(service: profile_services.Listener) -> tcp_server.Responder:
    if isinstance(service, profile_services.TextService):
        return text_server.TextResponder(service)
    if isinstance(service, profile_services.BannerService):
        return tcp_server.Banner(service.protocol, service.banner.encode("latin-1"))
    if isinstance(service, profile_services.PrinterService):
        if service.kind == "jetdirect":
            return printer_server.JetDirect(service)
        return printer_server.Lpd(service) if service.kind == "lpd" else printer_server.Ipp(service)
    if isinstance(service, profile_services.KasaService):
        return kasa_server.Kasa(service)
    if isinstance(service, profile_services.DicomService):
        return dicom_server.Dicom(service)
    if isinstance(service, profile_services.S7Service):
        return s7_server.S7Comm(service)
    if isinstance(service, profile_services.SipService):
        return sip_server.SipTcp(service)
    return modbus_server.Modbus(service)


def responders(prof: profile.Profile) -> dict[int, tcp_server.Responder]:
    """Port -> responder for a profile, built on first use and shared by its devices."""
    entry = _TABLES.get(id(prof))
    if entry is None or entry[0] is not prof:
        entry = (prof, {service.port: responder(service) for service in prof.listen})
        _TABLES[id(prof)] = entry
    return entry[1]


class Listeners:
    name = "listeners"

    def __init__(self, context: services.Context) -> None:
        self.context = context
        self.table = responders(context.config.profile)

    def start(self, now: float) -> None:
        stack = tcp.stack_of(self.context.host, self.context.rng)
        facts = tcp_server.Facts(self.context)
        listen = self.context.config.profile.listen
        certificates = {s.port: s.tls for s in listen if isinstance(s, profile_services.TextService) and s.tls}
        for port, answer in self.table.items():
            spec = certificates.get(port)
            app = (
                functools.partial(tcp_server.ServerApp, answer, facts)
                if spec is None
                else functools.partial(tls_server.TlsServerApp, spec, answer, facts)
            )
            stack.listen(port, "https" if spec else answer.protocol, app)

    def on_timer(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None

    def stop(self, now: float) -> None:
        host_tcp = self.context.host.tcp
        if isinstance(host_tcp, tcp.TcpStack):
            for port in self.table:
                host_tcp.listeners.pop(port, None)


@services.register("listeners")
def _listeners(context: services.Context) -> host_mod.Service | None:
    return Listeners(context) if context.config.profile.listen else None
