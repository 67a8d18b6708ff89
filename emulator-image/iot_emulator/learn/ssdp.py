"""The device's SSDP announcements (UPnP Device Architecture 1.1, 1.1-1.3): SERVER, NT, LOCATION, max-age.

Read with `protocols.ssdp.parse_request` from the device's NOTIFY ssdp:alive messages, or from its
answers to M-SEARCH when it sent no NOTIFY. The device type is the first NT/ST naming a device
(`urn:...:device:...`); the emulator derives the USN's UUID from the MAC, so only its prefix is kept.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse

from iot_emulator.learn import findings, packets
from iot_emulator.protocols.discovery import ssdp

DEVICE_TYPE = re.compile(r"^urn:[^:]+:device:[^:]+:\d+$", re.IGNORECASE)
MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def learn(decoded: packets.Decoded) -> findings.Findings:
    out = findings.Findings()
    notify: list[dict[str, str]] = []
    answers: list[dict[str, str]] = []
    for p in decoded.packets:
        if not p.outgoing or p.udp is None or not (p.udp[1] == ssdp.PORT or p.udp[0] == ssdp.PORT):
            continue
        start, headers = ssdp.parse_request(p.udp[2][:8192])
        if start.upper().startswith("NOTIFY") and headers.get("NTS", "").lower() == "ssdp:alive":
            notify.append(headers)
        elif start.upper().startswith("HTTP/1.1 200"):
            answers.append(headers)
    messages = notify or answers
    if not messages:
        return out
    types = [h.get("NT") or h.get("ST", "") for h in messages]
    plain = [t for t in types if t and not t.lower().startswith("uuid:") and t.lower() != ssdp.ROOT]
    device_type = next((t for t in types if DEVICE_TYPE.match(t)), plain[0] if plain else None)
    server = next((h["SERVER"] for h in messages if h.get("SERVER")), None)
    if device_type is None or server is None:
        out.notes.append("SSDP messages without a device type or SERVER header: the ssdp section is the base's")
        return out
    section: dict[str, object] = {"server": server, "device_type": device_type}
    location = next((h["LOCATION"] for h in messages if h.get("LOCATION")), None)
    if location:
        url = urllib.parse.urlsplit(location)
        section["location_path"] = url.path or "/"
        with contextlib.suppress(ValueError):
            section["location_port"] = url.port or 80
    ages = [int(m[1]) for h in messages if (m := MAX_AGE.search(h.get("CACHE-CONTROL", "")))]
    if ages and 60 <= ages[0] <= 86400:
        section["max_age"] = ages[0]
    what = f"{len(notify)} NOTIFY ssdp:alive" if notify else f"{len(answers)} M-SEARCH answers"
    out.set("ssdp", section, f"SERVER, NT, LOCATION and max-age of the device's {what}")
    out.speaks("ssdp")
    return out
