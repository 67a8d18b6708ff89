"""The live capture's format and bounds: what the emulator's `GET /capture` streams and the dashboard merges.

Classic libpcap (microsecond timestamps, Ethernet). Kept apart from the tap (`capture`, which needs the
engine) so the dashboard reads and merges captures without loading the engine.
"""

from __future__ import annotations

import struct

LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
MAX_SECONDS = 300.0
"""Longest capture a request may ask for."""
MAX_BYTES = 256 * 1024 * 1024
"""Largest capture a request may ask for (pcap bytes, headers included)."""
TOKEN_HEADER = "X-Iotemu-Token"
"""Where a caller over TCP puts the capture token (a custom header: the API server's pod proxy passes it on)."""


def header() -> bytes:
    """The libpcap global header."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)


def record(frame: bytes, wall: float) -> bytes:
    """One frame's record header and the frame."""
    seconds = int(wall)
    return struct.pack("<IIII", seconds, int((wall - seconds) * 1e6), len(frame), len(frame)) + frame
