"""Every shipped profile's UDP services (DNS, NTP, CoAP, mDNS, SSDP, LLDP) build, speak and say goodbye.

A profile is data: a TXT value, an instance name or a system name in a YAML file could break a
service (a label over 63 bytes, a stray brace). Each profile runs two virtual minutes here.
"""

from __future__ import annotations

import pytest
from scapy.layers.dns import DNS
from scapy.layers.l2 import Ether

from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from tests.unit.protocol_env import Env

UDP_PROTOCOLS = ("dns", "ntp", "coap", "mdns", "ssdp", "lldp")
PROFILES = [p for p in catalog.builtin() if set(p.protocols) & set(UDP_PROTOCOLS)]


@pytest.mark.parametrize("prof", PROFILES, ids=[p.name for p in PROFILES])
def test_shipped_profile_udp_services_run(prof: catalog.Profile) -> None:
    mac = f"{prof.ouis[0]}:01:02:03"
    protocols = tuple(p for p in prof.protocols if p in UDP_PROTOCOLS)
    config = manifests.DeviceConfig(
        device_id="d", mac=mac, hostname=prof.hostname_for(mac), profile=prof, protocols=protocols, traffic_interval=60
    )
    env = Env(config)
    services = env.build()
    env.start()
    env.advance(120)
    for service in services:
        service.stop(env.now)
    frames = env.sent()
    for section in ("mdns", "ssdp", "lldp"):
        if section in protocols and getattr(prof, section) is not None:
            assert env.counters.protocols.get(section, 0) >= 2, f"{section} said nothing"
    for frame in frames:
        if DNS in frame:
            assert frame[DNS].qdcount + frame[DNS].ancount > 0  # Scapy reads every DNS/mDNS message we sent
        assert Ether(bytes(frame)).src == mac
