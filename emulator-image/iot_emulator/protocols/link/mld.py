"""MLDv2 reports (RFC 3810): tell the link's snooping switches and routers which groups a device listens to.

A host joining groups sends an unsolicited report of CHANGE_TO_EXCLUDE records (RFC 3810 6.1), and
answers a query with MODE_IS_EXCLUDE records (6.2), from its link-local address or from :: while it
has none (RFC 3590), to ff02::16 with hop limit 1 and a Router Alert (RFC 2711).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from iot_emulator.protocols.link import ipv6

QUERY = 130
REPORT_V2 = 143
MODE_IS_EXCLUDE = 2
CHANGE_TO_INCLUDE = 3
CHANGE_TO_EXCLUDE = 4
ROUTER_ALERT_HOP_BY_HOP = bytes([ipv6.IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0])
"""Hop-by-Hop header: next header ICMPv6, Router Alert option (value 0: MLD), PadN to 8 bytes."""
MAX_RECORDS = 64


def report(mac: bytes, src: bytes, groups: Iterable[bytes], record_type: int) -> bytes:
    """One report with a record of `record_type` and no sources for each group (at most MAX_RECORDS)."""
    chosen = sorted(groups)[:MAX_RECORDS]
    records = b"".join(struct.pack("!BBH", record_type, 0, 0) + group for group in chosen)
    message = struct.pack("!BBHHH", REPORT_V2, 0, 0, 0, len(chosen)) + records
    data = ipv6.icmpv6(src, ipv6.MLDV2_ROUTERS, message, hop_limit=1, hop_by_hop=ROUTER_ALERT_HOP_BY_HOP)
    return ipv6.frame(mac, ipv6.multicast_mac(ipv6.MLDV2_ROUTERS), data)


def query_group(packet: ipv6.Ipv6) -> bytes | None:
    """The group a query asks about (:: for a general query), or None if `packet` is not a query."""
    data = packet.payload
    if len(data) < 24 or data[0] != QUERY or packet.hop_limit != 1:
        return None
    return data[8:24]
