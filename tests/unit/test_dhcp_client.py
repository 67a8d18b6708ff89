"""The DHCP client state machine on a virtual clock: DORA, timers, conflicts, renewals, release.

Server replies are built with Scapy and go through `dhcp_wire.parse`, as in the engine; the
client's frames are dissected with Scapy. No sockets, no sleeps: `now` is a float we advance.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp, dhcp_wire, wire
from iot_emulator.protocols.link.dhcp import DhcpState
from iot_emulator.reporting import message_models, messages

MAC = bytes.fromhex("001234567801")
SERVER_MAC = bytes.fromhex("02000a4d0001")
OTHER_MAC = bytes.fromhex("02000a4d00ee")
SERVER = "10.77.0.1"
ADDR = "10.77.0.50"

CAMERA = catalog.DhcpFingerprint(
    options=[53, 61, 57, 50, 54, 12, 55, 60],
    parameter_request_list=[1, 3, 6, 12, 15, 28, 42],
    vendor_class_id="udhcp 1.19.4",
    max_message_size=576,
    arp_probe=catalog.ArpProbe(count=2, interval=0.2, wait=0.3),
)
NO_PROBE = CAMERA.model_copy(update={"arp_probe": catalog.ArpProbe(count=0)})
NO_OPTION_50 = CAMERA.model_copy(update={"options": [53, 61, 12, 55], "arp_probe": catalog.ArpProbe(count=0)})


@pytest.fixture(autouse=True)
def events_fit_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event a test pops is checked against its message model (`bound`/`unbound` stay inside)."""
    original = dhcp.DhcpClient.pop_events

    def checked(client: dhcp.DhcpClient) -> list[tuple[str, dict[str, Any]]]:
        events = original(client)
        for kind, fields in events:
            if kind not in ("bound", "unbound"):
                message_models.parse(messages.make(kind, "cam-567801", 0.0, **fields))
        return events

    monkeypatch.setattr(dhcp.DhcpClient, "pop_events", checked)


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def make(fp: catalog.DhcpFingerprint = CAMERA, seed: int = 7, **kwargs: Any) -> dhcp.DhcpClient:
    """A client; without `fuzz=1` its T1/T2 and renewal retries are the RFC's fixed values."""
    kwargs.setdefault("fuzz", 0.0)
    return dhcp.DhcpClient(mac=MAC, hostname="cam-567801", fingerprint=fp, rng=random.Random(seed), **kwargs)


def reply(
    kind: str,
    xid: int,
    yiaddr: str = ADDR,
    *,
    server: str = SERVER,
    chaddr: bytes = MAC,
    lease: int | None = 60,
    extra: tuple[Any, ...] = (),
) -> dhcp_wire.DhcpMessage:
    """A server reply built by Scapy and parsed as the engine would."""
    options: list[Any] = [("message-type", kind), ("server_id", server)]
    if lease is not None:
        options.append(("lease_time", lease))
    pkt = (
        Ether(src=SERVER_MAC.hex(":"), dst="ff:ff:ff:ff:ff:ff")
        / IP(src=server, dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=xid, yiaddr=yiaddr, chaddr=chaddr)
        / DHCP(options=[*options, *extra, "end"])
    )
    msg = dhcp_wire.parse(bytes(pkt))
    assert msg is not None
    return msg


def only(frames: list[bytes]) -> Ether:
    assert len(frames) == 1, frames
    return Ether(frames[0])


def dhcp_options(pkt: Ether) -> dict[str, Any]:
    return {opt[0]: opt[1] for opt in pkt[DHCP].options if isinstance(opt, tuple)}


def msg_type(pkt: Ether) -> int:
    return int(dhcp_options(pkt)["message-type"])


def types(client: dhcp.DhcpClient) -> list[str]:
    return [kind for kind, _ in client.pop_events() if kind != "log"]


