"""RFC 6724 destination address selection (`addrselect`): the default policy table's rows and the rules
that decide between a name's A and AAAA records on a branch LAN, with examples like those of its section 10.2."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import pytest

from iot_emulator.protocols.link import addrselect


def b(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def sources(table: Mapping[str, str | None]) -> addrselect.SourceFor:
    """The device's source per destination family/kind: keys 4 and 6 (and exact destinations)."""

    def source_for(dst: bytes) -> bytes | None:
        text = str(ipaddress.ip_address(dst))
        chosen = table.get(text, table.get("4" if len(dst) == 4 else "6"))
        return b(chosen) if chosen else None

    return source_for


@pytest.mark.parametrize(
    ("address", "precedence", "label"),
    [
        ("::1", 50, 0),
        ("198.51.100.2", 35, 4),
        ("2002:c633:6401::1", 30, 2),
        ("2001::1", 5, 5),  # Teredo, 2001:0::/32
        ("2001:db8:5100::2", 40, 1),  # documentation space: ::/0, not Teredo's row
        ("fd00:1ab:6::1", 3, 13),
        ("2a00:1450::1", 40, 1),
    ],
)
def test_default_policy_table(address: str, precedence: int, label: int) -> None:
    assert addrselect.policy(b(address)) == (precedence, label)


def test_scopes() -> None:
    assert addrselect.scope(b("fe80::1")) == addrselect.SCOPE_LINK
    assert addrselect.scope(b("169.254.1.1")) == addrselect.SCOPE_LINK
    assert addrselect.scope(b("10.77.0.10")) == addrselect.SCOPE_GLOBAL  # private IPv4 is global (3.2)
    assert addrselect.scope(b("2001:db8::1")) == addrselect.SCOPE_GLOBAL
    assert addrselect.scope(b("ff02::fb")) == addrselect.SCOPE_LINK


def test_global_ipv6_source_prefers_the_aaaa() -> None:
    """The lab with an internet: SLAAC address from 2001:db8:1ab:6::/64, sink at 2001:db8:5100::2."""
    got = addrselect.order(
        [b("198.51.100.2"), b("2001:db8:5100::2")], sources({"4": "10.77.0.10", "6": "2001:db8:1ab:6::10"})
    )
    assert got == [b("2001:db8:5100::2"), b("198.51.100.2")]


def test_ula_source_prefers_ipv4_for_a_global_aaaa() -> None:
    """Rule 5: a unique local source's label (13) does not match a global destination's (1); IPv4's do."""
    got = addrselect.order(
        [b("2001:db8:5100::2"), b("198.51.100.2")], sources({"4": "10.77.0.10", "6": "fd00:1ab:6::10"})
    )
    assert got == [b("198.51.100.2"), b("2001:db8:5100::2")]


def test_ula_destination_loses_to_ipv4_by_precedence() -> None:
    got = addrselect.order([b("fd00:1ab:6::2"), b("198.51.100.2")], sources({"4": "10.77.0.10", "6": "fd00:1ab:6::10"}))
    assert got == [b("198.51.100.2"), b("fd00:1ab:6::2")]


def test_link_local_only_source_prefers_ipv4_by_scope() -> None:
    """Rule 2: no global IPv6 address yet (only fe80::), so the AAAA's scope does not match its source's."""
    got = addrselect.order([b("2001:db8:5100::2"), b("198.51.100.2")], sources({"4": "10.77.0.10", "6": "fe80::1"}))
    assert got == [b("198.51.100.2"), b("2001:db8:5100::2")]


def test_unusable_destinations_go_last() -> None:
    """Rule 1: no IPv4 address (or no IPv6 one) means that family's destinations cannot be used."""
    got = addrselect.order([b("198.51.100.2"), b("2001:db8:5100::2")], sources({"4": None, "6": "2001:db8:1ab:6::10"}))
    assert got == [b("2001:db8:5100::2"), b("198.51.100.2")]
    got = addrselect.order([b("2001:db8:5100::2"), b("198.51.100.2")], sources({"4": "10.77.0.10", "6": None}))
    assert got == [b("198.51.100.2"), b("2001:db8:5100::2")]


def test_examples_like_those_of_rfc_section_10_2() -> None:
    # Candidate 2001:db8:1::1 and fe80::1, sources 2001:db8:1::2, fe80::2: prefer the smaller scope (rule 8)
    table = {"2001:db8:1::1": "2001:db8:1::2", "fe80::1": "fe80::2"}
    assert addrselect.order([b("2001:db8:1::1"), b("fe80::1")], sources(table)) == [b("fe80::1"), b("2001:db8:1::1")]
    # 2001:db8:1::1 and 10.1.2.3, sources 2001:db8:1::2 and 10.1.2.4: prefer IPv6 (rule 6)
    table = {"6": "2001:db8:1::2", "4": "10.1.2.4"}
    assert addrselect.order([b("10.1.2.3"), b("2001:db8:1::1")], sources(table))[0] == b("2001:db8:1::1")
    # 2001:db8:1::1 and fd00::1 from sources 2001:db8:1::2 and fd00::2: matching labels both; ULA precedence 3
    table = {"2001:db8:1::1": "2001:db8:1::2", "fd00::1": "fd00::2"}
    assert addrselect.order([b("fd00::1"), b("2001:db8:1::1")], sources(table)) == [b("2001:db8:1::1"), b("fd00::1")]
    # 2002:c633:6401::1 and 2001:db8:1::1 with a global source for each: 6to4's precedence 30 < 40
    table = {"2002:c633:6401::1": "2002:c633:6401::2", "2001:db8:1::1": "2001:db8:1::2"}
    got = addrselect.order([b("2002:c633:6401::1"), b("2001:db8:1::1")], sources(table))
    assert got == [b("2001:db8:1::1"), b("2002:c633:6401::1")]


def test_longest_match_breaks_ties_and_the_answer_order_is_kept_otherwise() -> None:
    table = {"6": "2001:db8:1ab:6::10"}
    near, far = b("2001:db8:1ab:6::99"), b("2001:db8:ff::99")
    assert addrselect.order([far, near], sources(table)) == [near, far]
    first, second = b("2001:db8:ff::1"), b("2001:db8:ff::2")
    assert addrselect.order([second, first], sources(table)) == [second, first]
