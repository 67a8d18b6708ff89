"""The "udp_listeners" service: the UDP ports (besides SNMP) a device's profile says its model answers on.

Built for every device, like "listeners": Kasa plugs answer `get_sysinfo` on 9999, Xiaomi gateways
the miIO hello on 54321, HID controllers `discover;013;` on 4070, phones SIP OPTIONS on 5060.
Answers go back to the asker's address and port from the service's port; a datagram that is not
a request is dropped. The ports hear broadcasts (apps discover these devices by broadcasting) and, on a
device that speaks IPv6, datagrams over IPv6 too (its daemons' sockets are on `::`, as its TCP
listeners are); per device only the bindings, `Facts` and, for Kasa, a small object around the
profile's shared reply table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import answers
from iot_emulator.protocols import services
from iot_emulator.protocols.discovery import ssdp, ws_discovery
from iot_emulator.protocols.servers import kasa_server, sip_server, tcp_server, udp_answers

Answer = Callable[[bytes, dict[str, str], float, tuple[str, int]], bytes | None]
"""(request, device facts, seconds since start, sender's address and port) -> the answer, or None to drop"""


def answerer(service: answers.UdpListener) -> Answer:
    if isinstance(service, answers.KasaService):
        kasa = kasa_server.Kasa(service)
        return lambda data, facts, up, source: kasa.datagram(data, facts)
    if isinstance(service, answers.MiioService):
        return lambda data, facts, up, source: udp_answers.miio(data, facts, up)
    if isinstance(service, answers.WsDiscoveryService):
        return lambda data, facts, up, source: ws_discovery.answer(service, data, facts)
    if isinstance(service, answers.SipService):
        return lambda data, facts, up, source: sip_server.answer(service, data, facts, source)
    return lambda data, facts, up, source: udp_answers.discoveryd(service, data, facts)


class UdpListeners:
    name = "udp_listeners"

    def __init__(self, context: services.Context) -> None:
        self.host = context.host
        self.facts = tcp_server.Facts(context)
        self.ports = [(s.port, s.kind, answerer(s)) for s in context.config.profile.listen_udp]
        self.started = 0.0

    def start(self, now: float) -> None:
        self.started = now
        for port, kind, answer in self.ports:
            self.host.bind_udp(port, self._handler(port, kind, answer), broadcast=True, ipv6=self.host.ip6 is not None)
            if kind == "ws-discovery":
                self.host.join(ssdp.GROUP)  # WS-Discovery's group is SSDP's

    def _handler(self, port: int, kind: str, answer: Answer) -> host_mod.UdpHandler:
        def on_datagram(src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
            own = self.host.source_for(src)  # where the reply leaves from: over IPv6 the address asked
            if own is None:
                return
            facts = self.facts.values(now)
            if len(own) == 16:  # `{ip}` in the replies is a URI's host (a SIP Contact, WS-Discovery XAddrs)
                facts = {**facts, "ip": f"[{ipaddress.IPv6Address(own)}]"}
            reply = answer(data, facts, now - self.started, (str(ipaddress.ip_address(src)), sport))
            if reply is not None:
                self.host.send_udp(kind, src, port, sport, reply)

        return on_datagram

    def on_timer(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None

    def stop(self, now: float) -> None:
        for port, _, _ in self.ports:
            self.host.unbind_udp(port)


@services.register("udp_listeners")
def _udp_listeners(context: services.Context) -> host_mod.Service | None:
    return UdpListeners(context) if context.config.profile.listen_udp else None