def bind(client: dhcp.DhcpClient, now: float = 0.0, lease: int = 60, extra: tuple[Any, ...] = ()) -> float:
    """Drive a DORA to BOUND (running the ARP check); returns the clock after it."""
    xid = only(client.start(now))[BOOTP].xid
    client.handle(reply("offer", xid, lease=lease), now + 0.01)
    client.handle(reply("ack", xid, lease=lease, extra=extra), now + 0.02)
    now += 0.02
    while client.state is DhcpState.CHECKING:
        deadline = client.next_deadline()
        assert deadline is not None
        now = deadline
        client.on_timer(now)
    assert client.state is DhcpState.BOUND
    now += dhcp.DhcpClient.ANNOUNCE_INTERVAL
    assert len(client.on_timer(now)) == 1  # the last announcement
    client.pop_events()
    return now


def test_full_dora_with_arp_check() -> None:
    client = make()
    discover = only(client.start(100.0))
    assert msg_type(discover) == dhcp_wire.DISCOVER and client.binding is not False
    xid = discover[BOOTP].xid
    events = client.pop_events()
    assert ("dhcp_discover", {"xid": f"0x{xid:08x}", "mac": "00:12:34:56:78:01", "requested_ip": None}) in events
    assert any(e == "log" and "Sending DHCP DISCOVER (xid: 0x" in f["message"] for e, f in events)

    request = only(client.handle(reply("offer", xid, lease=120), 100.5))
    opts = dhcp_options(request)
    assert (msg_type(request), request[BOOTP].xid) == (dhcp_wire.REQUEST, xid)
    assert (opts["requested_addr"], opts["server_id"]) == (ADDR, SERVER)
    assert request[BOOTP].secs == 0 and request[IP].src == "0.0.0.0"
    assert client.pop_events()[0] == (
        "dhcp_offer",
        {"xid": f"0x{xid:08x}", "server_id": SERVER, "offered_ip": ADDR, "lease_time": 120},
    )
    extra = (
        ("renewal_time", 50),
        ("rebinding_time", 100),
        ("subnet_mask", "255.255.255.0"),
        ("router", SERVER),
        ("name_server", "10.77.0.2", "10.77.0.3"),
    )
    probe = only(client.handle(reply("ack", xid, lease=120, extra=extra), 101.0))
    assert client.state is DhcpState.CHECKING and client.binding and client.lease is None
    assert (probe[ARP].op, probe[ARP].psrc, probe[ARP].pdst, probe[ARP].hwsrc) == (1, "0.0.0.0", ADDR, MAC.hex(":"))
    ack = next(f for e, f in client.pop_events() if e == "dhcp_ack")
    assert ack == {
        "xid": f"0x{xid:08x}",
        "assigned_ip": ADDR,
        "server_id": SERVER,
        "lease_time": 120,
        "renewal_time": 50,
        "rebinding_time": 100,
        "subnet_mask": "255.255.255.0",
        "router": SERVER,
        "dns_servers": ["10.77.0.2", "10.77.0.3"],
    }

    assert client.next_deadline() == pytest.approx(101.2)  # second probe after `interval`
    assert Ether(client.on_timer(101.2)[0])[ARP].psrc == "0.0.0.0"
    assert client.next_deadline() == pytest.approx(101.5)  # then `wait`
    announce = only(client.on_timer(101.5))
    assert (announce[ARP].psrc, announce[ARP].pdst, announce.dst) == (ADDR, ADDR, "ff:ff:ff:ff:ff:ff")
    assert client.state is DhcpState.BOUND and not client.binding
    assert ("bound", {"address": ADDR}) in client.pop_events()
    lease = client.lease
    assert lease is not None
    assert (lease.address, lease.server_id, lease.server_mac) == (ip(ADDR), ip(SERVER), SERVER_MAC)
    assert (lease.acquired, lease.t1, lease.t2, lease.expiry) == (100.5, 150.5, 200.5, 220.5)  # from the REQUEST
    assert lease.routers == [ip(SERVER)] and lease.subnet_mask == ip("255.255.255.0")
    assert client.next_deadline() == pytest.approx(103.5)  # second announcement (RFC 5227: 2 s later)
    assert Ether(client.on_timer(103.5)[0])[ARP].psrc == ADDR
    assert client.next_deadline() == 150.5


