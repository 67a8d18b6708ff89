"""What a DHCPACK grants, as a client keeps it (RFC 2131 4.4.1 and 4.4.5, options RFC 2132).

Kept apart from the client's state machine (`protocols.dhcp`, which re-exports `Lease`) so that
module reads as states and transitions. The engine reads leases for the device's address,
routers and DNS servers; the seed-style `dhcp_ack` event is rendered from one here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from iot_emulator.protocols.link import dhcp_wire


@dataclasses.dataclass(slots=True)
class Lease:
    """An address held from a server. Times are absolute monotonic seconds, counted from when the
    REQUEST that obtained the lease was sent (RFC 2131 4.4.1); an infinite lease has `math.inf`."""

    address: bytes
    server_id: bytes
    server_mac: bytes  # Ethernet source of the ACK: where RENEWING unicasts and RELEASE goes
    lease_time: int
    t1: float
    t2: float
    expiry: float
    acquired: float
    subnet_mask: bytes | None
    routers: list[bytes]
    dns_servers: list[bytes]
    ntp_servers: list[bytes]
    domain: str | None

    @classmethod
    def from_ack(cls, msg: dhcp_wire.DhcpMessage, sent_at: float, lease_time: int) -> Lease:
        """T1 = 0.5 and T2 = 0.875 of the lease (RFC 2131 4.4.5) unless the server sends sane 58/59."""
        if lease_time == dhcp_wire.INFINITE_LEASE:
            t1 = t2 = expiry = math.inf
        else:
            renew, rebind = msg.renewal_time, msg.rebinding_time
            if renew is None or rebind is None or not 0 < renew <= rebind <= lease_time:
                t1, t2 = sent_at + lease_time * 0.5, sent_at + lease_time * 0.875
            else:
                t1, t2 = sent_at + renew, sent_at + rebind
            expiry = sent_at + lease_time
        mask = msg.subnet_mask
        return cls(
            address=msg.yiaddr,
            server_id=_shared(msg.server_id or msg.src_ip),
            server_mac=_shared(msg.src_mac),
            lease_time=lease_time,
            t1=t1,
            t2=t2,
            expiry=expiry,
            acquired=sent_at,
            subnet_mask=None if mask is None else _shared(mask),
            routers=_shared_list(msg.routers),
            dns_servers=_shared_list(msg.dns_servers),
            ntp_servers=_shared_list(msg.ntp_servers),
            domain=msg.domain_name,
        )

    def ack_fields(self, xid: int) -> dict[str, Any]:
        """The fields of the seed's `dhcp_ack` message, extended with T1/T2, mask, router and DNS."""
        return {
            "xid": xid_text(xid),
            "assigned_ip": ip_text(self.address),
            "server_id": ip_text(self.server_id),
            "lease_time": self.lease_time,
            "renewal_time": _span(self.t1 - self.acquired),
            "rebinding_time": _span(self.t2 - self.acquired),
            "subnet_mask": ip_text(self.subnet_mask) if self.subnet_mask else None,
            "router": ip_text(self.routers[0]) if self.routers else None,
            "dns_servers": [ip_text(a) for a in self.dns_servers],
        }


SHARED_LIMIT = 4096
"""Distinct values kept by `_shared` (one server's leases repeat a handful): bounded, cleared when full."""
_SHARED: dict[bytes, bytes] = {}
_SHARED_LISTS: dict[bytes, list[bytes]] = {}


def _shared(value: bytes) -> bytes:
    """One copy of a value every lease from a server repeats (its id, MAC, mask): 37 bytes per lease otherwise.

    Never mutated: leases and hosts only read these."""
    if len(_SHARED) >= SHARED_LIMIT:
        _SHARED.clear()
    return _SHARED.setdefault(value, value)


def _shared_list(values: list[bytes]) -> list[bytes]:
    """One list per distinct routers / DNS / NTP servers (read-only, as `_shared`)."""
    if not values:
        return _NO_ADDRESSES
    key = b"".join(values)
    if len(_SHARED_LISTS) >= SHARED_LIMIT:
        _SHARED_LISTS.clear()
    return _SHARED_LISTS.setdefault(key, [_shared(v) for v in values])


_NO_ADDRESSES: list[bytes] = []


def ip_text(address: bytes) -> str:
    """Dotted quad, without building an `ipaddress` object per event."""
    return ".".join(map(str, address[:4]))


def mac_text(mac: bytes) -> str:
    return mac.hex(":")


def xid_text(xid: int) -> str:
    return f"0x{xid:08x}"


def _span(seconds: float) -> int | None:
    return None if seconds == math.inf else round(seconds)
