"""`GET /capture`: live pcap streams of some devices, served for real on a unix socket and on TCP."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from iot_emulator.endpoints import capture, http_api
from tests.unit.test_http_api import FakeEngine

DEADLINE = 10.0  # a guard against hangs, never a pace
TOKEN = "t" * 32
CAM1, CAM2, OTHER = bytes.fromhex("001234567801"), bytes.fromhex("001234567802"), bytes.fromhex("02aabbccddee")
BROADCAST = b"\xff" * 6


def frame(dst: bytes, src: bytes, tag: int) -> bytes:
    return dst + src + b"\x08\x00" + bytes([tag]) * 46


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.on_frame: Callable[[bytes], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        self.on_frame = on_frame

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def flush(self, timeout: float = 1.0) -> None: ...

    def close(self) -> None: ...

    def read_vlan_tags(self) -> None: ...


def records(pcap: bytes) -> list[bytes]:
    """The frames of a classic pcap; asserts its header."""
    magic, major, minor, _, _, _, linktype = struct.unpack("<IHHiIII", pcap[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    out, at = [], 24
    while at < len(pcap):
        _, _, incl, orig = struct.unpack("<IIII", pcap[at : at + 16])
        assert incl == orig
        out.append(pcap[at + 16 : at + 16 + incl])
        at += 16 + incl
    assert at == len(pcap)
    return out


class Rig:
    """A tap around a fake link, the endpoint on a unix socket and on TCP, one session each."""

    def __init__(self, tap: capture.CaptureTap, unix: aiohttp.ClientSession, tcp: aiohttp.ClientSession, url: str):
        self.tap, self.unix, self.tcp, self.url = tap, unix, tcp, url
        self.received: list[bytes] = []

    async def header_of(self, resp: aiohttp.ClientResponse) -> bytes:
        async with asyncio.timeout(DEADLINE):
            return await resp.content.readexactly(24)

    async def running(self, count: int) -> None:
        """Waits until `count` captures run (the handler registers them before the header is sent)."""
        async with asyncio.timeout(DEADLINE):
            while len(self.tap.captures) != count:
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    engine = FakeEngine()
    link = FakeLink()
    tap = capture.CaptureTap(link)
    received: list[bytes] = []
    tap.start(asyncio.get_running_loop(), received.append)
    roster = [("cam1", None, CAM1), ("cam2", "cams", CAM2)]
    sock = str(tmp_path / "emu.sock")
    server = await http_api.start(
        engine, "127.0.0.1", 0, unix_path=sock, tap=tap, roster=lambda: roster, capture_token=TOKEN
    )
    try:
        async with (
            aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=sock)) as unix,
            aiohttp.ClientSession() as tcp,
        ):
            r = Rig(tap, unix, tcp, f"http://127.0.0.1:{server.port}")
            r.received = received
            assert link.on_frame is not None
            yield r
    finally:
        await server.close()


async def test_a_capture_holds_the_frames_from_and_to_its_device_only(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        assert r.tap.captures == []  # idle: nothing registered, nothing kept
        r.tap.send(frame(BROADCAST, CAM1, 0))  # before the capture: not in it
        async with r.unix.get("http://emu/capture", params={"seconds": "0.5", "device": "cam1"}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/vnd.tcpdump.pcap"
            head = await r.header_of(resp)
            wanted = [frame(BROADCAST, CAM1, 1), frame(CAM1, OTHER, 2)]
            r.tap.send(wanted[0])
            r.tap.send(frame(BROADCAST, CAM2, 3))
            r.tap.send(frame(OTHER, OTHER, 4))
            inner = r.tap.inner
            assert isinstance(inner, FakeLink) and inner.on_frame is not None
            inner.on_frame(wanted[1])  # received from the wire
            async with asyncio.timeout(DEADLINE):
                body = head + await resp.read()  # ends at the deadline
        assert records(body) == wanted
        assert r.tap.captures == []
        assert len(r.received) == 1  # the received frame still reached the engine


def dhcp_ack_broadcast(chaddr: bytes) -> bytes:
    """A DHCPACK to ff:ff:ff:ff:ff:ff (the client set the broadcast flag): its MAC is only in chaddr."""
    ip = bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 1, 1, 255, 255, 255, 255])
    udp = bytes([0, 67, 0, 68, 0, 0, 0, 0])
    bootp = bytes([2, 1, 6, 0]) + bytes(24) + chaddr + bytes(10) + bytes(192) + b"\x63\x82\x53\x63"
    return BROADCAST + OTHER + b"\x08\x00" + ip + udp + bootp


def test_dhcp_replies_broadcast_to_a_device_are_its_frames() -> None:
    assert capture.dhcp_reply_to(dhcp_ack_broadcast(CAM1)) == CAM1
    assert capture.dhcp_reply_to(frame(BROADCAST, OTHER, 1)) is None
    assert capture.dhcp_reply_to(dhcp_ack_broadcast(CAM1)[:60]) is None
    cap = capture.Capture(capture.Request(frozenset({CAM1}), 1.0), 0.0)
    cap.offer(dhcp_ack_broadcast(CAM2), 0.0)
    cap.offer(dhcp_ack_broadcast(CAM1), 0.0)
    assert cap.frames == 1


async def test_two_captures_at_once_and_a_fleet_selector(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        one = await r.unix.get("http://emu/capture", params={"seconds": "0.5", "device": "cam1"})
        two = await r.unix.get("http://emu/capture", params={"seconds": "0.5", "fleet": "cams"})
        three = await r.unix.get("http://emu/capture", params={"seconds": "0.5", "all": "true"})
        heads = [await r.header_of(one), await r.header_of(two), await r.header_of(three)]
        frames = [frame(BROADCAST, CAM1, 1), frame(BROADCAST, CAM2, 2), frame(BROADCAST, OTHER, 3)]
        for f in frames:
            r.tap.send(f)
        async with asyncio.timeout(DEADLINE):
            bodies = [heads[0] + await one.read(), heads[1] + await two.read(), heads[2] + await three.read()]
        assert records(bodies[0]) == frames[:1]
        assert records(bodies[1]) == frames[1:2]
        assert records(bodies[2]) == frames[:2]


async def test_the_byte_cap_ends_the_capture_before_its_deadline(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        params = {"seconds": "300", "mac": "00:12:34:56:78:01", "max_bytes": "1024"}
        async with r.unix.get("http://emu/capture", params=params) as resp:
            head = await r.header_of(resp)
            for i in range(20):  # 76 bytes each: 13 fit under 1024
                r.tap.send(frame(BROADCAST, CAM1, i))
            async with asyncio.timeout(DEADLINE):
                body = head + await resp.read()
        assert len(records(body)) == (1024 - 24) // 76
        assert len(body) <= 1024


async def test_the_reader_leaving_ends_the_capture(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        resp = await r.unix.get("http://emu/capture", params={"seconds": "300", "device": "cam1"})
        await r.header_of(resp)
        assert len(r.tap.captures) == 1
        resp.close()
        await r.running(0)


async def test_tcp_needs_the_token_in_its_header(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        params = {"seconds": "0.1", "device": "cam1"}
        for headers in ({}, {"X-Iotemu-Token": "wrong"}):
            async with r.tcp.get(f"{r.url}/capture", params=params, headers=headers) as resp:
                assert resp.status == 403
                assert "X-Iotemu-Token" in (await resp.json())["error"]
        async with r.tcp.get(f"{r.url}/capture", params=params, headers={"X-Iotemu-Token": TOKEN}) as resp:
            assert resp.status == 200
            assert records(await resp.read()) == []


async def test_tcp_without_a_configured_token_is_refused(tmp_path: Path) -> None:
    tap = capture.CaptureTap(FakeLink())
    server = await http_api.start(FakeEngine(), "127.0.0.1", 0, tap=tap, roster=lambda: [])
    try:
        async with aiohttp.ClientSession() as s:
            url = f"http://127.0.0.1:{server.port}/capture?seconds=1&device=cam1"
            async with s.get(url, headers={"X-Iotemu-Token": ""}) as resp:
                assert resp.status == 403
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"device": "cam1"}, 422, "seconds"),
        ({"seconds": "301", "device": "cam1"}, 422, "seconds"),
        ({"seconds": "0", "device": "cam1"}, 422, "seconds"),
        ({"seconds": "nan", "device": "cam1"}, 422, "seconds"),
        ({"seconds": "1", "device": "cam1", "max_bytes": str(10**12)}, 422, "max_bytes"),
        ({"seconds": "1", "mac": "01:00:5e:00:00:01"}, 422, "mac"),
        ({"seconds": "1"}, 422, "device"),
        ({"seconds": "1", "device": "cam1", "bogus": "1"}, 422, "bogus"),
        ({"seconds": "1", "device": "nope"}, 404, "nope"),
    ],
)
async def test_bad_queries_are_refused_naming_the_field(
    tmp_path: Path, params: dict[str, str], status: int, names: str
) -> None:
    async with rig(tmp_path) as r, r.unix.get("http://emu/capture", params=params) as resp:
        assert resp.status == status
        body: dict[str, Any] = await resp.json()
        text = " ".join(body.get("errors", [])) or body["error"]
        assert names in text
        assert r.tap.captures == []


async def test_too_many_selectors_are_refused(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        query = "seconds=1&" + "&".join(f"device=d{i}" for i in range(257))
        async with r.unix.get(f"http://emu/capture?{query}") as resp:
            assert resp.status == 422
            assert "device" in (await resp.json())["errors"][0]


async def test_more_than_the_concurrent_limit_is_busy(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        open_ = [
            await r.unix.get("http://emu/capture", params={"seconds": "300", "device": "cam1"})
            for _ in range(capture.MAX_CAPTURES)
        ]
        for resp in open_:
            await r.header_of(resp)
        async with r.unix.get("http://emu/capture", params={"seconds": "1", "device": "cam1"}) as resp:
            assert resp.status == 429
        for resp in open_:
            resp.close()
        await r.running(0)
