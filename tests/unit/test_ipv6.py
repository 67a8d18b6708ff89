"""A device's IPv6 on a virtual clock: link-local, DAD, RS, SLAAC, NS/NA, echo and MLDv2, read back with Scapy."""

from __future__ import annotations

import ipaddress
import itertools
import random
from typing import Any

import pytest
from pydantic import ValidationError
from scapy.layers.inet6 import (
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6MLDMultAddrRec,
    ICMPv6MLQuery2,
    ICMPv6MLReport2,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RA,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptPrefixInfo,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
    RouterAlert,
)
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils6 import in6_mactoifaceid

from iot_emulator.devices import device
from iot_emulator.engine import routing, stats
from iot_emulator.protocols.link import ipv6
from iot_emulator.reporting import message_models

from .protocol_env import MAC, make_config

GW_MAC = "02:00:00:00:00:01"
GW_LL = "fe80::1"
PREFIX = "2001:db8:1::"
EUI64_LL = ipaddress.IPv6Address("fe80::" + in6_mactoifaceid(MAC)).compressed
EUI64_GLOBAL = ipaddress.IPv6Address(PREFIX + in6_mactoifaceid(MAC)).compressed


def boot(protocols: tuple[str, ...] = ("arp", "dhcp", "ipv6"), mac: str = MAC, **ipv6_fields: Any) -> Device6:
    config = make_config(protocols, mac=mac, ipv6=ipv6_fields or None)
    return Device6(config)


class Device6:
    """A device on a virtual clock; `frames` are the IPv6 frames it sent, as Scapy packets."""

    def __init__(self, config: Any) -> None:
        self.logs: list[tuple[str, str]] = []
        self.dev = device.Device(config, emit=self._emit, rng=random.Random(7))
        self.now = 0.0
        self.frames: list[Packet] = []
        self.sent_at: list[float] = []
        self._keep(self.dev.start(0.0))

    def _emit(self, kind: str, fields: dict[str, Any]) -> None:
        if kind == "log":
            self.logs.append((fields["level"], fields["message"]))

    def _keep(self, frames: list[bytes]) -> list[Packet]:
        new: list[Packet] = [Ether(f) for f in frames if f[12:14] == b"\x86\xdd"]
        self.frames += new
        self.sent_at += [self.now] * len(new)
        return new

    def run(self, until: float) -> list[Packet]:
        """Every deadline up to `until`; the IPv6 frames sent meanwhile."""
        out = []
        while (due := self.dev.next_deadline()) is not None and due <= until:
            self.now = max(self.now, due)
            out += self._keep(self.dev.on_timer(self.now))
        self.now = until
        return out

    def feed(self, packet: Packet) -> list[Packet]:
        return self._keep(self.dev.handle(bytes(packet), self.now))

    def addresses(self) -> set[str]:
        assert self.dev.ipv6 is not None
        return {ipaddress.IPv6Address(a).compressed for a in self.dev.ipv6.slaac.usable()}


def checksum_ok(packet: Packet, layer: type[Packet]) -> bool:
    """Scapy's own checksum of the layer equals the one on the wire."""
    sent = packet[layer].cksum
    copy = Ether(bytes(packet))
    del copy[layer].cksum
    return bool(Ether(bytes(copy))[layer].cksum == sent)


def router_advert(
    prefix: str = PREFIX,
    *,
    valid: int = 3600,
    preferred: int = 1800,
    length: int = 64,
    hlim: int = 255,
    lifetime: int = 1800,
    managed: int = 0,
) -> Packet:
    return (
        Ether(src=GW_MAC, dst="33:33:00:00:00:01")
        / IPv6(src=GW_LL, dst="ff02::1", hlim=hlim)
        / ICMPv6ND_RA(routerlifetime=lifetime, M=managed)
        / ICMPv6NDOptSrcLLAddr(lladdr=GW_MAC)
        / ICMPv6NDOptPrefixInfo(
            prefix=prefix, prefixlen=length, L=1, A=1, validlifetime=valid, preferredlifetime=preferred
        )
    )


