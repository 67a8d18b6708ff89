"""`lab up --upstream`: the gateway routes the lab to a real network (here one the test builds) instead of the sink.

The "upstream" is a namespace of the test's own: a veth pair whose one end (`lan0`) plays the
user's interface and whose other end (`rtr0`, 192.0.2.1) plays the upstream router, running a DNS
server that answers every name with its own address and the same servers as the lab internet.
The lab gets a macvlan port of `lan0` with 192.0.2.10/24. A device's cloud session must then go
through the gateway (routed, source-NATed to 192.0.2.10) and its names through the lab's DNS
forwarding to the upstream resolver; the upstream's interface is left as it was when the lab goes.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import dnsmasq, internet, netns, process, wan
from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire
from tests.conftest import LabFactory, new_lab_name
from tests.lab import servers
from tests.lab.udp_servers import EngineThread

ROUTER = ipaddress.IPv4Interface("192.0.2.1/24")
WAN_ADDRESS = ipaddress.IPv4Interface("192.0.2.10/24")
PROFILE = "google-nest-mini"


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A namespace playing the user's network: (its name, the directory of its servers' logs)."""
    name = f"{new_lab_name()}-up"
    procs: list[process.Proc] = []
    netns.add(name)
    try:
        netns.sysctl_in(name, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        netns.ip(name, "link", "add", "lan0", "type", "veth", "peer", "name", "rtr0")
        netns.ip(name, "addr", "add", str(ROUTER), "dev", "rtr0")
        netns.run(netns.exec_argv(name, ["ethtool", "-K", "rtr0", "tx", "off"]))
        for iface in ("lo", "lan0", "rtr0"):
            netns.ip(name, "link", "set", iface, "up")
        answer_all = {dnsmasq.CATCH_ALL: str(ROUTER.ip)}
        argv = dnsmasq.argv(iface="rtr0", pid_file=tmp_path / "dnsmasq.pid", dns_names=answer_all, dhcp_range=None)
        resolver = process.spawn(netns.exec_argv(name, argv), log=tmp_path / "dnsmasq.log")
        procs.append(resolver)
        process.wait_listening(
            resolver, {53}, what="the upstream's dnsmasq", logs=[tmp_path / "dnsmasq.log"], timeout=10
        )
        internet.start(name, tmp_path / "internet", ROUTER.network, lambda _, proc: procs.append(proc), ROUTER.ip)
        yield name, tmp_path / "internet"
    finally:
        process.stop(procs)
        netns.delete(name)


def rcode_from_the_lab(lab: iotlab.Lab, name: str) -> int:
    """The lab's dnsmasq's answer code for an A query of `name`, asked from the gateway namespace."""
    code = (
        f"import socket; from iot_emulator.protocols import dns_wire; s = socket.socket(socket.AF_INET, "
        f"socket.SOCK_DGRAM); s.settimeout(5); s.sendto(dns_wire.query(7, {name!r}), ({str(lab.gateway_ip)!r}, "
        f"53)); m = dns_wire.parse(s.recv(512)); print(m.rcode if m else -1)"
    )
    return int(lab.run_in_gw(sys.executable, "-c", code).stdout)


@pytest.mark.lab
def test_the_gateway_routes_and_nats_the_lab_to_the_upstream(
    lab_factory: LabFactory, upstream: tuple[str, Path]
) -> None:
    up_ns, logs = upstream
    config = iotlab.Upstream(iface="lan0", address=WAN_ADDRESS, gateway=ROUTER.ip, netns=up_ns)
    lab = lab_factory(upstream=config)
    prof = catalog.builtin().get(PROFILE)
    assert prof.http is not None and prof.tls is not None
    mac = f"{prof.ouis[0]}:5d:00:01"
    device = manifests.DeviceConfig(
        device_id=PROFILE,
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=tuple(prof.protocols),
        traffic_interval=30,
    )
    emulator = EngineThread(lab, [device])
    try:
        request = prof.http.requests[0]
        # Sent from the gateway's upstream address: routed and NATed; the name resolved upstream.
        http = f'{WAN_ADDRESS.ip} "GET {request.path} HTTP/1.1" "{prof.http.user_agent}" 200 host="{request.host}"'
        servers.wait_for_line(logs / "http-access.log", "^" + re.escape(http), 30)
        servers.wait_for_line(
            logs / "tls-access.log", "^" + re.escape(f'{WAN_ADDRESS.ip} sni="{prof.tls.servers[0]}"'), 30
        )
        device_ip = str(ipaddress.IPv4Address(emulator.engine.devices[0].ip or 0))
        assert rcode_from_the_lab(lab, request.host) == 0  # forwarded, answered upstream
        assert rcode_from_the_lab(lab, "c2.lab.test") == dns_wire.RCODE_NXDOMAIN  # a scenario target never leaves
    finally:
        emulator.stop()
    assert device_ip not in (logs / "http-access.log").read_text()  # the upstream never sees the LAN's addresses
    assert not netns.exists(lab.sink_netns)
    iotlab.down(lab.name, lab.config.state_dir)
    left = netns.run(netns.exec_argv(up_ns, ["ip", "-br", "link"])).stdout
    assert "lan0" in left and wan.WAN_IFACE not in left  # the user's interface stays, the gateway's port went


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"internet": True, "upstream": iotlab.Upstream("eth0", WAN_ADDRESS, ROUTER.ip)}, "not both"),
        (
            {
                "upstream": iotlab.Upstream(
                    "eth0", ipaddress.IPv4Interface("10.77.1.2/24"), ipaddress.IPv4Address("10.77.1.1")
                )
            },
            "overlaps",
        ),
        ({"internet": True, "subnet": ipaddress.IPv4Network("100.64.0.0/16")}, "overlaps"),
    ],
)
def test_conflicting_wan_settings_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(iotlab.LabConfigError, match=message):
        iotlab.LabConfig(**fields)


def test_an_upstream_router_outside_its_network_is_refused() -> None:
    with pytest.raises(iotlab.LabConfigError, match="must be another address"):
        iotlab.Upstream("eth0", WAN_ADDRESS, ipaddress.IPv4Address("198.51.100.1"))