def test_events_are_json_and_states_logged() -> None:
    client = make(NO_PROBE)
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("offer", xid), 0.1)
    client.handle(reply("ack", xid), 0.2)
    events = client.pop_events()
    json.dumps(events)
    logs = [f["message"] for e, f in events if e == "log"]
    assert "DHCP state INIT -> SELECTING" in logs and "DHCP state CHECKING -> BOUND" in logs


def test_discover_backoff_follows_rfc_windows() -> None:
    client = make()
    now = 0.0
    xid = only(client.start(now))[BOOTP].xid
    for base in (4, 8, 16, 32, 64, 64, 64):
        deadline = client.next_deadline()
        assert deadline is not None and base - 1 <= deadline - now <= base + 1
        now = deadline
        again = only(client.on_timer(now))
        assert again[BOOTP].xid == xid and again[BOOTP].secs == int(now)
    assert client.state is DhcpState.SELECTING
    assert any("timeout waiting for OFFER, retrying" in f.get("message", "") for _, f in client.pop_events())
    assert dhcp.DhcpClient.BACKOFF_BASE == 4.0 and dhcp.DhcpClient.BACKOFF_CAP == 64.0


def test_request_repeats_the_discover_secs() -> None:
    """RFC 2131 4.4.1: the REQUEST carries the `secs` of the DISCOVER it answers, not its own."""
    client = make()
    client.start(0.0)
    now = client.next_deadline() or 0.0
    discover = only(client.on_timer(now))
    assert discover[BOOTP].secs == int(now) >= 3
    request = only(client.handle(reply("offer", discover[BOOTP].xid), now + 2.5))
    assert request[BOOTP].secs == int(now)


def test_nothing_before_the_deadline() -> None:
    client = make()
    client.start(0.0)
    deadline = client.next_deadline()
    assert deadline is not None and client.on_timer(deadline - 0.001) == []


def test_first_offer_wins_and_strangers_are_ignored() -> None:
    client = make()
    xid = only(client.start(0.0))[BOOTP].xid
    client.pop_events()
    assert client.handle(reply("offer", xid + 1), 0.1) == []  # wrong xid
    assert client.handle(reply("offer", xid, chaddr=OTHER_MAC), 0.1) == []  # another client's
    assert client.handle(reply("ack", xid), 0.1) == []  # not expected while selecting
    assert client.state is DhcpState.SELECTING and client.pop_events() == []
    request = only(client.handle(reply("offer", xid, "10.77.0.60", server="10.77.0.2"), 0.2))
    assert dhcp_options(request)["server_id"] == "10.77.0.2"
    assert client.handle(reply("offer", xid, "10.77.0.70"), 0.3) == []
    assert client.state is DhcpState.REQUESTING
    assert [e for e in types(client) if e == "dhcp_offer"] == ["dhcp_offer"]


def test_nak_while_requesting_restarts_with_a_new_xid() -> None:
    client = make()
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("offer", xid), 0.1)
    client.pop_events()
    nak = reply("nak", xid, "0.0.0.0", lease=None, extra=(("error_message", b"address taken"),))
    assert client.handle(nak, 0.2) == []
    assert client.state is DhcpState.INIT and not client.binding
    assert ("dhcp_nak", {"xid": f"0x{xid:08x}", "server_id": SERVER, "message": "address taken"}) in client.pop_events()
    deadline = client.next_deadline()
    assert deadline is not None and 0.7 <= deadline <= 2.2
    discover = only(client.on_timer(deadline))
    assert msg_type(discover) == dhcp_wire.DISCOVER and discover[BOOTP].xid != xid
    assert "requested_addr" not in dhcp_options(discover)