def solicit(target: str, src: str = GW_LL) -> Packet:
    group = ipaddress.IPv6Address(ipv6.solicited_node(ipaddress.IPv6Address(target).packed)).compressed
    packet = (
        Ether(src=GW_MAC, dst=ipv6.multicast_mac(ipaddress.IPv6Address(group).packed).hex(":"))
        / IPv6(src=src, dst=group, hlim=255)
        / ICMPv6ND_NS(tgt=target)
    )
    return packet if src == "::" else packet / ICMPv6NDOptSrcLLAddr(lladdr=GW_MAC)


def records(report: Packet) -> list[tuple[int, str]]:
    """(record type, group) of each MLDv2 record (Scapy chains the records as payloads of the first)."""
    out, index = [], 1
    while (record := report.getlayer(ICMPv6MLDMultAddrRec, index)) is not None:
        out.append((record.rtype, record.dst))
        index += 1
    return out


def of(frames: list[Packet], layer: type[Packet]) -> list[Packet]:
    return [f for f in frames if layer in f]


def test_link_local_joins_its_solicited_node_group_then_probes_from_unspecified() -> None:
    dev = boot()
    assert dev.frames == []  # a random delay of up to 1 s before the first probe (RFC 4862 5.4.2)
    first = dev.run(1.0)
    report, probe = first[:2]
    assert report[IPv6].src == "::" and report[IPv6].dst == "ff02::16" and report[IPv6].hlim == 1
    assert report.dst == "33:33:00:00:00:16"
    assert isinstance(report[IPv6ExtHdrHopByHop].options[0], RouterAlert)
    assert records(report) == [(4, "ff02::1:ff0a:b0c")]  # CHANGE_TO_EXCLUDE_MODE: a join
    assert checksum_ok(report, ICMPv6MLReport2)
    ns = probe[ICMPv6ND_NS]
    assert probe[IPv6].src == "::" and probe[IPv6].dst == "ff02::1:ff0a:b0c" and probe[IPv6].hlim == 255
    assert probe.dst == "33:33:ff:0a:0b:0c" and probe.src == MAC
    assert ns.tgt == EUI64_LL and ICMPv6NDOptSrcLLAddr not in probe  # a DAD probe carries no link-layer option
    assert checksum_ok(probe, ICMPv6ND_NS)
    assert dev.addresses() == set()  # tentative


def test_link_local_is_preferred_after_dad_then_three_router_solicitations() -> None:
    dev = boot()
    dev.run(30.0)
    assert dev.addresses() == {EUI64_LL}
    assert ("info", f"IPv6 link-local address {EUI64_LL} preferred") in dev.logs
    solicitations = of(dev.frames, ICMPv6ND_RS)
    assert len(solicitations) == 3
    rs = solicitations[0]
    assert rs[IPv6].src == EUI64_LL and rs[IPv6].dst == "ff02::2" and rs[IPv6].hlim == 255
    assert rs.dst == "33:33:00:00:00:02" and rs[ICMPv6NDOptSrcLLAddr].lladdr == MAC
    assert checksum_ok(rs, ICMPv6ND_RS)
    times = [at for at, frame in zip(dev.sent_at, dev.frames, strict=True) if ICMPv6ND_RS in frame]
    probe_at = next(at for at, frame in zip(dev.sent_at, dev.frames, strict=True) if ICMPv6ND_NS in frame)
    assert 0 <= probe_at <= 1.0 and times[0] == probe_at + 1.0  # RetransTimer after the one probe
    assert [round(b - a, 6) for a, b in itertools.pairwise(times)] == [4.0, 4.0]


