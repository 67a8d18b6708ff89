"""What the device announces to its switch: LLDP (IEEE 802.1AB) and CDP v2 (Cisco) identity TLVs.

Read from the device's LLDPDUs (ethertype 0x88cc) and CDP frames (802.3 + SNAP 00000c/2000) with the
TLV layouts `protocols.lldp` and `protocols.cdp` write. The LLDP interval is the TTL / 4 (802.1AB's
default msgTxHold, as the emulator's agent sets it); CDP's is the median gap between the frames.
A shutdown LLDPDU (TTL 0) is not an announcement and is left out.
"""

from __future__ import annotations

import itertools
import statistics
import struct

from iot_emulator.learn import findings, packets
from iot_emulator.protocols.discovery import cdp, lldp
from iot_emulator.protocols.link import wire

ETH_P_LLDP = 0x88CC
_CAPABILITIES = {bit: name for name, bit in lldp.CAPABILITY_BITS.items()}


def _tlvs(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i + 2 <= len(data):
        head = int.from_bytes(data[i : i + 2], "big")
        kind, size = head >> 9, head & 0x1FF
        if kind == lldp.TLV_END or i + 2 + size > len(data):
            break
        out.append((kind, data[i + 2 : i + 2 + size]))
        i += 2 + size
    return out


def learn(decoded: packets.Decoded, mac: bytes, hostname: str | None) -> findings.Findings:
    out = findings.Findings()
    lldpdus = [p for p in decoded.packets if p.outgoing and wire.ethertype(p.frame) == ETH_P_LLDP]
    for p in lldpdus:
        tlvs = dict(_tlvs(p.frame[14:]))
        ttl = int.from_bytes(tlvs.get(lldp.TLV_TTL, b"\x00\x00")[:2], "big")
        description = tlvs.get(lldp.TLV_SYSTEM_DESCRIPTION)
        if not ttl or description is None:
            continue
        caps = tlvs.get(lldp.TLV_CAPABILITIES, b"\x00\x00\x00\x00")
        enabled = int.from_bytes(caps[2:4], "big") if len(caps) >= 4 else 0
        section: dict[str, object] = {
            "system_description": _mark(description, mac, hostname),
            "system_name": _mark(tlvs.get(lldp.TLV_SYSTEM_NAME, b""), mac, hostname) or "{hostname}",
            "capabilities": [name for bit, name in sorted(_CAPABILITIES.items()) if enabled & bit],
            "port_description": tlvs.get(lldp.TLV_PORT_DESCRIPTION, b"eth0").decode("utf-8", "replace") or "eth0",
            "interval": min(3600.0, max(5.0, ttl / 4)),
        }
        out.set("lldp", section, f"TLVs of the device's {len(lldpdus)} LLDPDUs (interval = TTL {ttl} / 4)")
        out.speaks("lldp")
        break
    _cdp(out, decoded, mac, hostname)
    return out


def _cdp(out: findings.Findings, decoded: packets.Decoded, mac: bytes, hostname: str | None) -> None:
    frames = [
        p
        for p in decoded.packets
        if p.outgoing and p.frame[:6] == cdp.MULTICAST and p.frame[14 : 14 + len(cdp.SNAP)] == cdp.SNAP
    ]
    if not frames:
        return
    pdu = frames[0].frame[14 + len(cdp.SNAP) :]
    if len(pdu) < 4:
        return
    holdtime, tlvs, i = pdu[1], {}, 4
    while i + 4 <= len(pdu):
        kind, size = struct.unpack("!HH", pdu[i : i + 4])
        if size < 4 or i + size > len(pdu):
            break
        tlvs[kind] = pdu[i + 4 : i + size]
        i += size
    if cdp.SOFTWARE not in tlvs or cdp.PLATFORM not in tlvs:
        out.notes.append("CDP frames without software version or platform: the cdp section is the base's")
        return
    gaps = [b.time - a.time for a, b in itertools.pairwise(frames)]
    caps = tlvs.get(cdp.CAPABILITIES, b"")
    section: dict[str, object] = {
        "device_id": _mark(tlvs.get(cdp.DEVICE_ID, b""), mac, hostname) or "{hostname}",
        "port_id": tlvs.get(cdp.PORT_ID, b"Port 1").decode("utf-8", "replace"),
        "software_version": tlvs[cdp.SOFTWARE].decode("utf-8", "replace"),
        "platform": tlvs[cdp.PLATFORM].decode("utf-8", "replace"),
        "holdtime": max(10, holdtime),
    }
    if len(caps) == 4:
        section["capabilities"] = int.from_bytes(caps, "big")
    if gaps:
        section["interval"] = round(min(900.0, max(5.0, statistics.median(gaps))), 1)
    out.set("cdp", section, f"TLVs of the device's {len(frames)} CDP frames")
    out.speaks("lldp")  # the emulator's "lldp" protocol runs CDP too when the profile has a cdp section


def _mark(value: bytes, mac: bytes, hostname: str | None) -> str:
    text = value.decode("utf-8", "replace")
    return findings.as_format(findings.mac_placeholders(text, mac, hostname, mac12=False))
