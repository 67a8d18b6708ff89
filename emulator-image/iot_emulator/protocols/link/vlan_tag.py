"""802.1Q VLAN tags and 802.1ad (QinQ) stacks: pushed on the frames a device sends, popped on receive.

Devices build untagged frames; the engine tags them where they leave (`push`) and, on receive,
pops the tags (`pop`) to pick the VLAN's devices. One tag is a TPID (0x8100 C-tag, 0x88a8 S-tag)
and a TCI: priority (PCP, 3 bits, IEEE 802.1p), DEI (1 bit, always 0 here), VLAN id (12 bits).
IEEE 802.1Q-2018 section 9.6; QinQ puts the S-tag outside the C-tag (802.1ad).
"""

from __future__ import annotations

import struct

TPID_CTAG = 0x8100
TPID_STAG = 0x88A8
TPIDS = (TPID_CTAG, TPID_STAG)
MAX_VID = 4094
_TAG = struct.Struct("!HH")

Key = tuple[int, int]
"""A VLAN as the engine routes by it: (outer S-tag id or 0, C-tag id). Untagged frames have no key."""


def header(vid: int, pcp: int = 0, outer_vid: int | None = None) -> bytes:
    """The tag bytes that go between the source MAC and the EtherType: a C-tag, or an S-tag then a C-tag.

    QinQ's S-tag carries the same priority as the C-tag; DEI is 0."""
    inner = _TAG.pack(TPID_CTAG, (pcp << 13) | vid)
    if outer_vid is None:
        return inner
    return _TAG.pack(TPID_STAG, (pcp << 13) | outer_vid) + inner


def push(frame: bytes, header: bytes) -> bytes:
    """The frame with `header` (see `header()`) inserted after the two MACs."""
    return frame[:12] + header + frame[12:]


def pop(frame: bytes) -> tuple[Key | None, bytes]:
    """(the VLAN key, the untagged frame); (None, frame) for an untagged one.

    A single tag of either TPID is a C-tag VLAN (some switches tag with 0x88a8 alone); two tags
    are (outer, inner). Priority-tagged frames (VID 0) count as untagged, as 802.1Q says.
    """
    if len(frame) < 18 or ((frame[12] << 8) | frame[13]) not in TPIDS:
        return None, frame
    first = ((frame[14] << 8) | frame[15]) & 0x0FFF
    if len(frame) >= 22 and ((frame[16] << 8) | frame[17]) in TPIDS:
        second = ((frame[18] << 8) | frame[19]) & 0x0FFF
        return (first, second), frame[:12] + frame[20:]
    untagged = frame[:12] + frame[16:]
    return (None if first == 0 else (0, first)), untagged
