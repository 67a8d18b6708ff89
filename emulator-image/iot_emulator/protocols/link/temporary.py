"""Temporary (privacy) addresses, RFC 8981: random interface identifiers with short lifetimes, sans-IO.

The numbers and rules `slaac` applies to them: a temporary address lives at most the profile's
`temporary_valid_lifetime` and is preferred at most `temporary_preferred_lifetime` less a random
DESYNC_FACTOR (3.8: up to 0.4 of it, drawn per address, so that hosts do not regenerate together),
never longer than the prefix it came from (3.4); REGEN_ADVANCE seconds before it stops being
preferred a new one is formed (3.5), so the host always has a preferred one while the prefix lasts.
"""

from __future__ import annotations

import math
import random

from iot_emulator.profiles import catalog

IDGEN_RETRIES = 3
"""TEMP_IDGEN_RETRIES: new identifiers tried after DAD conflicts (RFC 8981 3.8)."""
MAX_DESYNC = 0.4
"""MAX_DESYNC_FACTOR, as a fraction of TEMP_PREFERRED_LIFETIME."""
MAX_TEMPORARY = 8
"""Temporary addresses kept per device; the oldest deprecated one goes first (Linux: max_addresses 16 in all)."""
RETRANS_TIMER = 1.0


def regen_advance(settings: catalog.Ipv6) -> float:
    """REGEN_ADVANCE = 2 + TEMP_IDGEN_RETRIES x DupAddrDetectTransmits x RetransTimer (RFC 8981 3.8)."""
    return 2 + IDGEN_RETRIES * settings.dad_transmits * RETRANS_TIMER


def desync(settings: catalog.Ipv6, rng: random.Random) -> float:
    """DESYNC_FACTOR of one address: random, under MAX_DESYNC_FACTOR and under preferred - REGEN_ADVANCE."""
    limit = min(
        MAX_DESYNC * settings.temporary_preferred_lifetime,
        settings.temporary_preferred_lifetime - regen_advance(settings) - 1,
    )
    return rng.uniform(0, max(limit, 0.0))


def interface_id(rng: random.Random) -> bytes:
    """A random 64-bit identifier (RFC 8981 3.3.1), not a reserved one (RFC 5453)."""
    while True:
        iid = rng.getrandbits(64).to_bytes(8, "big")
        if iid != b"\x00" * 8 and not (iid[:7] == b"\xfd\xff\xff\xff\xff\xff\xff" and iid[7] >= 0x80):
            return iid


def lifetimes(
    settings: catalog.Ipv6, created: float, desync_factor: float, now: float, valid_until: float, preferred_until: float
) -> tuple[float, float]:
    """(valid until, preferred until) of a temporary address created at `created`, bounded by its prefix's
    (`valid_until`, `preferred_until`, from the last RA): RFC 8981 3.4 steps 4-5 and the RA update rule."""
    valid = min(valid_until, created + settings.temporary_valid_lifetime)
    preferred = min(preferred_until, created + settings.temporary_preferred_lifetime - desync_factor, valid)
    return valid, preferred


def worth_forming(settings: catalog.Ipv6, now: float, preferred_until: float) -> bool:
    """RFC 8981 3.4 step 6: no temporary address whose preferred lifetime would not exceed REGEN_ADVANCE."""
    return preferred_until == math.inf or preferred_until - now > regen_advance(settings)
