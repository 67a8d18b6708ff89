"""Which interface the local backend may send on: named by the user, and not the host's way out.

The dashboard's emulators put hundreds of DHCP clients on the interface they are given. A default
(`eth0`) silently pointed them at whatever network the host sits on; so the interface is
required, and the one carrying the default route is refused unless the user confirms it.
"""

from __future__ import annotations

from pathlib import Path

from iot_dashboard.settings import LocalSettings

PROC_ROUTES = Path("/proc/net/route")
PROC_ROUTES6 = Path("/proc/net/ipv6_route")


class InterfaceRefused(ValueError):
    """The local backend has no interface, or one it must not use without confirmation."""


def default_route_interfaces(routes: Path = PROC_ROUTES, routes6: Path = PROC_ROUTES6) -> set[str]:
    """Interfaces of this network namespace's IPv4 and IPv6 default routes."""
    found: set[str] = set()
    try:
        for line in routes.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":  # Iface Destination ...
                found.add(fields[0])
    except OSError:
        pass
    try:
        for line in routes6.read_text().splitlines():
            fields = line.split()  # dest, dest-prefix, src, src-prefix, next hop, metric, ..., iface
            if len(fields) == 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
                found.add(fields[9])
    except OSError:
        pass
    return found


def check(local: LocalSettings) -> str:
    """The interface to use, or InterfaceRefused naming the option that fixes it."""
    if local.interface is None:
        raise InterfaceRefused("--interface: required (or --lab NAME): the dashboard never picks a host interface")
    if local.netns is None and not local.allow_default_route and local.interface in default_route_interfaces():
        raise InterfaceRefused(
            f"--interface {local.interface}: it carries this host's default route; use a spare NIC, a VLAN "
            "or a lab (--lab), or confirm with --allow-default-route"
        )
    return local.interface