def test_requesting_gives_up_after_four_requests() -> None:
    client = make()
    xid = only(client.start(0.0))[BOOTP].xid
    now = 0.1
    client.handle(reply("offer", xid), now)
    for _ in range(dhcp.DhcpClient.REQUEST_TRIES - 1):
        now = client.next_deadline() or 0.0
        assert msg_type(only(client.on_timer(now))) == dhcp_wire.REQUEST
    now = client.next_deadline() or 0.0
    discover = only(client.on_timer(now))
    assert msg_type(discover) == dhcp_wire.DISCOVER and client.state is DhcpState.SELECTING


@pytest.mark.parametrize("conflict", ["reply", "probe"])
def test_arp_conflict_declines_and_rediscovers(conflict: str) -> None:
    client = make()
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("offer", xid), 0.1)
    client.handle(reply("ack", xid), 0.2)
    assert client.handle_arp(wire.Arp(2, MAC, ip(ADDR), MAC, ip(ADDR)), 0.25) == []  # our own
    assert client.handle_arp(wire.Arp(2, OTHER_MAC, ip("10.77.0.9"), MAC, ip(SERVER)), 0.25) == []  # unrelated
    client.pop_events()
    if conflict == "reply":
        arp = wire.Arp(2, OTHER_MAC, ip(ADDR), MAC, wire.ZERO_IP)
    else:  # another host probing the same address (RFC 5227 2.1.1)
        arp = wire.Arp(1, OTHER_MAC, wire.ZERO_IP, b"\x00" * 6, ip(ADDR))
    decline = only(client.handle_arp(arp, 0.3))
    assert msg_type(decline) == dhcp_wire.DECLINE
    assert [o[0] for o in decline[DHCP].options if isinstance(o, tuple)] == [
        "message-type",
        "client_id",
        "requested_addr",
        "server_id",
    ]
    opts = dhcp_options(decline)
    assert (opts["requested_addr"], opts["server_id"], decline[BOOTP].ciaddr) == (ADDR, SERVER, "0.0.0.0")
    assert (decline[IP].src, decline[IP].dst) == ("0.0.0.0", "255.255.255.255")
    reason = "address in use by 02:00:0a:4d:00:ee"
    assert ("dhcp_decline", {"address": ADDR, "reason": reason}) in client.pop_events()
    assert client.state is DhcpState.INIT and client.lease is None
    deadline = client.next_deadline()
    assert deadline is not None and 10.3 <= deadline <= 12.3
    assert client.on_timer(deadline - 0.01) == []
    discover = only(client.on_timer(deadline))
    assert msg_type(discover) == dhcp_wire.DISCOVER and "requested_addr" not in dhcp_options(discover)


def test_no_probe_binds_at_once() -> None:
    client = make(NO_PROBE)
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("offer", xid), 0.1)
    announce = only(client.handle(reply("ack", xid), 0.2))
    assert announce[ARP].psrc == ADDR and client.state is DhcpState.BOUND


def test_renew_at_t1_is_unicast_to_the_server() -> None:
    client = make(NO_PROBE)
    bind(client, lease=10)  # REQUEST at 0.01: T1 5.01, T2 8.76, expiry 10.01
    client.pop_events()
    lease = client.lease
    assert lease is not None and lease.t1 == pytest.approx(5.01)
    frames = client.on_timer(lease.t1)
    renew = next(Ether(f) for f in frames if Ether(f).type == wire.ETH_P_IP)
    assert (renew.dst, renew[IP].dst, renew[IP].src) == (SERVER_MAC.hex(":"), SERVER, ADDR)
    assert renew[BOOTP].ciaddr == ADDR and renew[IP].ttl == CAMERA.ip_ttl
    opts = dhcp_options(renew)
    assert "requested_addr" not in opts and "server_id" not in opts
    events = client.pop_events()
    assert ("dhcp_renew", {"assigned_ip": ADDR, "server_id": SERVER}) in events
    request = next(f for e, f in events if e == "dhcp_request")
    assert request["state"] == "renewing" and request["requested_ip"] == ADDR
    assert client.state is DhcpState.RENEWING
    # retransmit at half the time left to T2 (3.75 s), then the 1 s floor, never past T2
    assert client.next_deadline() == pytest.approx(5.01 + 3.75 / 2)


