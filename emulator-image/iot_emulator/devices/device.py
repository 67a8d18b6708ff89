"""One emulated device: its protocol machines, its address, its counters. Sans-IO.

The engine hands a device the frames addressed to it and calls it at its deadline; the device
returns frames to send and reports messages through `emit`. Link-layer work (DHCP, ARP, ping)
is done here; once the device has an address, its application protocols (`protocols.services`)
run on its `IpHost`. Every frame leaving a device is counted under the protocol that produced it,
which is what `stats.protocols` shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from iot_emulator.config import manifests
from iot_emulator.devices import host, host6, macs
from iot_emulator.protocols import services
from iot_emulator.protocols.link import arp, dhcp, dhcp_wire, eap, eap_tls, eapol, ipv6, wire

Emit = Callable[[str, dict[str, Any]], None]
ServiceFactory = Callable[[services.Context], host.Service]


class Phase(StrEnum):
    """What a person (and the dashboard's status column) sees of a device."""

    pending = "pending"
    binding = "binding"
    bound = "bound"
    stopped = "stopped"


class Counters:
    __slots__ = ("bytes_received", "bytes_sent", "packets_received", "packets_sent", "protocols")

    def __init__(self) -> None:
        self.packets_sent = 0
        self.bytes_sent = 0
        self.packets_received = 0
        self.bytes_received = 0
        self.protocols: dict[str, int] = {}

    def sent(self, protocol: str, frames: list[bytes]) -> None:
        self.packets_sent += len(frames)
        self.bytes_sent += sum(len(f) for f in frames)
        self.protocols[protocol] = self.protocols.get(protocol, 0) + len(frames)


class Device:
    """A device's state machines behind one `handle / on_timer / next_deadline` surface."""

    __slots__ = (
        "_dhcp_started",
        "_next_refresh",
        "_rng",
        "config",
        "counters",
        "dhcp",
        "dot1x",
        "emit",
        "fallback_gateway",
        "gateway_ip",
        "host",
        "ip",
        "ipv6",
        "link_services",
        "mac",
        "phase",
        "scenario_factories",
        "scenario_services",
        "started_at",
        "stateless",
    )

    def __init__(
        self,
        config: manifests.DeviceConfig,
        *,
        emit: Emit,
        rng: random.Random,
        remembered: bytes | None = None,
        remembered_valid: bool = False,
        fallback_gateway: bytes | None = None,
        timer_seed: int | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.config = config
        self.mac = macs.parse(config.mac)
        self.emit = emit
        self.counters = counters or Counters()  # a device rebooted by a scenario keeps counting
        self.host = host.IpHost(self.mac, config.profile, rng, self.counters)
        self.ip: bytes | None = None
        self.gateway_ip: bytes | None = None
        self.fallback_gateway = fallback_gateway
        self.phase = Phase.pending
        self.started_at: float | None = None
        self._next_refresh: float | None = None
        self._rng = rng
        self.stateless = False
        self.link_services: Sequence[host.Service] = ()
        self.scenario_services: dict[str, host.Service] = {}
        """Compromise behaviours switched on by a scenario: they run beside the protocols while bound."""
        self.scenario_factories: dict[str, ServiceFactory] = {}
        """What built them: a rebooted device (a new `Device`) builds its own from these."""
        self.ipv6 = (
            host6.Ipv6Host(self.mac, config.profile, config.protocols, rng, self.host)
            if "ipv6" in config.protocols
            else None
        )
        """The IPv6 endpoint, for devices whose manifest lists "ipv6": it runs from link-up, beside DHCPv4."""
        static = config.static_address.packed if config.static_address else None
        self.dhcp = dhcp.DhcpClient(
            mac=self.mac,
            hostname=config.hostname,
            fingerprint=config.profile.dhcp,
            rng=rng,
            remembered=static or remembered,
            remembered_valid=remembered_valid and static is None,
            static_address=static,
            timer_seed=timer_seed,
        )
        self.dot1x = _supplicant(config, self.mac)
        """The 802.1X supplicant if the profile's real device has one; DHCP waits for its port to open."""
        self._dhcp_started = False

    @property
    def device_id(self) -> str:
        return self.config.device_id

    # -- entry points ---------------------------------------------------------------------------

    def start(self, now: float) -> list[bytes]:
        self.started_at = now
        self.phase = Phase.binding
        context = services.Context(self.config, self.host, self._rng, self._log)
        self.link_services = services.build_link(context, self.config.protocols) or ()
        for service in self.link_services:
            service.start(now)
        self._run_link(now)
        link = self.host.drain()  # LLDP goes out first, as a phone sends it at link-up
        if self.ipv6 is not None:  # at link-up, as a real device's stack (an 802.1X port drops it meanwhile)
            link += self._from_ipv6(self.ipv6.start(now), now)
        if self.dot1x is not None:
            return link + self._from_dot1x(self.dot1x.start(now), now)
        return link + self._start_dhcp(now)

    @property
    def auth(self) -> str:
        """The 802.1X state the stats show; `mab` for a device that never speaks EAPOL."""
        return "mab" if self.dot1x is None else self.dot1x.auth_state()

    def _start_dhcp(self, now: float) -> list[bytes]:
        self._dhcp_started = True
        return self._from_dhcp(self.dhcp.start(now), now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        """A frame for this device: unicast to its MAC, or a broadcast the engine routed here.

        Sets `stateless` when the frame was only answered (a ping, a who-has for our address) and
        no timer can have moved: the engine then skips its bookkeeping, the costliest part of a
        reply at 100,000 frames/s."""
        self.stateless = False
        if self.phase is Phase.stopped:
            return []
        self.counters.packets_received += 1
        self.counters.bytes_received += len(frame)
        if self.ipv6 is not None:
            self.ipv6.clock = now  # what services send to IPv6 addresses is timed by it
        kind = wire.ethertype(frame)
        if kind == wire.ETH_P_ARP:
            packet = wire.parse_arp(frame)
            return self._on_arp(packet, frame[6:12], now) if packet else []
        if kind == eap.ETH_P_PAE:
            return self._from_dot1x(self.dot1x.handle(frame, now), now) if self.dot1x is not None else []
        if kind == ipv6.ETH_P_IPV6:
            return (
                self._from_ipv6(self.ipv6.handle(frame, now), now) + self.host.drain() if self.ipv6 is not None else []
            )
        if kind != wire.ETH_P_IP or not self._dhcp_started:
            return []
        message = dhcp_wire.parse(frame)
        if message is not None:
            return self._from_dhcp(self.dhcp.handle(message, now), now)
        ip = wire.parse_ipv4(frame)
        if ip is None or self.ip is None:
            return []
        self.host.handle_ipv4(ip, frame[6:12], now)
        self.stateless = ip.proto == wire.IPPROTO_ICMP
        return self.host.drain()

    def on_timer(self, now: float) -> list[bytes]:
        if self.phase is Phase.stopped:
            return []
        if self.ipv6 is not None:
            self.ipv6.clock = now
        out = []
        if self.dot1x is not None and (due := self.dot1x.next_deadline()) is not None and due <= now:
            out += self._from_dot1x(self.dot1x.on_timer(now), now)
        deadline = self.dhcp.next_deadline()
        if deadline is not None and deadline <= now:
            out += self._from_dhcp(self.dhcp.on_timer(now), now)
        if self._next_refresh is not None and self._next_refresh <= now:
            out += self._refresh_gateway(now)
        deadline = self.host.next_deadline()
        if deadline is not None and deadline <= now:
            self.host.on_timer(now)
        if self.ipv6 is not None and (due := self.ipv6.next_deadline()) is not None and due <= now:
            out += self._from_ipv6(self.ipv6.on_timer(now), now)
        self._run_link(now)
        return out + self.host.drain()

    def _run_link(self, now: float) -> None:
        for service in self.link_services:
            due = service.next_deadline()
            if due is not None and due <= now:
                service.on_timer(now)

    def next_deadline(self) -> float | None:
        if self.phase is Phase.stopped:
            return None
        dot1x = self.dot1x.next_deadline() if self.dot1x is not None else None
        parts = (
            self.dhcp.next_deadline(),
            self._next_refresh,
            dot1x,
            self.host.next_deadline(),
            self.ipv6.next_deadline() if self.ipv6 is not None else None,
            *(service.next_deadline() for service in self.link_services),
        )
        deadlines = [d for d in parts if d is not None]  # 0.0 is a deadline too: "at once"
        return min(deadlines) if deadlines else None

    def stop(self, now: float) -> list[bytes]:
        """Say goodbye (services' byebye/DISCONNECT, LLDP's shutdown), release the lease (DHCPRELEASE), go quiet."""
        for service in self.link_services:
            service.stop(now)
        self.link_services = ()
        self.host.deconfigure(now)  # the services' goodbyes first, over IPv6 too while its addresses last
        out = self.host.drain()
        if self.ipv6 is not None:
            out += self._from_ipv6(self.ipv6.stop(), now)
        out += self._from_dhcp(self.dhcp.release(now), now)
        if self.dot1x is not None:
            out += self._from_dot1x(self.dot1x.stop(now), now)
        self.ip = None
        self.phase = Phase.stopped
        self._next_refresh = None
        return out

    def power_off(self, now: float) -> None:
        """The plug pulled: everything stops and nothing is said (no byebye, no DHCPRELEASE).

        The lease stays in `dhcp.lease`, as a device's flash remembers it for INIT-REBOOT."""
        for service in self.link_services:
            service.stop(now)
        self.link_services = ()
        if self.ipv6 is not None:
            self.ipv6.stop(release=False)
        self.host.deconfigure(now)
        self.host.drain()  # a dead device sends nothing
        self.ip = None
        self.phase = Phase.stopped
        self._next_refresh = None

    def add_service(self, key: str, factory: ServiceFactory, now: float) -> None:
        """Run a scenario's service beside the device's protocols (from now if bound, else from its bind)."""
        service = factory(services.Context(self.config, self.host, self._rng, self._log))
        self.scenario_services[key] = service
        self.scenario_factories[key] = factory
        if self.ip is not None:
            self.host.services.append(service)
            service.start(now)

    def remove_service(self, key: str, now: float) -> bool:
        service = self.scenario_services.pop(key, None)
        self.scenario_factories.pop(key, None)
        if service is None:
            return False
        if service in self.host.services:
            service.stop(now)
            self.host.services.remove(service)
        return True

    # -- link layer -----------------------------------------------------------------------------

    def _on_arp(self, packet: wire.Arp, src_mac: bytes, now: float) -> list[bytes]:
        out = self._from_dhcp(self.dhcp.handle_arp(packet, now), now)
        if self.ip is None:
            return out
        moved = self.host.learn(packet.sender_ip, packet.sender_mac, now)
        self.stateless = not moved and not out  # nothing but, perhaps, our is-at below
        if packet.op == arp.REQUEST and packet.target_ip == self.ip and packet.sender_ip != self.ip:
            self.counters.sent("arp", [reply := arp.reply_to(packet, self.mac, src_mac)])
            out.append(reply)
        return out + self.host.drain()

    def _from_ipv6(self, frames: list[bytes], now: float) -> list[bytes]:
        """Count the IPv6 endpoint's frames (ndp, mld, icmpv6), report what it logged, tell the services
        when its usable addresses changed (mDNS publishes them)."""
        assert self.ipv6 is not None
        for frame in frames:
            self.counters.sent(host6.protocol_of(frame), [frame])
        for level, message in self.ipv6.pop_logs():
            self._log(level, message)
        if self.ipv6.changed():
            self.host.addresses_changed(now)
        return frames

    def _refresh_gateway(self, now: float) -> list[bytes]:
        """Ask for the gateway's MAC, as a stack does when its neighbour entry goes stale."""
        self._next_refresh = now + self.config.traffic_interval
        if self.ip is None or self.gateway_ip is None:
            return []
        frame = arp.who_has(self.mac, self.ip, self.gateway_ip)
        self.counters.sent("arp", [frame])
        return [frame]

    def _from_dhcp(self, frames: list[bytes], now: float) -> list[bytes]:
        """Count DHCP's frames (its ARP probes under `arp`) and act on its events."""
        for frame in frames:
            self.counters.sent("arp" if wire.ethertype(frame) == wire.ETH_P_ARP else "dhcp", [frame])
        out = list(frames)
        for kind, fields in self.dhcp.pop_events():
            if kind == "bound":
                self._on_bound(now)
            elif kind == "unbound":
                self._on_unbound(now)
            else:
                self.emit(kind, fields)
        return out + self.host.drain()

    def _from_dot1x(self, frames: list[bytes], now: float) -> list[bytes]:
        """Count the supplicant's frames, report its events, start DHCP once the port opens."""
        assert self.dot1x is not None
        self.counters.sent("eapol", frames)
        for kind, fields in self.dot1x.pop_events():
            self.emit(kind, fields)
        if self.dot1x.port_open and not self._dhcp_started:
            return frames + self._start_dhcp(now)
        return frames

    def _on_bound(self, now: float) -> None:
        lease = self.dhcp.lease
        assert lease is not None
        if self.ip == lease.address:
            return  # the same address again: services keep running
        if self.ip is not None:
            self._on_unbound(now)
        self.ip = lease.address
        self.gateway_ip = lease.routers[0] if lease.routers else self.fallback_gateway
        self.phase = Phase.bound
        self.host.configure(
            lease.address, lease.subnet_mask, self.gateway_ip, lease.dns_servers, lease.ntp_servers, lease.domain
        )
        self.emit("bound", {"address": wire_ip(lease.address)})
        self._next_refresh = now  # resolve the gateway right away
        context = services.Context(self.config, self.host, self._rng, self._log)
        self.host.services = [*services.build(context, self.config.protocols), *self.scenario_services.values()]
        for service in self.host.services:
            service.start(now)

    def _log(self, level: str, message: str) -> None:
        self.emit("log", {"level": level, "message": message})

    def _on_unbound(self, now: float) -> None:
        self.host.deconfigure(now)
        self.ip = None
        self.phase = Phase.binding
        self._next_refresh = None
        self.emit("unbound", {})


def wire_ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def _supplicant(config: manifests.DeviceConfig, mac: bytes) -> eapol.Supplicant | None:
    settings = config.profile.dot1x
    if settings is None or not settings.enabled:
        return None
    identity = eapol.identity_of(settings.identity, hostname=config.hostname, mac=mac, model=config.profile.model)
    pki = settings.pki_dir
    if settings.method == "peap":
        return eapol.Supplicant(
            mac=mac, settings=settings, identity=identity, tls_context=lambda: eap_tls.server_checking_context(pki)
        )
    context = None if pki is None else lambda: eap_tls.client_context(pki, mac.hex())
    return eapol.Supplicant(mac=mac, settings=settings, identity=identity, tls_context=context)
