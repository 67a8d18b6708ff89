"""Where compromise behaviours may send: the lab's reserved names and private or documentation addresses.

A behaviour that looks like malware must never reach a real host, whatever a scenario file says. So a
named target must end in a name no public resolver answers (RFC 2606 .test .invalid .example
.localhost, RFC 6761; and .lab, which the lab's dnsmasq serves), an address literal must be in a
private (RFC 1918), documentation (RFC 5737) or benchmarking (RFC 2544) range, and what a name
resolves to is checked again at run time (a resolver outside the lab could answer anything). The
spec validators call `check_target` / `check_domain`; the services call `allowed`.
"""

from __future__ import annotations

import ipaddress
import re

RESERVED = ("test", "invalid", "example", "localhost", "lab")
"""Top-level names that only the lab's resolver answers."""
NETWORKS = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "198.18.0.0/15",
    )
)
"""RFC 1918 private, RFC 5737 documentation, RFC 2544 benchmarking: the lab's and its sink's ranges."""
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_NAME = 253


def allowed(address: bytes) -> bool:
    """An IPv4 address a behaviour may send to."""
    ip = ipaddress.IPv4Address(address)
    return any(ip in network for network in NETWORKS)


def check_domain(value: str) -> str:
    """A DNS name under a reserved top-level name, lower-cased without the final dot; ValueError otherwise."""
    name = value.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > MAX_NAME or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{value!r} is not a DNS name")
    if labels[-1] not in RESERVED:
        raise ValueError(
            f"{value!r} is not under a reserved name ({', '.join('.' + r for r in RESERVED)}):"
            " only the lab's resolver may answer a behaviour's target"
        )
    return name


def check_target(value: str) -> str:
    """A reserved name (`check_domain`) or an allowed address literal; ValueError otherwise."""
    try:
        ip = ipaddress.IPv4Address(value.strip())
    except ValueError:
        return check_domain(value)
    if not allowed(ip.packed):
        raise ValueError(f"{value!r} is not a private, documentation or benchmarking address")
    return str(ip)
