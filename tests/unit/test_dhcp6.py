"""The DHCPv6 client on a virtual clock: an RA's M flag starts SOLICIT/ADVERTISE/REQUEST/REPLY, its O flag an
INFORMATION-REQUEST; the profile's DUID type, option request list and vendor class, read back with Scapy."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import ValidationError
from scapy.layers.dhcp6 import (
    DUID_LL,
    DUID_LLT,
    VENDOR_CLASS_DATA,
    DHCP6_Advertise,
    DHCP6_Decline,
    DHCP6_InfoRequest,
    DHCP6_Rebind,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptDNSServers,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptOptReq,
    DHCP6OptServerId,
    DHCP6OptVendorClass,
)
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet

from .protocol_env import MAC, make_config
from .test_ipv6 import EUI64_LL, GW_MAC, Device6, of, router_advert

SERVER_LL = "fe80::1"
SERVER_DUID = DUID_LL(lladdr=GW_MAC)
LEASED = "2001:db8:1::1:50"
DHCP6 = {"duid_type": "ll", "option_request": [23, 24, 17], "enterprise_number": 4491, "vendor_class": "hik-cam"}


def boot(**dhcpv6: Any) -> Device6:
    config = make_config(("arp", "dhcp", "ipv6"), ipv6={"dhcpv6": {**DHCP6, **dhcpv6}})
    dev = Device6(config)
    dev.run(2.5)  # link-local preferred
    return dev


def advert(managed: int = 1, other: int = 0) -> Packet:
    packet = router_advert()
    packet[ICMPv6ND_RA].M, packet[ICMPv6ND_RA].O = managed, other
    return packet


def from_server(message: Packet) -> Packet:
    return Ether(src=GW_MAC, dst=MAC) / IPv6(src=SERVER_LL, dst=EUI64_LL) / UDP(sport=547, dport=546) / message


def only(frames: list[Packet], layer: type[Packet]) -> Packet:
    [frame] = of(frames, layer)
    return frame


def udp_checksum_ok(frame: Packet) -> bool:
    copy = Ether(bytes(frame))
    del copy[UDP].chksum
    return bool(Ether(bytes(copy))[UDP].chksum == frame[UDP].chksum)


def test_managed_flag_leases_an_address_with_solicit_advertise_request_reply() -> None:
    dev = boot()
    dev.feed(advert())
    solicit = only(dev.run(dev.now + 1.0), DHCP6_Solicit)  # within SOL_MAX_DELAY
    assert solicit.dst == "33:33:00:01:00:02" and solicit[IPv6].src == EUI64_LL and solicit[IPv6].dst == "ff02::1:2"
    assert (solicit[UDP].sport, solicit[UDP].dport) == (546, 547) and udp_checksum_ok(solicit)
    assert solicit[DHCP6OptClientId].duid.lladdr == MAC and isinstance(solicit[DHCP6OptClientId].duid, DUID_LL)
    assert solicit[DHCP6OptOptReq].reqopts == [23, 24, 17]
    assert solicit[DHCP6OptElapsedTime].elapsedtime == 0
    vendor = solicit[DHCP6OptVendorClass]
    assert vendor.enterprisenum == 4491 and vendor[VENDOR_CLASS_DATA].data == b"hik-cam"
    iaid = solicit[DHCP6OptIA_NA].iaid
    assert iaid == 0xB60A0B0C and DHCP6OptServerId not in solicit
    offer = DHCP6OptIA_NA(
        iaid=iaid, T1=300, T2=480, ianaopts=[DHCP6OptIAAddress(addr=LEASED, preflft=600, validlft=900)]
    )
    xid = solicit[DHCP6_Solicit].trid
    client = solicit[DHCP6OptClientId]
    advertise = DHCP6_Advertise(trid=xid) / client / DHCP6OptServerId(duid=SERVER_DUID) / offer
    request = only(dev.feed(from_server(advertise)), DHCP6_Request)
    assert request[DHCP6OptServerId].duid.lladdr == GW_MAC
    assert request[DHCP6OptIAAddress].addr == LEASED and request[DHCP6OptIA_NA].iaid == iaid
    assert request[DHCP6_Request].trid != xid
    reply = DHCP6_Reply(trid=request[DHCP6_Request].trid) / client / DHCP6OptServerId(duid=SERVER_DUID) / offer
    sent = dev.feed(from_server(reply / DHCP6OptDNSServers(dnsservers=["2001:db8::53"])))
    assert [p[ICMPv6ND_NS].tgt for p in of(sent, ICMPv6ND_NS)] == [LEASED]  # DAD before use
    dev.run(dev.now + 1.5)
    assert LEASED in dev.addresses()
    assert ("info", f"DHCPv6 REPLY: {LEASED} leased for 900 s") in dev.logs
    assert dev.dev.counters.protocols["dhcpv6"] == 2


def test_other_flag_alone_sends_an_information_request() -> None:
    dev = boot(duid_type="llt")
    dev.feed(advert(managed=0, other=1))
    info = only(dev.run(dev.now + 1.0), DHCP6_InfoRequest)
    assert DHCP6OptIA_NA not in info and isinstance(info[DHCP6OptClientId].duid, DUID_LLT)
    assert info[DHCP6OptClientId].duid.lladdr == MAC
    again = boot(duid_type="llt")
    again.feed(advert(managed=0, other=1))
    assert bytes(only(again.run(again.now + 1.0), DHCP6_InfoRequest)[DHCP6OptClientId]) == bytes(info[DHCP6OptClientId])
    reply = (
        DHCP6_Reply(trid=info[DHCP6_InfoRequest].trid)
        / info[DHCP6OptClientId]
        / DHCP6OptServerId(duid=SERVER_DUID)
        / DHCP6OptDNSServers(dnsservers=["2001:db8::53"])
    )
    dev.feed(from_server(reply))
    assert ("info", "DHCPv6 information REPLY: DNS 2001:db8::53") in dev.logs
    assert of(dev.run(dev.now + 30), DHCP6_InfoRequest) == []  # answered: no retransmission


def test_unanswered_solicit_is_retransmitted_with_rfc_8415_backoff() -> None:
    dev = boot()
    dev.feed(advert())
    dev.run(dev.now + 40)
    times = [at for at, frame in zip(dev.sent_at, dev.frames, strict=True) if DHCP6_Solicit in frame]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 1.0 <= gaps[0] <= 1.1  # IRT 1 s, RAND positive for the first (RFC 8415 18.2.1)
    assert all(1.8 * a <= b <= 2.2 * a for a, b in itertools.pairwise(gaps))
    elapsed = [f[DHCP6OptElapsedTime].elapsedtime for f in dev.frames if DHCP6_Solicit in f]
    assert elapsed[0] == 0 and elapsed == sorted(elapsed) and elapsed[-1] > 1000


def test_a_reply_for_another_client_or_transaction_is_ignored() -> None:
    dev = boot()
    dev.feed(advert())
    solicit = only(dev.run(dev.now + 1.0), DHCP6_Solicit)
    offer = DHCP6OptIA_NA(iaid=1, ianaopts=[DHCP6OptIAAddress(addr=LEASED, preflft=600, validlft=900)])
    other = DHCP6OptClientId(duid=DUID_LL(lladdr="02:00:00:00:00:99"))
    assert (
        dev.feed(
            from_server(
                DHCP6_Advertise(trid=solicit[DHCP6_Solicit].trid) / other / DHCP6OptServerId(duid=SERVER_DUID) / offer
            )
        )
        == []
    )
    assert (
        dev.feed(
            from_server(
                DHCP6_Advertise(trid=solicit[DHCP6_Solicit].trid ^ 1)
                / solicit[DHCP6OptClientId]
                / DHCP6OptServerId(duid=SERVER_DUID)
                / offer
            )
        )
        == []
    )


def test_without_a_dhcpv6_client_the_flags_are_logged() -> None:
    dev = Device6(make_config(("arp", "dhcp", "ipv6")))
    dev.run(2.5)
    dev.feed(advert())
    assert of(dev.run(dev.now + 10), DHCP6_Solicit) == []
    assert any("no DHCPv6 client" in message for _, message in dev.logs)


def test_duid_en_and_vendor_class_need_an_enterprise_number() -> None:
    for fields in ({"duid_type": "en"}, {"vendor_class": "x"}):
        with pytest.raises(ValidationError) as info:
            make_config(("ipv6",), ipv6={"dhcpv6": {"duid_type": "ll", **fields}})
        assert info.value.errors()[0]["loc"] == ("ipv6", "dhcpv6")
        assert "enterprise_number is required" in str(info.value)


def leased(dev: Device6, t1: int = 300, t2: int = 480, valid: int = 900) -> tuple[Packet, Packet]:
    """Run the exchange to a lease; (the client id option, the IA_NA the server gave)."""
    dev.feed(advert())
    solicit = only(dev.run(dev.now + 1.0), DHCP6_Solicit)
    client = solicit[DHCP6OptClientId]
    ia = DHCP6OptIA_NA(
        iaid=solicit[DHCP6OptIA_NA].iaid,
        T1=t1,
        T2=t2,
        ianaopts=[DHCP6OptIAAddress(addr=LEASED, preflft=600, validlft=valid)],
    )
    server = DHCP6OptServerId(duid=SERVER_DUID)
    request = only(
        dev.feed(from_server(DHCP6_Advertise(trid=solicit[DHCP6_Solicit].trid) / client / server / ia)), DHCP6_Request
    )
    dev.feed(from_server(DHCP6_Reply(trid=request[DHCP6_Request].trid) / client / server / ia))
    dev.run(dev.now + 1.5)
    assert LEASED in dev.addresses()
    return client, ia


def test_lease_is_renewed_at_t1_then_rebound_at_t2_then_dropped_at_expiry() -> None:
    dev = boot()
    client, ia = leased(dev)
    start = dev.now  # the REPLY came 1.5 s ago: T1 is at start + 298.5
    assert of(dev.run(start + 298), DHCP6_Renew) == []
    [renew] = of(dev.run(start + 299), DHCP6_Renew)
    assert renew[DHCP6OptServerId].duid.lladdr == GW_MAC and renew[DHCP6OptIAAddress].addr == LEASED
    assert renew[DHCP6OptOptReq].reqopts == [23, 24, 17]
    reply = DHCP6_Reply(trid=renew[DHCP6_Renew].trid) / client / DHCP6OptServerId(duid=SERVER_DUID) / ia
    dev.feed(from_server(reply))
    assert ("info", f"DHCPv6 REPLY: {LEASED} renewed for 900 s") in dev.logs
    renewed_at = dev.now
    silent = dev.run(renewed_at + 479)  # the server stays silent: RENEWs (10 s, then doubling) until T2
    assert len(of(silent, DHCP6_Renew)) >= 3 and of(silent, DHCP6_Rebind) == []
    rebinds = of(dev.run(renewed_at + 899), DHCP6_Rebind)  # T2 (480 s): REBIND to any server, until expiry
    assert rebinds and all(DHCP6OptServerId not in r for r in rebinds)
    assert LEASED in dev.addresses()
    solicits = of(dev.run(renewed_at + 902), DHCP6_Solicit)
    assert LEASED not in dev.addresses() and solicits  # valid lifetime over: gone, soliciting again
    assert ("warning", "DHCPv6 lease expired without a REPLY: soliciting again") in dev.logs


def test_stop_releases_the_lease_and_a_power_cut_does_not() -> None:
    dev = boot()
    leased(dev)
    release = only([Ether(f) for f in dev.dev.stop(dev.now)], DHCP6_Release)
    assert release[DHCP6OptServerId].duid.lladdr == GW_MAC and release[DHCP6OptIAAddress].addr == LEASED
    assert DHCP6OptOptReq not in release and release[IPv6].dst == "ff02::1:2"
    cut = boot()
    leased(cut)
    cut.dev.power_off(cut.now)
    assert cut.dev.next_deadline() is None


def test_a_leased_address_that_fails_dad_is_declined_then_solicited_again() -> None:
    dev = boot()
    dev.feed(advert())
    solicit = only(dev.run(dev.now + 1.0), DHCP6_Solicit)
    client, server = solicit[DHCP6OptClientId], DHCP6OptServerId(duid=SERVER_DUID)
    ia = DHCP6OptIA_NA(
        iaid=solicit[DHCP6OptIA_NA].iaid,
        T1=300,
        T2=480,
        ianaopts=[DHCP6OptIAAddress(addr=LEASED, preflft=600, validlft=900)],
    )
    request = only(
        dev.feed(from_server(DHCP6_Advertise(trid=solicit[DHCP6_Solicit].trid) / client / server / ia)), DHCP6_Request
    )
    dev.feed(from_server(DHCP6_Reply(trid=request[DHCP6_Request].trid) / client / server / ia))  # DAD starts
    defended = (
        Ether(src=GW_MAC, dst="33:33:00:00:00:01")
        / IPv6(src=LEASED, dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt=LEASED, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=GW_MAC)
    )
    decline = only(dev.feed(defended), DHCP6_Decline)
    assert decline[DHCP6OptServerId].duid.lladdr == GW_MAC and decline[DHCP6OptIAAddress].addr == LEASED
    assert DHCP6OptOptReq not in decline
    assert ("warning", f"DHCPv6 DECLINE {LEASED}: in use by another host") in dev.logs
    assert LEASED not in dev.addresses()
    dev.feed(from_server(DHCP6_Reply(trid=decline[DHCP6_Decline].trid) / client / server))
    assert of(dev.run(dev.now + 1.5), DHCP6_Solicit)  # the server took note: a new exchange
