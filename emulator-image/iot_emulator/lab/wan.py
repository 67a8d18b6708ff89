"""The gateway's WAN side: a link to the lab internet's sink namespace, or a port on a real upstream.

A real branch gateway routes: devices send off-LAN traffic to it, it forwards out of its WAN port.
The lab's gateway namespace does the same (`net.ipv4.ip_forward=1` there only), so the servers the
devices talk to never share the gateway's namespace and a capture on `gw0` sees what a branch
sensor sees: device to cloud, through the router.

- `connect_sink`: a veth pair `wan0` (gateway, 100.64.0.1/30) - `isp0` (sink namespace
  `<name>-sink`, 100.64.0.2/30, plus SINK_ADDRESS). The gateway's default route points at the
  sink, which takes every address as its own (a local default route) and routes the lab subnet
  back. No NAT: the servers log each device's own address. With `--ipv6` too, `connect_sink6` does the
  same for IPv6 (2001:db8:64::/64, SINK_ADDRESS6, the LAN's prefix routed back).
- `connect_upstream`: a macvlan port of the user's interface (`Upstream.iface`) created directly in
  the gateway namespace as `wan0`, with the given static address, a default route to the upstream
  router and source NAT (nftables, in the gateway namespace only), as a branch router's WAN port.
  Nothing is added to the host's namespace: the macvlan lives in the gateway namespace and goes
  with it. macvlan needs an Ethernet-like parent that accepts a second MAC (most wired NICs; not
  most Wi-Fi adapters).
"""

from __future__ import annotations

import ipaddress

from iot_emulator.lab import netns
from iot_emulator.lab.config import SINK_ADDRESS, SINK_ADDRESS6, WAN_LINK, WAN_LINK6, Upstream

WAN_IFACE = "wan0"
"""The gateway's WAN port (to the sink, or the macvlan on the upstream network)."""
SINK_IFACE = "isp0"
"""The sink namespace's end of the WAN link."""
GW_WAN_ADDRESS = WAN_LINK.network_address + 1
SINK_LINK_ADDRESS = WAN_LINK.network_address + 2
GW_WAN_ADDRESS6 = WAN_LINK6.network_address + 1
SINK_LINK_ADDRESS6 = WAN_LINK6.network_address + 2
NAT_TABLE = "iotemu"


def sink_netns(lab_name: str) -> str:
    """The sink namespace of lab `lab_name` (unique per lab, as its other namespaces are)."""
    return f"{lab_name}-sink"


def _router(gw_ns: str) -> None:
    netns.sysctl_in(gw_ns, {"net.ipv4.ip_forward": "1"})


def connect_sink(gw_ns: str, sink_ns: str, subnet: str) -> None:
    """Create the sink namespace and its link to the gateway; route the lab and the sink to each other."""
    netns.add(sink_ns)
    netns.sysctl_in(sink_ns, {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
    netns.ip(sink_ns, "link", "set", "lo", "up")
    netns.ip(
        gw_ns,
        "link",
        "add",
        WAN_IFACE,
        "index",
        "4",
        "type",
        "veth",
        "peer",
        "name",
        SINK_IFACE,
        "netns",
        sink_ns,
        "index",
        "5",
    )
    netns.ip(gw_ns, "addr", "add", f"{GW_WAN_ADDRESS}/{WAN_LINK.prefixlen}", "dev", WAN_IFACE)
    netns.ip(sink_ns, "addr", "add", f"{SINK_LINK_ADDRESS}/{WAN_LINK.prefixlen}", "dev", SINK_IFACE)
    netns.ip(sink_ns, "addr", "add", f"{SINK_ADDRESS}/32", "dev", SINK_IFACE)
    # Full checksums on the sink's replies (see core: partial ones reach the devices otherwise).
    netns.run(netns.exec_argv(sink_ns, ["ethtool", "-K", SINK_IFACE, "tx", "off"]))
    netns.ip(gw_ns, "link", "set", WAN_IFACE, "up")
    netns.ip(sink_ns, "link", "set", SINK_IFACE, "up")
    netns.ip(gw_ns, "route", "add", "default", "via", str(SINK_LINK_ADDRESS), "dev", WAN_IFACE)
    netns.ip(sink_ns, "route", "add", subnet, "via", str(GW_WAN_ADDRESS), "dev", SINK_IFACE)
    # Every other destination is the sink's own (the lab's and the link's routes are more specific), so a
    # device that sends to a hard-coded address reaches the servers too. In `main`, not the `local` table
    # that iproute2 puts local routes in, which is looked up first and would take the lab's replies too.
    netns.ip(sink_ns, "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "main")
    _router(gw_ns)
    netns.wait_running(gw_ns, WAN_IFACE)
    netns.wait_running(sink_ns, SINK_IFACE)


def connect_sink6(gw_ns: str, sink_ns: str, lan: ipaddress.IPv6Network) -> None:
    """IPv6 on the sink link too (a lab with `--ipv6` and `--internet`): the gateway's IPv6 default route
    points at the sink, which takes every IPv6 destination as its own (SINK_ADDRESS6 among them) and
    routes the LAN's prefix `lan` back, as `connect_sink` does for IPv4."""
    netns.sysctl_in(gw_ns, {f"net.ipv6.conf.{WAN_IFACE}.disable_ipv6": "0"})
    netns.sysctl_in(sink_ns, {"net.ipv6.conf.lo.disable_ipv6": "0", f"net.ipv6.conf.{SINK_IFACE}.disable_ipv6": "0"})
    netns.ip(gw_ns, "-6", "addr", "add", f"{GW_WAN_ADDRESS6}/{WAN_LINK6.prefixlen}", "dev", WAN_IFACE, "nodad")
    netns.ip(sink_ns, "-6", "addr", "add", f"{SINK_LINK_ADDRESS6}/{WAN_LINK6.prefixlen}", "dev", SINK_IFACE, "nodad")
    netns.ip(sink_ns, "-6", "addr", "add", f"{SINK_ADDRESS6}/128", "dev", SINK_IFACE, "nodad")
    netns.ip(gw_ns, "-6", "route", "add", "default", "via", str(SINK_LINK_ADDRESS6), "dev", WAN_IFACE)
    netns.ip(sink_ns, "-6", "route", "add", str(lan), "via", str(GW_WAN_ADDRESS6), "dev", SINK_IFACE)
    netns.ip(sink_ns, "-6", "route", "add", "local", "::/0", "dev", "lo", "table", "main")


def connect_upstream(gw_ns: str, upstream: Upstream) -> None:
    """Give the gateway a macvlan port on the upstream network, a default route there and source NAT."""
    where = ["-n", upstream.netns] if upstream.netns else []
    netns.run(
        [
            "ip",
            *where,
            "link",
            "add",
            "link",
            upstream.iface,
            "name",
            WAN_IFACE,
            "netns",
            gw_ns,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]
    )
    netns.ip(gw_ns, "addr", "add", str(upstream.address), "dev", WAN_IFACE)
    netns.ip(gw_ns, "link", "set", WAN_IFACE, "up")
    netns.ip(gw_ns, "route", "add", "default", "via", str(upstream.gateway), "dev", WAN_IFACE)
    for command in (
        ["add", "table", "ip", NAT_TABLE],
        ["add", "chain", "ip", NAT_TABLE, "postrouting", "{ type nat hook postrouting priority srcnat; }"],
        ["add", "rule", "ip", NAT_TABLE, "postrouting", "oifname", WAN_IFACE, "masquerade"],
    ):
        netns.run(netns.exec_argv(gw_ns, ["nft", *command]))
    _router(gw_ns)
    netns.wait_running(gw_ns, WAN_IFACE)
