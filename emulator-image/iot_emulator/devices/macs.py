"""MAC addresses: parsing, formatting, and deterministic derivation inside a vendor OUI.

Fleets need MACs that are stable across restarts and scale changes (a device keeps its lease
and its identity), so a fleet member's MAC is a hash of the fleet's name and its index, placed
in the low 24 bits under the profile's OUI.
"""

from __future__ import annotations

import hashlib
import re

MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
OUI_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){2}$")
BROADCAST = b"\xff" * 6


def parse(text: str) -> bytes:
    """Six bytes from `aa:bb:cc:dd:ee:ff`; raises ValueError with the reason."""
    if not MAC_RE.match(text):
        raise ValueError(f"{text!r} is not a MAC address (expected six hex pairs like 00:12:34:56:78:01)")
    raw = bytes.fromhex(text.replace(":", ""))
    if raw[0] & 1:
        raise ValueError(f"{text} is a multicast MAC; a device needs a unicast address")
    if raw == b"\x00" * 6:
        raise ValueError("00:00:00:00:00:00 is not a usable device MAC")
    return raw


def normalise(text: str) -> str:
    """Lower-case canonical form, after validation."""
    return format_mac(parse(text))


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def derive(oui: str, seed: str, index: int) -> str:
    """A stable MAC in `oui` for member `index` of the group named `seed`.

    The low three bytes come from SHA-256 of `seed/index`; collisions inside one fleet are
    resolved by the caller (see `manifests.expand`), which re-derives with a salt.
    """
    if not OUI_RE.match(oui):
        raise ValueError(f"{oui!r} is not an OUI (expected three hex pairs like 44:19:b6)")
    digest = hashlib.sha256(f"{seed}/{index}".encode()).digest()
    return f"{oui.lower()}:{digest[0]:02x}:{digest[1]:02x}:{digest[2]:02x}"