def test_ack_while_renewing_extends_the_lease() -> None:
    client = make(NO_PROBE)
    bind(client, lease=10)
    xid = Ether(client.on_timer(5.01)[0])[BOOTP].xid
    client.pop_events()
    assert client.handle(reply("ack", xid, lease=10), 5.05) == []
    assert client.state is DhcpState.BOUND
    lease = client.lease
    assert lease is not None and [lease.t1, lease.expiry] == pytest.approx([10.01, 15.01])
    assert "dhcp_ack" in types(client)
    assert client.next_deadline() == pytest.approx(10.01)


def test_nak_while_renewing_drops_the_address() -> None:
    client = make(NO_PROBE)
    bind(client, lease=10)
    xid = Ether(client.on_timer(5.01)[0])[BOOTP].xid
    client.pop_events()
    client.handle(reply("nak", xid, "0.0.0.0", lease=None), 5.1)
    assert client.state is DhcpState.INIT and client.lease is None
    assert types(client)[:2] == ["dhcp_nak", "unbound"]


def test_rebind_at_t2_then_expiry() -> None:
    client = make(NO_PROBE)
    bind(client, lease=10)
    now = 5.01
    client.on_timer(now)  # RENEWING
    renewing: list[float] = []
    while client.state is DhcpState.RENEWING:
        client.pop_events()
        now = client.next_deadline() or 0.0
        renewing.append(now)
        frames = client.on_timer(now)
    # half the time left to T2 (1.875 s), then the 1 s floor, never past T2 (8.76)
    assert renewing == pytest.approx([6.885, 7.885, 8.76])
    rebind = only(frames)
    assert (rebind.dst, rebind[IP].dst, rebind[IP].src, rebind[BOOTP].ciaddr) == (
        "ff:ff:ff:ff:ff:ff",
        "255.255.255.255",
        ADDR,
        ADDR,
    )
    assert "server_id" not in dhcp_options(rebind)
    events = client.pop_events()
    assert ("dhcp_rebind", {"assigned_ip": ADDR, "server_id": SERVER}) in events
    assert next(f for e, f in events if e == "dhcp_request")["state"] == "rebinding"
    rebinding: list[float] = []
    while client.state is DhcpState.REBINDING:
        now = client.next_deadline() or 0.0
        rebinding.append(now)
        frames = client.on_timer(now)
    assert rebinding == pytest.approx([9.76, 10.01])  # floor, then expiry
    discover = only(frames)
    assert msg_type(discover) == dhcp_wire.DISCOVER and dhcp_options(discover)["requested_addr"] == ADDR
    events = client.pop_events()
    assert ("dhcp_expire", {"address": ADDR}) in events and ("unbound", {}) in events
    assert client.state is DhcpState.SELECTING and client.lease is None


def test_late_timer_jumps_straight_to_expiry() -> None:
    client = make(NO_PROBE)
    bind(client, lease=10)
    client.pop_events()
    assert msg_type(only(client.on_timer(50.0))) == dhcp_wire.DISCOVER
    assert "dhcp_renew" not in types(client)


