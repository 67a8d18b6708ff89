"""VLANs: tag bytes against Scapy, tags popped on receive and put back from PACKET_AUXDATA, the
engine keeping each VLAN a broadcast domain of its own, and the manifest fields validated.

The lab test (tests/lab/test_vlan_lab.py) runs the same against dnsmasq on VLAN subinterfaces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether

from iot_emulator.config import manifests
from iot_emulator.engine import engine, rawsock
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import vlan_tag
from tests.unit.fakes import RecordingLink

SERVER_MAC = "02:00:00:00:00:01"
SERVER_IP = "10.77.0.1"
ADDRESS = "10.77.0.10"  # both VLANs hand out the same address: they are different networks


def untagged() -> bytes:
    return bytes(
        Ether(src="02:00:00:00:00:aa", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / b"payload"
    )


def test_a_c_tag_is_the_bytes_scapy_builds() -> None:
    frame = untagged()
    tagged = vlan_tag.push(frame, vlan_tag.header(10, 5))
    plain = Ether(frame)
    expected = Ether(src=plain.src, dst=plain.dst) / Dot1Q(vlan=10, prio=5) / plain.payload
    assert tagged == bytes(expected)
    assert Ether(tagged)[Dot1Q].vlan == 10 and Ether(tagged)[Dot1Q].prio == 5


def test_a_qinq_stack_is_an_88a8_s_tag_outside_the_8100_c_tag() -> None:
    frame = untagged()
    tagged = vlan_tag.push(frame, vlan_tag.header(20, 3, 100))
    plain = Ether(frame)
    expected = Ether(src=plain.src, dst=plain.dst) / Dot1AD(vlan=100, prio=3) / Dot1Q(vlan=20, prio=3) / plain.payload
    assert tagged == bytes(expected)
    assert tagged[12:14] == b"\x88\xa8" and tagged[16:18] == b"\x81\x00"


def test_pop_gives_the_vlan_key_and_the_frame_as_it_was() -> None:
    frame = untagged()
    assert vlan_tag.pop(frame) == (None, frame)
    assert vlan_tag.pop(vlan_tag.push(frame, vlan_tag.header(10, 7))) == ((0, 10), frame)
    assert vlan_tag.pop(vlan_tag.push(frame, vlan_tag.header(20, 0, 100))) == ((100, 20), frame)
    priority_only = frame[:12] + struct.pack("!HH", 0x8100, 5 << 13) + frame[12:]  # 802.1p, VID 0
    assert vlan_tag.pop(priority_only) == (None, frame)
    assert vlan_tag.pop(frame[:12] + b"\x81\x00") == (None, frame[:12] + b"\x81\x00")  # too short: left alone


def auxdata(tci: int, tpid: int, status: int) -> list[tuple[int, int, bytes]]:
    return [(rawsock.SOL_PACKET, rawsock.PACKET_AUXDATA, rawsock._AUXDATA.pack(status, 60, 60, 0, 0, tci, tpid))]


def test_the_tag_the_kernel_took_off_is_put_back_from_auxdata() -> None:
    frame = untagged()
    valid = rawsock.TP_STATUS_VLAN_VALID | rawsock.TP_STATUS_VLAN_TPID_VALID
    inner = vlan_tag.push(frame, vlan_tag.header(20))
    retagged = rawsock.retag(inner, auxdata((3 << 13) | 100, 0x88A8, valid))  # the outer S-tag of a QinQ frame
    assert retagged == inner[:12] + struct.pack("!HH", 0x88A8, (3 << 13) | 100) + inner[12:]
    assert rawsock.retag(frame, auxdata(10, 0x8100, rawsock.TP_STATUS_VLAN_VALID)) == vlan_tag.push(
        frame, vlan_tag.header(10)
    )
    assert rawsock.retag(frame, auxdata(0, 0, 0)) == frame  # untagged
    assert rawsock.retag(frame, []) == frame


@pytest.mark.lab  # a raw socket: root, as the lab tests (not root: a clear failure, not a skip)
@pytest.mark.parametrize("when", ["opened-with-vlans", "turned-on-later"])
def test_a_real_socket_reads_a_tagged_frame_with_its_tag(when: str) -> None:
    """On loopback the kernel strips the tag of a frame sent with one; the link puts it back, also when
    the tags were asked for after the socket opened (the first device with a VLAN added at run time)."""
    link = rawsock.RawLink("lo", vlans=when == "opened-with-vlans")
    link.open()
    if when == "turned-on-later":
        assert not link.vlans
        link.read_vlan_tags()
    assert link.vlans
    assert link._sock is not None
    received: list[bytes] = []
    frame = vlan_tag.push(
        bytes(Ether(src="02:00:00:00:00:bb", dst="02:00:00:00:00:cc") / IP() / UDP() / b"tagged"),
        vlan_tag.header(42, 6),
    )
    sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sender.bind(("lo", 0))
        sender.send(frame)
        link._on_frame = received.append
        link._sock.setblocking(True)
        link._sock.settimeout(2)
        for _ in range(50):  # other loopback traffic may come first
            data, ancillary, _flags, address = link._sock.recvmsg(65535, rawsock._AUX_SPACE)
            if address[2] != rawsock.PACKET_OUTGOING and b"tagged" in data:
                received.append(rawsock.retag(data, ancillary))
                break
    finally:
        sender.close()
        link.close()
    assert received == [frame]


# -- the engine: each VLAN its own broadcast domain ---------------------------------------------


def configs(library: catalog.Library) -> list[manifests.DeviceConfig]:
    text = "".join(
        "---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\n"
        f"metadata: {{name: {name}}}\nspec: {{profile: tiny-cam, mac: '{mac}', {vlan}}}\n"
        for name, mac, vlan in (
            ("cam10", "02:10:00:00:00:01", "vlan: 10, vlanPriority: 5"),
            ("cam20", "02:20:00:00:00:01", "vlan: 20, outerVlan: 100"),
            ("plain", "02:30:00:00:00:01", "running: true"),
        )
    )
    return manifests.expand(manifests.parse_documents(text), library)


def server_reply(request: bytes, kind: str) -> bytes:
    """An OFFER or ACK for the (untagged view of the) request, broadcast."""
    req = Ether(request)
    options: list[Any] = [("message-type", kind), ("server_id", SERVER_IP), ("lease_time", 600)]
    options += [("subnet_mask", "255.255.255.0"), ("router", SERVER_IP), "end"]
    return bytes(
        Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=SERVER_IP, dst="255.255.255.255")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=req[BOOTP].xid, yiaddr=ADDRESS, chaddr=req[BOOTP].chaddr)
        / DHCP(options=options)
    )


@pytest.fixture
async def running(tiny_library: catalog.Library) -> AsyncIterator[tuple[engine.Engine, RecordingLink]]:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library), interface="lab0", stats_interval=60, seed=7)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    yield eng, link
    stop.set()
    await task


def discovers(link: RecordingLink) -> dict[str, bytes]:
    """Source MAC -> the DISCOVER as sent (tagged)."""
    out = {}
    for frame in link.sent:
        pkt = Ether(frame)
        if DHCP in pkt and ("message-type", 1) in pkt[DHCP].options:
            out[pkt.src] = frame
    return out


async def test_frames_leave_tagged_with_the_device_vlan_and_priority(running: Any) -> None:
    _eng, link = running
    sent = discovers(link)
    cam10, cam20, plain = (Ether(sent[m]) for m in ("02:10:00:00:00:01", "02:20:00:00:00:01", "02:30:00:00:00:01"))
    assert cam10.type == 0x8100 and cam10[Dot1Q].vlan == 10 and cam10[Dot1Q].prio == 5 and Dot1AD not in cam10
    assert cam20.type == 0x88A8 and cam20[Dot1AD].vlan == 100 and cam20[Dot1Q].vlan == 20
    assert Dot1Q not in plain and plain.type == 0x0800


async def bind(eng: engine.Engine, link: RecordingLink, mac: str, header: bytes) -> None:
    """Answer the device's DISCOVER and REQUEST with replies tagged `header`, until it is bound."""
    dev = next(d for d in eng.devices if d.config.mac == mac)
    for message_type, kind in ((1, "offer"), (3, "ack")):
        for _ in range(100):
            found = [
                f
                for f in link.sent
                if Ether(f).src == mac and DHCP in Ether(f) and ("message-type", message_type) in Ether(f)[DHCP].options
            ]
            if found:
                break
            link.sent_event.clear()
            await asyncio.wait_for(link.sent_event.wait(), 2)
        _key, request = vlan_tag.pop(found[-1])
        link.deliver(vlan_tag.push(server_reply(request, kind), header))
    assert dev.ip == bytes(int(x) for x in ADDRESS.split("."))


