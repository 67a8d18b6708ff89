"""The engine's receive path and lifecycle, with a recording link and Scapy-built server replies.

The DHCP replies here are built by the test to drive the dispatch code; the DHCP client itself
is tested against real servers in tests/lab.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from iot_emulator import runner
from iot_emulator.config import manifests
from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from iot_emulator.reporting import message_models
from tests.unit.fakes import RecordingLink

SERVER_MAC = "02:00:00:00:00:01"
SERVER_IP = "10.77.0.1"


def configs(library: catalog.Library, count: int) -> list[manifests.DeviceConfig]:
    text = (
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: cams}\n"
        f"spec: {{replicas: {count}, template: {{profile: tiny-cam}}}}\n"
    )
    return manifests.expand(manifests.parse_documents(text), library)


def reply(request: bytes, kind: str, address: str) -> bytes:
    """The server's answer to a DISCOVER (offer) or REQUEST (ack), broadcast as dnsmasq does."""
    req = Ether(request)
    options: list[Any] = [("message-type", kind), ("server_id", SERVER_IP), ("lease_time", 600)]
    options += [("subnet_mask", "255.255.240.0"), ("router", SERVER_IP), "end"]
    frame = (
        Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=SERVER_IP, dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=req[BOOTP].xid, yiaddr=address, chaddr=req[BOOTP].chaddr)
        / DHCP(options=options)
    )
    return bytes(frame)


class Harness:
    def __init__(self, eng: engine.Engine, link: RecordingLink) -> None:
        self.engine = eng
        self.link = link
        self.messages: list[dict[str, Any]] = []
        eng.events.add(self.messages.append)

    def dhcp_frames(self, message_type: int) -> list[bytes]:
        out = []
        for frame in self.link.sent:
            pkt = Ether(frame)
            if DHCP in pkt and ("message-type", message_type) in pkt[DHCP].options:
                out.append(frame)
        return out

    async def bind_all(self, base: str = "10.77.0.") -> None:
        """Answer every DISCOVER and REQUEST until each device is bound."""
        answered: set[bytes] = set()
        for _ in range(200):
            self.link.sent_event.clear()
            fresh = [f for f in self.dhcp_frames(1) + self.dhcp_frames(3) if f not in answered]
            for frame in fresh:
                if frame in answered:
                    continue
                answered.add(frame)
                mac = Ether(frame)[Ether].src
                index = [d.config.mac for d in self.engine.devices].index(mac)
                kind = "offer" if ("message-type", 1) in Ether(frame)[DHCP].options else "ack"
                self.link.deliver(reply(frame, kind, f"{base}{10 + index}"))
            if all(d.ip is not None for d in self.engine.devices):
                return
            if not fresh:
                await asyncio.wait_for(self.link.sent_event.wait(), 2)
        raise AssertionError("devices did not bind")


@pytest.fixture
async def harness(tiny_library: catalog.Library) -> AsyncIterator[Harness]:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library, 3), interface="lab0", stats_interval=60, seed=7)
    h = Harness(eng, link)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    yield h
    stop.set()
    await task
    for message in h.messages:  # every message fits its model, or the test errors naming the field
        message_models.parse(message)


async def test_every_device_sends_a_discover_and_binds(harness: Harness) -> None:
    assert len(harness.dhcp_frames(1)) == 3
    await harness.bind_all()
    assert sorted(d.ip for d in harness.engine.devices if d.ip) == [bytes([10, 77, 0, n]) for n in (10, 11, 12)]
    acks = [m for m in harness.messages if m["type"] == "dhcp_ack"]
    assert {m["device_id"] for m in acks} == {"cams-0000", "cams-0001", "cams-0002"}


async def test_arp_who_has_is_answered_by_the_owner_only(harness: Harness) -> None:
    await harness.bind_all()
    harness.link.sent.clear()
    who_has = Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=SERVER_MAC, psrc=SERVER_IP, pdst="10.77.0.11"
    )
    harness.link.deliver(bytes(who_has))
    replies = [Ether(f) for f in harness.link.sent if ARP in Ether(f)]
    assert len(replies) == 1
    answer = replies[0]
    owner = harness.engine.devices[1]
    assert answer[ARP].op == 2 and answer[ARP].psrc == "10.77.0.11" and answer[ARP].hwsrc == owner.config.mac
    assert answer[Ether].dst == SERVER_MAC and answer[ARP].pdst == SERVER_IP