def test_init_reboot_with_remembered_address() -> None:
    client = make(remembered=ip(ADDR), remembered_valid=True)
    request = only(client.start(0.0))
    opts = dhcp_options(request)
    assert msg_type(request) == dhcp_wire.REQUEST and opts["requested_addr"] == ADDR and "server_id" not in opts
    assert (request[BOOTP].ciaddr, request[IP].dst) == ("0.0.0.0", "255.255.255.255")
    assert client.state is DhcpState.REBOOTING and client.binding
    request_event = next(f for e, f in client.pop_events() if e == "dhcp_request")
    assert (request_event["state"], request_event["server_id"]) == ("init-reboot", None)
    first = client.next_deadline() or 0.0
    assert 1.5 <= first <= 2.5
    assert msg_type(only(client.on_timer(first))) == dhcp_wire.REQUEST
    second = client.next_deadline() or 0.0
    assert 3.5 <= second - first <= 4.5
    discover = only(client.on_timer(second))  # dnsmasq stays silent for unknown INIT-REBOOT clients
    assert msg_type(discover) == dhcp_wire.DISCOVER and dhcp_options(discover)["requested_addr"] == ADDR


def test_init_reboot_ack_binds_after_the_check() -> None:
    client = make(remembered=ip(ADDR), remembered_valid=True)
    xid = only(client.start(0.0))[BOOTP].xid
    probe = only(client.handle(reply("ack", xid), 0.1))
    assert probe[ARP].pdst == ADDR and client.state is DhcpState.CHECKING


def test_init_reboot_nak_forgets_the_address() -> None:
    client = make(remembered=ip(ADDR), remembered_valid=True)
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("nak", xid, "0.0.0.0", lease=None), 0.1)
    discover = only(client.on_timer(client.next_deadline() or 0.0))
    assert "requested_addr" not in dhcp_options(discover)


def test_remembered_but_expired_asks_in_discover() -> None:
    client = make(remembered=ip(ADDR), remembered_valid=False)
    discover = only(client.start(0.0))
    assert msg_type(discover) == dhcp_wire.DISCOVER and dhcp_options(discover)["requested_addr"] == ADDR
    hidden = only(make(NO_OPTION_50, remembered=ip(ADDR)).start(0.0))
    assert "requested_addr" not in dhcp_options(hidden)  # the fingerprint never sends 50 in DISCOVER


def test_static_mode_asks_for_its_address_and_refuses_others() -> None:
    static = "10.77.0.200"
    client = make(NO_OPTION_50, static_address=ip(static))
    discover = only(client.start(0.0))
    assert dhcp_options(discover)["requested_addr"] == static  # even though the fingerprint lacks 50
    xid = discover[BOOTP].xid
    client.pop_events()
    assert client.handle(reply("offer", xid, ADDR), 0.1) == []
    assert client.state is DhcpState.SELECTING
    error = next(f for e, f in client.pop_events() if e == "log")
    assert error == {"level": "error", "message": f"DHCP server {SERVER} offered {ADDR}, static address is {static}"}
    retry = only(client.on_timer(client.next_deadline() or 0.0))
    assert dhcp_options(retry)["requested_addr"] == static
    request = only(client.handle(reply("offer", xid, static), 5.0))
    assert dhcp_options(request)["requested_addr"] == static


def test_release_is_unicast_and_stops() -> None:
    client = make(NO_PROBE)
    bind(client)
    client.pop_events()
    release = only(client.release(3.0))
    assert msg_type(release) == dhcp_wire.RELEASE
    assert (release.dst, release[IP].src, release[IP].dst, release[BOOTP].ciaddr) == (
        SERVER_MAC.hex(":"),
        ADDR,
        SERVER,
        ADDR,
    )
    assert [o[0] for o in release[DHCP].options if isinstance(o, tuple)] == ["message-type", "client_id", "server_id"]
    assert ("dhcp_release", {"address": ADDR, "server_id": SERVER}) in client.pop_events()
    assert client.state is DhcpState.STOPPED and client.lease is None and client.next_deadline() is None
    assert client.on_timer(1e9) == []


def test_release_without_a_lease_only_stops() -> None:
    client = make()
    client.start(0.0)
    assert client.release(1.0) == [] and client.state is DhcpState.STOPPED
    assert client.next_deadline() is None