def test_router_advertisement_gives_a_slaac_address_after_its_own_dad() -> None:
    dev = boot()
    dev.run(2.5)  # link-local preferred, first RS sent
    sent = dev.feed(router_advert())
    assert [records(f) for f in of(sent, ICMPv6MLReport2)] == [[(4, "ff02::1:ff0a:b0c")]]
    assert of(sent, ICMPv6MLReport2)[0][IPv6].src == EUI64_LL  # from the link-local address now
    probes = of(sent, ICMPv6ND_NS)
    assert [(p[IPv6].src, p[ICMPv6ND_NS].tgt) for p in probes] == [("::", EUI64_GLOBAL)]
    dev.run(dev.now + 1.0)
    assert dev.addresses() == {EUI64_LL, EUI64_GLOBAL}
    dev.run(60.0)
    assert len(of(dev.frames, ICMPv6ND_RS)) == 1  # the RA ended solicitation
    assert dev.dev.ipv6 is not None and dev.dev.ipv6.slaac.router is not None
    assert dev.dev.ipv6.slaac.router[1] == bytes.fromhex(GW_MAC.replace(":", ""))


def test_lifetimes_deprecate_then_expire_the_address() -> None:
    dev = boot()
    dev.run(2.5)
    dev.feed(router_advert(valid=120, preferred=60))
    dev.run(dev.now + 30)
    assert EUI64_GLOBAL in dev.addresses()
    dev.run(dev.now + 40)
    assert ("info", f"IPv6 address {EUI64_GLOBAL} deprecated") in dev.logs
    assert EUI64_GLOBAL in dev.addresses()  # deprecated still answers
    dev.run(dev.now + 60)
    assert ("info", f"IPv6 address {EUI64_GLOBAL} expired") in dev.logs
    assert dev.addresses() == {EUI64_LL}


def test_two_hour_rule_keeps_a_long_valid_lifetime_from_a_short_advert() -> None:
    dev = boot()
    dev.run(2.5)
    dev.feed(router_advert(valid=86400, preferred=3600))
    dev.run(dev.now + 2)
    dev.feed(router_advert(valid=10, preferred=5))  # RFC 4862 5.5.3 e): cut to two hours, not to 10 s
    dev.run(dev.now + 3600)
    assert EUI64_GLOBAL in dev.addresses()
    dev.run(dev.now + 3700)
    assert EUI64_GLOBAL not in dev.addresses()


@pytest.mark.parametrize(
    ("advert", "why"),
    [
        (router_advert(hlim=64), "hop limit below 255: crossed a router"),
        (router_advert(length=48), "not a /64"),
        (router_advert(valid=10, preferred=20), "preferred beyond valid"),
        (router_advert(prefix="fe80::"), "link-local prefix"),
    ],
)
def test_invalid_adverts_and_prefixes_form_no_address(advert: Packet, why: str) -> None:
    dev = boot()
    dev.run(2.5)
    dev.feed(advert)
    dev.run(10.0)
    assert dev.addresses() == {EUI64_LL}, why


def test_ra_with_managed_flag_is_logged_as_not_supported() -> None:
    dev = boot()
    dev.run(2.5)
    dev.feed(router_advert(managed=1))
    assert any("DHCPv6" in message and "M=1" in message for _, message in dev.logs)


def test_neighbor_solicitation_for_its_address_gets_a_solicited_advertisement() -> None:
    dev = boot()
    dev.run(2.5)
    dev.feed(router_advert())
    dev.run(dev.now + 2)
    [na] = dev.feed(solicit(EUI64_GLOBAL))
    assert na.dst == GW_MAC and na.src == MAC
    assert na[IPv6].src == EUI64_GLOBAL and na[IPv6].dst == GW_LL and na[IPv6].hlim == 255
    adv = na[ICMPv6ND_NA]
    assert (adv.R, adv.S, adv.O, adv.tgt) == (0, 1, 1, EUI64_GLOBAL)
    assert na[ICMPv6NDOptDstLLAddr].lladdr == MAC
    assert checksum_ok(na, ICMPv6ND_NA)
    assert dev.feed(solicit("2001:db8:1::99")) == []  # not ours


