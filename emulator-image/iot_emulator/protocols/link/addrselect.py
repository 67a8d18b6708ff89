"""RFC 6724 destination address selection: which of a name's addresses (A and AAAA) a device tries first.

A dual-stack host's getaddrinfo sorts the addresses it got by the rules of RFC 6724 section 6 and the
application connects to the first. The rules that decide on a branch LAN are modelled:

- rule 1, avoid unusable destinations: no source address for it (no IPv4 lease, no IPv6 address);
- rule 2, prefer matching scope: a destination whose scope equals its source's (a global AAAA with only
  a link-local IPv6 source loses to a global IPv4 one);
- rule 5, prefer matching label and rule 6, higher precedence, from the default policy table (section
  2.1): a global IPv6 destination (::/0: precedence 40, label 1) beats IPv4 (::ffff:0:0/96: 35, label 4),
  a unique local one (fc00::/7: 3, label 13) does not, nor does a global one from a ULA source (labels);
- rule 8, smaller scope first; rule 9, the longest prefix shared with its source (IPv6 only, as glibc);
- rule 10, otherwise the order the answers came in (stable sort).

Rule 3 (deprecated sources), 4 (home addresses) and 7 (native transport) need state the model does not
keep; the source picked for each destination is already a preferred one when there is one (`host6`).
IPv4 addresses are looked up as IPv4-mapped (::ffff:a.b.c.d); 127/8 and 169.254/16 are link-local scope,
every other IPv4 address, private ones included, global (section 3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

SCOPE_LINK, SCOPE_SITE, SCOPE_GLOBAL = 0x2, 0x5, 0xE

POLICY: tuple[tuple[bytes, int, int, int], ...] = (
    (bytes(15) + b"\x01", 128, 50, 0),  # ::1/128
    (bytes(10) + b"\xff\xff" + bytes(4), 96, 35, 4),  # ::ffff:0:0/96, IPv4
    (b"\x20\x02" + bytes(14), 16, 30, 2),  # 2002::/16, 6to4
    (b"\x20\x01" + bytes(14), 32, 5, 5),  # 2001::/32, Teredo
    (b"\xfc" + bytes(15), 7, 3, 13),  # fc00::/7, unique local
    (bytes(16), 96, 1, 3),  # ::/96, IPv4-compatible (deprecated)
    (b"\xfe\xc0" + bytes(14), 10, 1, 11),  # fec0::/10, site-local (deprecated)
    (b"\x3f\xfe" + bytes(14), 16, 1, 12),  # 3ffe::/16, 6bone
    (bytes(16), 0, 40, 1),  # ::/0
)
"""RFC 6724 section 2.1's default policy table: (prefix, length, precedence, label), longest prefixes first."""

SourceFor = Callable[[bytes], bytes | None]
"""The device's source address for a destination (4 or 16 bytes), None when it has none."""


def mapped(address: bytes) -> bytes:
    """The 16-byte form the policy table is looked up with: IPv4 as ::ffff:a.b.c.d."""
    return address if len(address) == 16 else bytes(10) + b"\xff\xff" + address


def policy(address: bytes) -> tuple[int, int]:
    """(precedence, label) of the longest matching row."""
    value = int.from_bytes(mapped(address), "big")
    for prefix, length, precedence, label in POLICY:
        shift = 128 - length
        if value >> shift == int.from_bytes(prefix, "big") >> shift:
            return precedence, label
    return 40, 1  # unreachable: ::/0 matches everything


def scope(address: bytes) -> int:
    """Section 3.1 (IPv6: multicast's scope field, link-local fe80::/10, loopback) and 3.2 (IPv4)."""
    if len(address) == 4:
        return SCOPE_LINK if address[0] == 127 or address[:2] == b"\xa9\xfe" else SCOPE_GLOBAL
    if address[0] == 0xFF:
        return address[1] & 0x0F
    if (address[0] == 0xFE and address[1] & 0xC0 == 0x80) or address == bytes(15) + b"\x01":
        return SCOPE_LINK
    if address[0] == 0xFE and address[1] & 0xC0 == 0xC0:
        return SCOPE_SITE
    return SCOPE_GLOBAL


def _common_prefix(a: bytes, b: bytes) -> int:
    """Rule 9's CommonPrefixLen, up to the 64 bits of the prefix (as RFC 6724 section 2.2 says)."""
    x = int.from_bytes(a[:8], "big") ^ int.from_bytes(b[:8], "big")
    return 64 - x.bit_length()


def order(destinations: Sequence[bytes], source_for: SourceFor) -> list[bytes]:
    """`destinations` sorted as getaddrinfo returns them; the unusable ones (no source) last."""

    def key(indexed: tuple[int, bytes]) -> tuple[int, ...]:
        position, dst = indexed
        src = source_for(dst)
        if src is None or len(src) != len(dst):
            return (1, 0, 0, 0, 0, 0, position)  # rule 1
        precedence, label = policy(dst)
        same_scope = scope(dst) == scope(src)
        same_label = policy(src)[1] == label
        common = _common_prefix(src, dst) if len(dst) == 16 else 0
        return (0, not same_scope, not same_label, -precedence, scope(dst), -common, position)

    return [dst for _, dst in sorted(enumerate(destinations), key=key)]
