"""RFC 8981 temporary addresses on a virtual clock: formed per prefix beside the SLAAC address, checked by DAD,
bounded by the prefix's and the profile's lifetimes, regenerated before they stop being preferred."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether

from iot_emulator.engine import stats
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import slaac, temporary

from .protocol_env import make_config
from .test_ipv6 import EUI64_GLOBAL, EUI64_LL, GW_MAC, MAC, Device6, boot, of, router_advert

PREFIX = ipaddress.IPv6Network("2001:db8:1::/64")
SHORT = {"temporary_addresses": True, "temporary_preferred_lifetime": 600, "temporary_valid_lifetime": 1200}


def temporaries(dev: Device6) -> dict[str, slaac.Address]:
    assert dev.dev.ipv6 is not None
    return {
        ipaddress.IPv6Address(a).compressed: e for a, e in dev.dev.ipv6.slaac.addresses.items() if e.kind == "temporary"
    }


def with_prefix(dev: Device6, **advert: int) -> Device6:
    dev.run(2.5)
    dev.feed(router_advert(**advert))
    dev.run(dev.now + 1.0)
    return dev


def test_a_prefix_gives_a_temporary_address_beside_the_slaac_one_after_its_dad() -> None:
    dev = boot(temporary_addresses=True)
    dev.run(2.5)
    sent = dev.feed(router_advert())
    [temp] = temporaries(dev)
    assert ipaddress.IPv6Address(temp) in PREFIX and temp != EUI64_GLOBAL
    probes = {p[ICMPv6ND_NS].tgt for p in of(sent, ICMPv6ND_NS) if p[IPv6].src == "::"}
    assert probes == {EUI64_GLOBAL, temp}  # each address runs its own DAD
    assert temp not in dev.addresses()  # tentative
    dev.run(dev.now + 1.0)
    assert dev.addresses() == {EUI64_LL, EUI64_GLOBAL, temp}
    assert ("info", f"IPv6 temporary address {temp} preferred") in dev.logs
    assert temp in stats.Stats(interval=5).of(dev.dev, dev.now)["ipv6_addresses"]


def test_lifetimes_are_bounded_by_the_prefix_and_the_profile() -> None:
    dev = with_prefix(boot(temporary_addresses=True), valid=3600, preferred=1800)
    [entry] = temporaries(dev).values()
    assert entry.valid_until == pytest.approx(2.5 + 3600) and entry.preferred_until <= 2.5 + 1800
    long = with_prefix(boot(temporary_addresses=True), valid=30 * 86400, preferred=7 * 86400)
    [entry] = temporaries(long).values()
    assert entry.valid_until == pytest.approx(2.5 + 604800)  # Linux's and Windows' 7 days
    assert 2.5 + 0.6 * 86400 <= entry.preferred_until <= 2.5 + 86400  # less a random DESYNC_FACTOR


def test_a_new_temporary_address_comes_before_the_last_is_deprecated_and_old_ones_expire() -> None:
    dev = with_prefix(boot(**SHORT), valid=86400, preferred=86400)
    first_address, first = next(iter(temporaries(dev).items()))
    advance = temporary.regen_advance(dev.dev.config.profile.ipv6 or catalog.Ipv6())
    assert advance == 5.0  # 2 + 3 x 1 DAD probe x 1 s
    dev.run(first.preferred_until - advance + 0.01)
    assert len(temporaries(dev)) == 2  # the successor, tentative then preferred
    dev.run(first.preferred_until + 0.01)
    assert first.state is slaac.State.DEPRECATED and first_address in dev.addresses()
    assert ("info", f"IPv6 address {first_address} deprecated") in dev.logs
    preferred_at_all_times = []
    for step in range(1, 120):  # 2 hours, every minute: always one preferred temporary, old ones gone at 1200 s
        dev.run(2.5 + 1.0 + step * 60)
        states = [e.state for e in temporaries(dev).values()]
        preferred_at_all_times.append(slaac.State.PREFERRED in states)
        assert all(e.created > dev.now - 1200 for e in temporaries(dev).values())
        assert len(states) <= temporary.MAX_TEMPORARY
    assert all(preferred_at_all_times)
    assert first_address not in dev.addresses()


def test_a_dad_conflict_on_a_temporary_address_picks_another_random_one() -> None:
    dev = boot(temporary_addresses=True)
    dev.run(2.5)
    dev.feed(router_advert())
    [taken] = temporaries(dev)
    advert = (
        Ether(src=GW_MAC, dst=MAC)
        / IPv6(src=taken, dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=taken, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=GW_MAC)
    )
    dev.feed(advert)
    [other] = temporaries(dev)
    assert other != taken and ipaddress.IPv6Address(other) in PREFIX
    dev.run(dev.now + 1.0)
    assert other in dev.addresses() and taken not in dev.addresses()


def test_outgoing_packets_to_a_new_peer_leave_from_the_temporary_address() -> None:
    dev = with_prefix(boot(temporary_addresses=True))
    assert dev.dev.ipv6 is not None
    [temp] = temporaries(dev)
    source = dev.dev.ipv6.source_for(ipaddress.IPv6Address("2001:db8:99::1").packed)
    assert source is not None and ipaddress.IPv6Address(source).compressed == temp
    assert (
        ipaddress.IPv6Address(dev.dev.ipv6.source_for(bytes.fromhex("fe80" + "00" * 13 + "01")) or b"").compressed
        == EUI64_LL
    )


def test_embedded_linux_default_has_none_and_lifetimes_are_validated() -> None:
    assert temporaries(with_prefix(boot())) == {}
    with pytest.raises(ValidationError) as info:
        make_config(("ipv6",), ipv6={"temporary_addresses": True, "temporary_preferred_lifetime": 5})
    assert info.value.errors()[0]["loc"] == ("ipv6", "temporary_preferred_lifetime")
