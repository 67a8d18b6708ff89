"""Discovery answers of small UDP services: Xiaomi miIO hello (54321) and HID discoveryd (4070).

Both are how their vendors' tools, and scanners after them, find a device: python-miio's
`discover` broadcasts the miIO hello and reads the device id and uptime stamp of each answer
(OpenMiHome binary protocol notes); HID's Discovery GUI and nmap's `broadcast-hid-discoveryd`
send `discover;013;` and read MAC, name, IP, model and firmware from a `;`-separated line. Pure
functions of the request and the device's facts; the "udp_listeners" service sends the result.
"""

from __future__ import annotations

import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

MIIO_HELLO = bytes.fromhex("21310020") + b"\xff" * 28
MIIO_HEADER = struct.Struct("!HHIII")
"""magic 0x2131, length, unknown (0), device id, stamp (seconds since boot)"""
PROVISIONED_TOKEN = b"\xff" * 16
"""A paired device hides its token in the hello answer (only an unprovisioned one reveals it)."""


def miio(request: bytes, facts: dict[str, str], uptime: float) -> bytes | None:
    """The hello answer; any other packet needs the device token and is dropped, as a device drops a bad checksum."""
    if request != MIIO_HELLO:
        return None
    device_id = int(facts["mac12"][-8:], 16)
    return MIIO_HEADER.pack(0x2131, 32, 0, device_id, int(uptime) & 0xFFFFFFFF) + PROVISIONED_TOKEN


def discoveryd(service: answers.DiscoverydService, request: bytes, facts: dict[str, str]) -> bytes | None:
    """`discovered;<length>;MAC;name;IP;1;model;version;date;` for `discover;013;`, else None."""
    if not request.startswith(b"discover;"):
        return None
    name = tcp_server.render(service.name, facts)
    rest = f";{facts['MAC']};{name};{facts['ip']};1;{service.model};{service.version};{service.date};"
    length = len("discovered;000") + len(rest)
    return f"discovered;{length:03d}{rest}".encode("latin-1", "replace")