def test_echo_request_gets_a_reply_with_the_profiles_hop_limit() -> None:
    dev = boot(hop_limit=255)
    dev.run(2.5)
    dev.feed(router_advert())
    dev.run(dev.now + 2)
    request = (
        Ether(src=GW_MAC, dst=MAC)
        / IPv6(src="2001:db8:1::1", dst=EUI64_GLOBAL, hlim=64)
        / ICMPv6EchoRequest(id=0x1234, seq=7, data=b"ping6 payload")
    )
    [reply] = dev.feed(request)
    assert reply.dst == GW_MAC and reply[IPv6].src == EUI64_GLOBAL and reply[IPv6].dst == "2001:db8:1::1"
    assert reply[IPv6].hlim == 255
    echo = reply[ICMPv6EchoReply]
    assert (echo.id, echo.seq, echo.data) == (0x1234, 7, b"ping6 payload")
    assert checksum_ok(reply, ICMPv6EchoReply)
    assert dev.dev.counters.protocols["icmpv6"] == 1 and dev.dev.counters.protocols["ndp"] >= 2
    assert dev.dev.counters.protocols["mld"] >= 1


def test_dad_conflict_on_eui64_link_local_leaves_no_address_and_no_solicitation() -> None:
    dev = boot()
    dev.run(1.0)
    other = (
        Ether(src=GW_MAC, dst="33:33:00:00:00:01")
        / IPv6(src=EUI64_LL, dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=EUI64_LL, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=GW_MAC)
    )
    dev.feed(other)
    dev.run(30.0)
    assert dev.addresses() == set()
    assert ("warning", f"IPv6 DAD: {EUI64_LL} (link-local) is in use by another host") in dev.logs
    assert ("error", "IPv6 DAD failed: no link-local address") in dev.logs
    assert of(dev.frames, ICMPv6ND_RS) == []


def test_dad_conflict_on_stable_privacy_address_picks_another() -> None:
    dev = boot(interface_id="stable-privacy")
    dev.run(1.0)
    [first] = [p[ICMPv6ND_NS].tgt for p in of(dev.frames, ICMPv6ND_NS)]
    again = dev.feed(solicit(first, src="::"))  # another host's DAD probe for the same address
    probes = of(again, ICMPv6ND_NS)
    assert len(probes) == 1 and probes[0][ICMPv6ND_NS].tgt != first and probes[0][IPv6].src == "::"
    dev.run(10.0)
    assert dev.addresses() == {probes[0][ICMPv6ND_NS].tgt}


def test_stable_privacy_identifiers_are_opaque_per_prefix_and_stable_across_boots() -> None:
    one, two = boot(interface_id="stable-privacy"), boot(interface_id="stable-privacy")
    for dev in (one, two):
        dev.run(2.5)
        dev.feed(router_advert())
        dev.run(dev.now + 2)
    assert one.addresses() == two.addresses()
    [link_local] = [a for a in one.addresses() if a.startswith("fe80")]
    [global_] = [a for a in one.addresses() if a.startswith("2001")]
    iid = ipaddress.IPv6Address(link_local).packed[8:]
    assert iid != ipaddress.IPv6Address(EUI64_LL).packed[8:]
    assert ipaddress.IPv6Address(global_).packed[8:] != iid
    other = boot(mac="44:19:b6:0a:0b:0d", interface_id="stable-privacy")
    other.run(2.5)
    assert other.addresses() != {link_local}


def test_mdns_and_ssdp_devices_join_their_ipv6_groups() -> None:
    dev = boot(protocols=("arp", "dhcp", "ipv6", "mdns", "ssdp"), discovery=["mdns", "ssdp"])
    report, again = of(dev.run(3.0), ICMPv6MLReport2)
    assert sorted(records(report)) == [(4, "ff02::1:ff0a:b0c"), (4, "ff02::c"), (4, "ff02::fb")]
    assert sorted(records(again)) == sorted(records(report))  # robustness: the same join once more within 1 s
    default = boot(protocols=("arp", "dhcp", "ipv6", "mdns", "ssdp"))  # avahi's default: mDNS only over IPv6
    report, _ = of(default.run(3.0), ICMPv6MLReport2)
    assert sorted(records(report)) == [(4, "ff02::1:ff0a:b0c"), (4, "ff02::fb")]


def test_without_the_ipv6_protocol_a_device_sends_and_answers_no_ipv6() -> None:
    dev = boot(protocols=("arp", "dhcp"))
    dev.run(30.0)
    assert dev.dev.ipv6 is None and dev.frames == []
    assert dev.feed(solicit(EUI64_LL)) == [] and dev.feed(router_advert()) == []