async def test_ping_is_answered_with_the_profile_ttl(harness: Harness) -> None:
    await harness.bind_all()
    harness.link.sent.clear()
    dev = harness.engine.devices[2]
    ping = (
        Ether(src=SERVER_MAC, dst=dev.config.mac) / IP(src=SERVER_IP, dst="10.77.0.12") / ICMP(id=9, seq=4) / b"hello"
    )
    harness.link.deliver(bytes(ping))
    [frame] = harness.link.sent
    pong = Ether(frame)
    assert pong[ICMP].type == 0 and pong[ICMP].id == 9 and pong[ICMP].seq == 4 and bytes(pong[ICMP].payload) == b"hello"
    assert pong[IP].src == "10.77.0.12" and pong[IP].dst == SERVER_IP and pong[IP].ttl == dev.config.profile.ip_ttl
    assert pong[ICMP].chksum == ICMP(bytes(pong[ICMP])).chksum  # Scapy agrees with our checksum
    assert dev.counters.protocols["icmp"] == 1


async def test_stop_releases_every_lease_and_reports(harness: Harness) -> None:
    await harness.bind_all()
    harness.link.sent.clear()
    await harness.engine.shutdown()
    releases = harness.dhcp_frames(7)
    assert len(releases) == 3
    for frame in releases:
        pkt = Ether(frame)
        assert pkt[IP].dst == SERVER_IP and pkt[Ether].dst == SERVER_MAC  # unicast to the server
    stopped = [m for m in harness.messages if m["type"] == "stopped"]
    assert len(stopped) == 3
    last = {m["device_id"]: i for i, m in enumerate(harness.messages) if m["type"] == "stats"}
    assert all(last[m["device_id"]] < harness.messages.index(m) for m in stopped)  # final stats, then stopped
    assert harness.link.closed


async def test_window_limits_exchanges_in_flight(tiny_library: catalog.Library) -> None:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library, 50), stats_interval=60, window=8, seed=1)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    h = Harness(eng, link)
    assert len(h.dhcp_frames(1)) == 8  # the other 42 wait for a slot
    frame = h.dhcp_frames(1)[0]
    link.deliver(reply(frame, "offer", "10.77.0.99"))  # one exchange moves to REQUESTING: still in flight
    assert len(h.dhcp_frames(1)) == 8
    request = h.dhcp_frames(3)[0]
    link.deliver(reply(request, "ack", "10.77.0.99"))  # bound: a slot frees, one more device starts
    assert len(h.dhcp_frames(1)) == 9
    stop.set()
    await task


async def test_a_host_claiming_a_checked_address_makes_that_device_decline(tiny_library: catalog.Library) -> None:
    probing = tiny_library.get("tiny-cam").model_copy(
        update={
            "dhcp": tiny_library.get("tiny-cam").dhcp.model_copy(
                update={"arp_probe": catalog.ArpProbe(count=1, wait=5)}
            )
        }
    )
    link = RecordingLink()
    eng = engine.Engine(link, configs(catalog.Library([probing]), 2), stats_interval=60, seed=5)
    h = Harness(eng, link)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    for frame in h.dhcp_frames(1):
        index = [d.config.mac for d in eng.devices].index(Ether(frame)[Ether].src)
        link.deliver(reply(frame, "offer", f"10.77.0.{20 + index}"))
    for frame in h.dhcp_frames(3):
        index = [d.config.mac for d in eng.devices].index(Ether(frame)[Ether].src)
        link.deliver(reply(frame, "ack", f"10.77.0.{20 + index}"))
    assert all(d.dhcp.state.name == "CHECKING" for d in eng.devices)
    intruder = "02:00:00:00:00:99"
    claim = Ether(src=intruder, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=2, hwsrc=intruder, psrc="10.77.0.21", pdst="10.77.0.21"
    )
    link.deliver(bytes(claim))
    declines = [Ether(f) for f in h.dhcp_frames(4)]
    assert [d[Ether].src for d in declines] == [eng.devices[1].config.mac]  # only the device checking .21
    assert eng.devices[0].dhcp.state.name == "CHECKING"
    stop.set()
    await task