def test_ack_without_lease_time_or_with_bad_t1_t2() -> None:
    client = make(NO_PROBE)
    xid = only(client.start(0.0))[BOOTP].xid
    client.handle(reply("offer", xid, lease=100), 0.0)
    bad_times = (("renewal_time", 90), ("rebinding_time", 50))  # T1 > T2: use RFC defaults
    client.handle(reply("ack", xid, lease=None, extra=bad_times), 0.1)
    lease = client.lease
    assert lease is not None and (lease.lease_time, lease.t1, lease.t2) == (100, 50.0, 87.5)  # the OFFER's time
    assert any("without lease time" in f.get("message", "") for _, f in client.pop_events())


def test_infinite_lease_has_no_deadline() -> None:
    client = make(NO_PROBE)
    bind(client, lease=dhcp_wire.INFINITE_LEASE)
    assert client.next_deadline() is None


def _timers(seed: int, lease: int = 3600) -> tuple[float, float, float]:
    client = make(NO_PROBE, seed=seed, fuzz=1.0)
    bind(client, lease=lease)
    assert client.lease is not None
    return client.lease.acquired, client.lease.t1, client.lease.t2


def test_t1_and_t2_carry_random_fuzz_reproducible_per_seed() -> None:
    """RFC 2131 4.4.5: T1/T2 SHOULD be fuzzed, so a fleet started together does not renew together."""
    timers = [_timers(seed) for seed in range(300)]
    t1s = [t1 - acquired for acquired, t1, _ in timers]
    t2s = [t2 - acquired for acquired, _, t2 in timers]
    assert all(1800 - 180 <= t <= 1800 + 180 for t in t1s) and all(3150 - 180 <= t <= 3150 + 180 for t in t2s)
    assert max(t1s) - min(t1s) > 300  # spread over minutes (+-5 % of the lease), not one second
    assert len({round(t) for t in t1s}) > 200
    assert all(t1 < t2 for t1, t2 in zip(t1s, t2s, strict=True))
    assert _timers(42) == _timers(42)  # the same seed, the same timers


def test_fuzz_keeps_the_order_of_short_lease_timers() -> None:
    for seed in range(200):
        acquired, t1, t2 = _timers(seed, lease=6)
        assert acquired < t1 < t2 < acquired + 6


def test_renewal_retransmissions_are_randomised_within_the_rfc_wait() -> None:
    waits = set()
    for seed in range(20):
        client = make(NO_PROBE, seed=seed, fuzz=1.0)
        bind(client, lease=3600)
        assert client.lease is not None
        t1, t2 = client.lease.t1, client.lease.t2
        client.on_timer(t1)
        deadline = client.next_deadline()
        assert deadline is not None and t1 + (t2 - t1) / 2 * 0.9 <= deadline <= t1 + (t2 - t1) / 2
        waits.add(round(deadline - t1, 3))
    assert len(waits) == 20


def test_timer_fuzz_is_the_devices_own_whatever_the_shared_generator_did() -> None:
    """Seeded per device: other devices drawing from the shared generator do not move its T1."""
    quiet = make(NO_PROBE, seed=1, fuzz=1.0, timer_seed=99)
    busy = make(NO_PROBE, seed=2, fuzz=1.0, timer_seed=99)
    bind(quiet, lease=3600)
    bind(busy, lease=3600)
    assert quiet.lease is not None and busy.lease is not None
    assert quiet.lease.t1 - quiet.lease.acquired == busy.lease.t1 - busy.lease.acquired
    other = make(NO_PROBE, seed=1, fuzz=1.0, timer_seed=100)
    bind(other, lease=3600)
    assert other.lease is not None and other.lease.t1 != quiet.lease.t1


def test_engine_gives_each_device_its_own_timer_seed() -> None:
    assert engine._device_seed(7, "cam-1") == engine._device_seed(7, "cam-1") != engine._device_seed(7, "cam-2")