async def test_each_vlan_is_its_own_broadcast_domain(running: Any) -> None:
    eng, link = running
    tag10, tag20 = vlan_tag.header(10), vlan_tag.header(20, 0, 100)
    # VLAN 20's server answering cam10 (its chaddr) must not reach it: it is on another VLAN.
    cam10 = eng.devices[0]
    request = vlan_tag.pop(discovers(link)["02:10:00:00:00:01"])[1]
    link.deliver(vlan_tag.push(server_reply(request, "offer"), tag20))
    link.deliver(server_reply(request, "offer"))  # nor the untagged LAN's
    assert cam10.dhcp.state.name == "SELECTING"
    await bind(eng, link, "02:10:00:00:00:01", tag10)
    await bind(eng, link, "02:20:00:00:00:01", tag20)  # the same address, on the other VLAN
    link.sent.clear()
    who_has = bytes(
        Ether(src=SERVER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=SERVER_MAC, psrc=SERVER_IP, pdst=ADDRESS)
    )
    link.deliver(vlan_tag.push(who_has, tag10))
    answers = [Ether(f) for f in link.sent if ARP in Ether(f)]
    assert [(a[ARP].hwsrc, a[Dot1Q].vlan) for a in answers] == [("02:10:00:00:00:01", 10)]
    link.sent.clear()
    link.deliver(who_has)  # untagged: nobody there owns the address
    link.deliver(vlan_tag.push(who_has, vlan_tag.header(30)))  # a VLAN we are not in
    assert not [f for f in link.sent if ARP in Ether(f)]
    link.deliver(vlan_tag.push(who_has, tag20))
    answers = [Ether(f) for f in link.sent if ARP in Ether(f)]
    assert [(a[ARP].hwsrc, a[Dot1AD].vlan, a[Dot1Q].vlan) for a in answers] == [("02:20:00:00:00:01", 100, 20)]