def test_profile_ipv6_section_is_validated_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        make_config(("ipv6",), ipv6={"interface_id": "random"})
    assert info.value.errors()[0]["loc"] == ("ipv6", "interface_id")
    with pytest.raises(ValidationError) as info:
        make_config(("ipv6",), ipv6={"dad_transmits": 9})
    assert info.value.errors()[0]["loc"] == ("ipv6", "dad_transmits")


def test_router_sends_nd_to_the_owner_of_the_target_and_adverts_to_every_ipv6_device() -> None:
    one, two = boot(), boot(mac="44:19:b6:0a:0b:0d")
    plain = boot(protocols=("arp", "dhcp"), mac="44:19:b6:0a:0b:0e")
    router = routing.Router()
    for dev in (one, two, plain):
        dev.run(2.5)
        router.by_mac[dev.dev.mac] = dev.dev
        router.update(dev.dev)
    assert router.broadcast_recipients(bytes(solicit(EUI64_LL))) == [one.dev]
    assert set(router.broadcast_recipients(bytes(router_advert()))) == {one.dev, two.dev}
    assert router.heard_locally(bytes(solicit(EUI64_LL)))
    assert router.broadcast_recipients(bytes(solicit("fe80::99"))) == []
    router.forget(one.dev)
    assert router.broadcast_recipients(bytes(solicit(EUI64_LL))) == []


def test_mld_query_is_answered_with_every_group_in_mode_is_exclude() -> None:
    dev = boot(protocols=("arp", "dhcp", "ipv6", "mdns"))
    dev.run(2.5)
    query = (
        Ether(src=GW_MAC, dst="33:33:00:00:00:01")
        / IPv6(src=GW_LL, dst="ff02::1", hlim=1)
        / IPv6ExtHdrHopByHop(options=[RouterAlert()])
        / ICMPv6MLQuery2()
    )
    [report] = dev.feed(query)
    assert report[IPv6].src == EUI64_LL and report[IPv6].dst == "ff02::16"
    assert sorted(records(report)) == [(2, "ff02::1:ff0a:b0c"), (2, "ff02::fb")]
    assert checksum_ok(report, ICMPv6MLReport2)
    router = routing.Router()
    router.update(dev.dev)
    assert router.broadcast_recipients(bytes(query)) == [dev.dev]


def test_echo_to_all_nodes_is_answered_from_the_link_local_address() -> None:
    dev = boot()
    dev.run(2.5)
    request = (
        Ether(src=GW_MAC, dst="33:33:00:00:00:01")
        / IPv6(src=GW_LL, dst="ff02::1", hlim=1)
        / ICMPv6EchoRequest(id=9, seq=1)
    )
    [reply] = dev.feed(request)
    assert reply[IPv6].src == EUI64_LL and reply[IPv6].dst == GW_LL and reply.dst == GW_MAC
    assert reply[ICMPv6EchoReply].id == 9 and checksum_ok(reply, ICMPv6EchoReply)
    tentative = boot()
    assert tentative.feed(request) == []  # no link-local address yet: no answer
    router = routing.Router()
    router.update(dev.dev)
    assert router.broadcast_recipients(bytes(request)) == [dev.dev]


def test_stats_list_the_ipv6_addresses_of_a_device_that_speaks_ipv6_only() -> None:
    """What the dashboard, the tab and the CRD status show: the usable addresses, in the stats message."""
    dev = boot()
    dev.run(2.5)
    dev.feed(router_advert())
    dev.run(dev.now + 1.0)
    body = stats.Stats(interval=5).of(dev.dev, dev.now)
    assert set(body["ipv6_addresses"]) == {EUI64_LL, EUI64_GLOBAL}
    message_models.StatsBody.model_validate(body)  # the typed contract takes it
    ipv4_only = boot(protocols=("arp", "dhcp"))
    assert "ipv6_addresses" not in stats.Stats(interval=5).of(ipv4_only.dev, 0.0)
