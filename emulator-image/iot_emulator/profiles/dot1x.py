"""A profile's 802.1X behaviour: the EAP method, identity and timers its real device uses.

Devices whose real model has no 802.1X supplicant have no `dot1x:` section and never send an
EAPOL frame, which is what makes a switch fall back to MAC Authentication Bypass for them. Those
that have one ship with it off (`enabled: false`): the section says what the device does once a
site turns it on (a user profile, or `enabled: true` in a copy of the profile).
Timer names and defaults are the supplicant PAE's of IEEE 802.1X-2010 (startPeriod 30 s,
maxStart 3, heldPeriod 60 s, authPeriod 30 s).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTITY_FIELDS = "{hostname} {mac} {mac12} {MAC12} {model}"


class Dot1x(BaseModel):
    """The `dot1x:` section of a profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="run the supplicant; the real devices ship with 802.1X off, so a site (or a test) turns it on",
    )
    method: Literal["md5", "tls", "peap"] = Field(
        description="the EAP method the device proposes (Nak) and runs; peap is PEAPv0 with EAP-MSCHAPv2 inside"
    )
    identity: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        default="{hostname}", description=f"EAP-Response/Identity; placeholders {IDENTITY_FIELDS}"
    )
    password: Annotated[str, Field(max_length=128)] = Field(
        default="iotemu-lab", description="EAP-MD5 / MSCHAPv2 password (the lab's RADIUS users file holds the same)"
    )
    pki_dir: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None,
        description="EAP-TLS: ca.pem and <mac12>.pem/.key (`lab.dot1x` makes them); PEAP: ca.pem checks the server",
    )
    eapol_version: Annotated[int, Field(ge=1, le=3)] = Field(default=2, description="EAPOL header version byte")
    start_period: Annotated[float, Field(gt=0, le=300)] = Field(
        default=30.0, description="seconds between EAPOL-Starts"
    )
    max_start: Annotated[int, Field(ge=1, le=10)] = Field(
        default=3, description="unanswered Starts before the port is taken as authorized (no authenticator)"
    )
    auth_period: Annotated[float, Field(gt=0, le=300)] = Field(
        default=30.0, description="seconds without a Request before an exchange is restarted"
    )
    held_period: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=60.0, description="seconds of silence after an EAP-Failure before retrying"
    )
    held_backoff: Annotated[float, Field(ge=1, le=8)] = Field(
        default=1.0, description="factor on the held period per consecutive failure (1: fixed, as 802.1X)"
    )
    held_max: Annotated[float, Field(gt=0, le=86400)] = Field(default=3600.0, description="cap of the held period")
    reauth_period: Annotated[float, Field(ge=10, le=86400)] | None = Field(
        default=None, description="seconds between supplicant-initiated re-authentications; None: only when asked"
    )
    fragment_size: Annotated[int, Field(ge=200, le=1400)] = Field(
        default=1000, description="EAP-TLS: largest TLS data per EAP packet we send"
    )
    behaviour: str = Field(default="", max_length=1000, description="what the real device does, in words")
    source: str = Field(default="", max_length=500, description="where that comes from")
