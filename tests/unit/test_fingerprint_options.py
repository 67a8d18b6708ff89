"""Fingerprint details real clients have: REQUEST options that differ from DISCOVER's, raw options,
host names with underscores and full-MAC placeholders, and the vendor default the seed CLI picks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from scapy.layers.dhcp import DHCP
from scapy.layers.l2 import Ether

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp_wire

MAC = bytes.fromhex("84f3eb816454")


def fingerprint(**fields: object) -> catalog.DhcpFingerprint:
    base: dict[str, object] = {
        "options": [53, 57, 55, 12],
        "parameter_request_list": [1, 3, 28, 6],
        "max_message_size": 1500,
    }
    return catalog.DhcpFingerprint.model_validate({**base, **fields})


def options_of(frame: bytes) -> list[tuple[int, bytes]]:
    """(code, value) in wire order, read from the bytes Scapy dissects as DHCP."""
    raw = bytes(Ether(frame)[DHCP])
    out, i = [], 0
    while i < len(raw) and raw[i] != 255:
        if raw[i] == 0:
            i += 1
            continue
        out.append((raw[i], raw[i + 2 : i + 2 + raw[i + 1]]))
        i += 2 + raw[i + 1]
    return out


def option_codes(frame: bytes) -> list[int]:
    return [code for code, _ in options_of(frame)]


def test_request_uses_its_own_option_order() -> None:
    frames = dhcp_wire.ClientFrames(MAC, "ESP_816454", fingerprint(request_options=[53, 50, 54, 12, 57, 55]))
    assert option_codes(frames.discover(1, 0)) == [53, 57, 55, 12]
    request = frames.request_selecting(1, 0, bytes([10, 77, 0, 9]), bytes([10, 77, 0, 1]))
    assert option_codes(request) == [53, 50, 54, 12, 57, 55]


def test_extra_options_carry_their_raw_values() -> None:
    fp = fingerprint(options=[53, 55, 124, 125], extra_options={124: "0000000b", 125: "00000de9"})
    frame = dhcp_wire.ClientFrames(MAC, "tv", fp).discover(7, 0)
    assert options_of(frame)[2:] == [(124, bytes.fromhex("0000000b")), (125, bytes.fromhex("00000de9"))]


def test_extra_option_must_be_hex() -> None:
    with pytest.raises(ValidationError, match="option 124: 'zz' is not hex bytes"):
        fingerprint(extra_options={124: "zz"})


def test_hostname_keeps_underscores_and_full_mac() -> None:
    prof = catalog.builtin().get("sonoff-mini").model_copy(update={"hostname_pattern": "SEP{MAC12}_{mac6}"})
    assert prof.hostname_for("84:f3:eb:81:64:54") == "SEP84F3EB816454_816454"


def test_vendor_default_wins_over_alphabetical_order() -> None:
    hik = catalog.builtin().get("hikvision-ds-2cd2042fwd")
    other = hik.model_copy(update={"name": "hikvision-aaa", "vendor_default": False})
    chosen = hik.model_copy(update={"vendor_default": True})
    library = catalog.Library([other, chosen])
    assert library.for_vendor("hikvision").name == "hikvision-ds-2cd2042fwd"
    plain = hik.model_copy(update={"vendor_default": False})
    assert catalog.Library([other, plain]).for_vendor("Hikvision").name == "hikvision-aaa"