async def test_pings_are_answered_without_rescheduling_but_a_resolved_neighbour_is_not(harness: Harness) -> None:
    await harness.bind_all()
    dev = harness.engine.devices[0]
    ping = Ether(src=SERVER_MAC, dst=dev.config.mac) / IP(src=SERVER_IP, dst="10.77.0.10") / ICMP() / b"x"
    harness.link.deliver(bytes(ping))
    assert dev.stateless  # a reply, and no timer of the device moved
    dev.host.send_udp("dns", bytes([10, 77, 0, 99]), 40000, 53, b"q")  # waits for 10.77.0.99's MAC
    assert dev.host.next_deadline() is not None
    is_at = Ether(src="02:00:00:00:00:63", dst=dev.config.mac) / ARP(
        op=2, hwsrc="02:00:00:00:00:63", psrc="10.77.0.99", hwdst=dev.config.mac, pdst="10.77.0.10"
    )
    harness.link.sent.clear()
    harness.link.deliver(bytes(is_at))
    assert not dev.stateless  # the waiting packet left and its ARP retry was cancelled
    sent_ip = [Ether(f) for f in harness.link.sent if IP in Ether(f)]
    assert [(p[Ether].dst, p[IP].dst) for p in sent_ip] == [("02:00:00:00:00:63", "10.77.0.99")]


class TimedLink(RecordingLink):
    """Records when each DHCP DISCOVER left, and says when `count` of them have."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.discovers: list[float] = []
        self.all_sent = asyncio.Event()

    def send(self, frame: bytes) -> None:
        super().send(frame)
        pkt = Ether(frame)
        if pkt.haslayer(BOOTP) and pkt[IP].dst == "255.255.255.255" and pkt[BOOTP].ciaddr == "0.0.0.0":
            self.discovers.append(asyncio.get_running_loop().time())
            if len(self.discovers) >= self.count:
                self.all_sent.set()


async def test_start_rate_spaces_device_starts(tiny_library: catalog.Library) -> None:
    """`--start-rate 50`: a real branch server sees at most 50 new devices a second, evenly spaced."""
    link = TimedLink(6)
    eng = engine.Engine(link, configs(tiny_library, 6), stats_interval=60, window=64, start_rate=50, seed=1)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.wait_for(link.all_sent.wait(), 10)
    gaps = [b - a for a, b in zip(link.discovers, link.discovers[1:], strict=False)]
    assert len(gaps) == 5 and all(gap >= 1 / 50 - 1e-3 for gap in gaps), gaps
    stop.set()
    await task


def test_start_rate_defaults_to_a_limit_on_a_host_interface_only() -> None:
    assert runner.RunOptions(interface="eth1").effective_start_rate == runner.LAN_START_RATE
    assert runner.RunOptions(interface="lab0", netns="lab-dev").effective_start_rate is None
    assert runner.RunOptions(interface="eth1", start_rate=0).effective_start_rate is None
    assert runner.RunOptions(interface="eth1", start_rate=5).effective_start_rate == 5


def test_the_lease_cache_is_written_at_most_a_twentieth_of_the_time(
    tiny_library: catalog.Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each write merges and rewrites the whole file: after a write that took 0.1 s, the next one waits 2 s
    (SAVE_SHARE 5%), and never less than SAVE_DELAY after a quick one."""
    clock = [100.0]

    class SlowCache:
        dirty = True
        took = 0.1

        def save(self) -> None:
            clock[0] += self.took

    monkeypatch.setattr(engine.time, "perf_counter", lambda: clock[0])
    eng = engine.Engine(RecordingLink(), configs(tiny_library, 1), stats_interval=60, seed=1)
    cache = SlowCache()
    eng.cache = cache  # type: ignore[assignment]
    eng._save_cache()
    assert eng._save_delay == pytest.approx(0.1 / engine.SAVE_SHARE) == pytest.approx(2.0)
    cache.took = 0.001
    eng._save_cache()
    assert eng._save_delay == engine.SAVE_DELAY