def test_unicast_to_a_device_on_another_vlan_is_not_delivered(tiny_library: catalog.Library) -> None:
    link = RecordingLink()
    eng = engine.Engine(link, configs(tiny_library), interface="lab0", stats_interval=60, seed=7)
    fed: list[str] = []
    eng._feed = lambda dev, frame: fed.append(dev.device_id)  # type: ignore[method-assign]
    frame = bytes(Ether(src=SERVER_MAC, dst="02:10:00:00:00:01") / IP(src=SERVER_IP, dst=ADDRESS) / UDP())
    eng._on_frame(vlan_tag.push(frame, vlan_tag.header(20)))
    eng._on_frame(frame)
    assert fed == []
    eng._on_frame(vlan_tag.push(frame, vlan_tag.header(10)))
    assert fed == ["cam10"]
    assert eng.mac_in_use("02:20:00:00:00:01") and not eng.mac_in_use("02:99:00:00:00:01")


# -- manifests -----------------------------------------------------------------------------------


def fleet(template: str) -> str:
    return (
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: cams}\n"
        f"spec: {{replicas: 2, template: {{profile: tiny-cam, {template}}}}}\n"
    )


def test_a_fleet_vlan_tags_every_member(tiny_library: catalog.Library) -> None:
    devices = manifests.expand(manifests.parse_documents(fleet("vlan: 20, vlanPriority: 6")), tiny_library)
    assert [d.vlan for d in devices] == [manifests.Vlan(20, 6, None)] * 2


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("vlan: 4095", "spec.template.vlan: Input should be less than or equal to 4094"),
        ("vlan: 0", "spec.template.vlan: Input should be greater than or equal to 1"),
        ("vlan: 10, vlanPriority: 8", "spec.template.vlanPriority: Input should be less than or equal to 7"),
        ("outerVlan: 100", "spec.template: outerVlan (QinQ) needs vlan, the inner 802.1Q tag"),
        ("vlanPriority: 3", "spec.template: vlanPriority needs vlan"),
    ],
)
def test_bad_vlan_fields_are_named(template: str, problem: str) -> None:
    with pytest.raises(manifests.ManifestError) as err:
        manifests.parse_documents(fleet(template), "f.yaml")
    assert problem in str(err.value)


async def test_the_first_device_added_with_a_vlan_turns_tag_reading_on(tiny_library: catalog.Library) -> None:
    """A process started without VLANs reads frames the cheap way until a device with a VLAN joins it."""
    cam10, _cam20, plain = configs(tiny_library)
    link = RecordingLink()
    eng = engine.Engine(link, [plain], interface="lab0", stats_interval=60, seed=7)
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    await asyncio.sleep(0)
    eng.add_devices([dataclasses.replace(plain, device_id="plain-2", mac="02:30:00:00:00:02")])
    assert not link.reads_vlan_tags
    eng.add_devices([cam10])
    assert link.reads_vlan_tags
    stop.set()
    await task


@pytest.mark.lab  # network namespaces and raw sockets: root
def test_the_link_does_not_read_what_other_processes_send_on_its_interface() -> None:
    """PACKET_IGNORE_OUTGOING: the kernel never loops a socket's own frames back to it, but it queues every
    frame another socket sends on the interface as PACKET_OUTGOING: with N emulator processes on one
    interface (the dashboard's shards), each read all the others' sends. Now only the wire's frames come."""
    from iot_emulator.lab import netns
    from tests.conftest import new_lab_name

    with netns.veth_pair(new_lab_name(), "own0", "own1") as (ns_a, ns_b):
        link = rawsock.RawLink("own0", netns=ns_a)
        link.open()
        other = netns.socket_in(ns_a, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawsock.ETH_P_ALL))
        peer = netns.socket_in(ns_b, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(rawsock.ETH_P_ALL))
        try:
            other.bind(("own0", 0))
            peer.bind(("own1", 0))
            assert link._sock is not None
            link._sock.setblocking(True)
            link._sock.settimeout(2)
            other.send(bytes(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb") / IP() / UDP() / b"shard"))
            peer.send(bytes(Ether(src="02:00:00:00:00:bb", dst="02:00:00:00:00:aa") / IP() / UDP() / b"wire"))
            read: list[bytes] = []
            while not read or b"wire" not in read[-1]:  # anything else the kernels send may come first
                read.append(link._sock.recvfrom(65535)[0])
            assert not [frame for frame in read if b"shard" in frame]  # sent before the wire's, never queued
        finally:
            for sock in (other, peer):
                sock.close()
            link.close()
