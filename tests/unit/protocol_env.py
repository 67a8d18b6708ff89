"""A bound device's IpHost on a virtual clock, for the application-protocol tests (no engine, no sockets).

`Env` gives a service what a device gives it (a `services.Context` on an IpHost with an address,
a gateway whose MAC is known, DHCP-given DNS/NTP servers) and lets a test feed it Scapy-built
frames and read back what it sent, dissected by Scapy.
"""

from __future__ import annotations

import random
from typing import Any

from scapy.layers.inet import UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from iot_emulator.config import manifests
from iot_emulator.devices import device, host, macs
from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.protocols.link import wire

MAC = "44:19:b6:0a:0b:0c"
IP = "10.77.0.10"
GATEWAY = "10.77.0.1"
GATEWAY_MAC = "02:00:00:00:00:01"
DHCP_BASE: dict[str, Any] = {"options": [53, 61, 57, 50, 54, 12, 55], "parameter_request_list": [1, 3, 6, 42]}


def ip(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def make_profile(**fields: Any) -> catalog.Profile:
    base: dict[str, Any] = {
        "name": "test-dev",
        "vendor": "Acme",
        "model": "Widget 2",
        "device_class": "sensor",
        "os": "Linux (BusyBox udhcpc)",
        "ouis": ["44:19:b6"],
        "dhcp": DHCP_BASE,
    }
    return catalog.Profile.model_validate({**base, **fields})


def make_config(
    protocols: tuple[str, ...] = (),
    mac: str = MAC,
    hostname: str = "widget-0a0b0c",
    traffic_interval: float = 60.0,
    **profile_fields: Any,
) -> manifests.DeviceConfig:
    prof = make_profile(**profile_fields)
    return manifests.DeviceConfig(
        device_id="dev-0",
        mac=mac,
        hostname=hostname,
        profile=prof,
        protocols=protocols,
        traffic_interval=traffic_interval,
    )


def started(**config: Any) -> Env:
    """A device of `make_config(**config)` (no protocols unless given), its services built and started."""
    env = Env(make_config(**config))
    env.build()
    env.start()
    return env


class Env:
    """One bound device's IpHost; `now` is the virtual clock the test moves."""

    def __init__(
        self,
        config: manifests.DeviceConfig | None = None,
        *,
        seed: int = 1,
        address: str = IP,
        dns: tuple[str, ...] = (GATEWAY,),
        ntp: tuple[str, ...] = (),
    ) -> None:
        self.config = config or make_config()
        self.rng = random.Random(seed)
        self.counters = device.Counters()
        self.host = host.IpHost(macs.parse(self.config.mac), self.config.profile, self.rng, self.counters)
        self.host.configure(
            ip(address), ip("255.255.240.0"), ip(GATEWAY), [ip(d) for d in dns], [ip(n) for n in ntp], None
        )
        for server in {GATEWAY, *dns, *ntp}:  # on-link servers answered ARP long ago
            self.host.neighbours.learn(ip(server), macs.parse(GATEWAY_MAC))
        self.context = services.Context(self.config, self.host, self.rng)
        self.now = 100.0

    def build(self) -> list[host.Service]:
        """The device's services, as `Device` builds them (link-layer ones, then the resolver first); here the
        host's timers drive them all."""
        protocols = self.config.protocols
        self.host.services = services.build_link(self.context, protocols) + services.build(self.context, protocols)
        return self.host.services

    def start(self) -> None:
        for service in self.host.services:
            service.start(self.now)

    def advance(self, seconds: float) -> None:
        """Move the clock, calling the host at every deadline on the way (as the engine would)."""
        end = self.now + seconds
        while (deadline := self.host.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.host.on_timer(self.now)
        self.now = end

    def step(self) -> None:
        """Move the clock to the host's next deadline and call it there."""
        deadline = self.host.next_deadline()
        assert deadline is not None, "nothing is scheduled"
        self.now = max(self.now, deadline)
        self.host.on_timer(self.now)

    def first_frames(self, limit: int = 50) -> list[Packet]:
        """Step through deadlines until the device sends something; the clock stays at that moment."""
        for _ in range(limit):
            self.step()
            if frames := self.sent():
                return frames
        raise AssertionError(f"nothing sent after {limit} deadlines")

    def sent(self) -> list[Packet]:
        return [Ether(frame) for frame in self.host.drain()]

    def deliver(self, frame: Packet | bytes) -> None:
        """A frame from the link, through the host's IPv4 receive path."""
        raw = bytes(frame)
        packet = wire.parse_ipv4(raw)
        assert packet is not None
        self.host.handle_ipv4(packet, raw[6:12], self.now)

    @staticmethod
    def udp(frames: list[Packet], dport: int | None = None) -> list[Packet]:
        return [f for f in frames if UDP in f and (dport is None or f[UDP].dport == dport)]
