"""The one AF_PACKET socket a process uses for all its devices, driven by the asyncio loop.

The kernel never loops a socket's own frames back to it, but every frame another socket sends on
the interface comes to an ETH_P_ALL socket as PACKET_OUTGOING: with several emulator processes on
one interface (the dashboard's shards), each would read all the others' sends. The socket asks the
kernel not to queue them (PACKET_IGNORE_OUTGOING, Linux 4.20); any that still come are dropped here. Frames between two
devices of the same process never come back at all; the engine delivers those itself.
See ../shared/notes/raw-socket-facts.md.

VLAN tags: the kernel takes the outer 802.1Q/802.1ad tag off a received frame (skb_vlan_untag,
or the NIC's VLAN offload) before an AF_PACKET socket reads it, and reports it only in the
PACKET_AUXDATA control message (tp_vlan_tci, tp_vlan_tpid). With `vlans` on, the link asks for
that message and puts the tag back, so the engine reads frames as they were on the wire.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from iot_emulator import setns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_AUXDATA = 8
PACKET_IGNORE_OUTGOING = 23
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
_AUXDATA = struct.Struct("=IIIHHHH")
"""struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci, vlan_tpid (linux/if_packet.h)."""
_AUX_SPACE = socket.CMSG_SPACE(_AUXDATA.size)
PACKET_MR_PROMISC = 1
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
BUFFER_BYTES = 8 * 1024 * 1024


class LinkError(OSError):
    """The interface cannot be used: it does not exist, or raw sockets are not permitted."""


@contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the body inside network namespace `name`, then come back.

    Sockets keep the namespace they were created in, so the raw socket can live in a lab's
    device namespace while the HTTP endpoint listens in the caller's.
    """
    if not name:
        yield
        return
    with contextlib.ExitStack() as inside:
        try:
            inside.enter_context(setns.entered(name))
        except OSError as exc:  # entering only: the body's own errors pass as they are
            raise LinkError(exc.errno or 0, exc.strerror or str(exc)) from None
        yield


class RawLink:
    """Send and receive whole Ethernet frames on one interface."""

    def __init__(
        self, interface: str, *, netns: str | None = None, promiscuous: bool = False, vlans: bool = False
    ) -> None:
        self.interface = interface
        self.netns = netns
        self.promiscuous = promiscuous
        self.vlans = vlans
        """Give received frames their VLAN tag back (PACKET_AUXDATA); off, tagged frames read untagged."""
        self.frames_sent = 0
        self.send_errors = 0
        self._sock: socket.socket | None = None
        self._backlog: collections.deque[bytes] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_frame: Callable[[bytes], None] | None = None

    def open(self) -> None:
        """Create and bind the socket; LinkError names the cause (exit code 2 in the CLI)."""
        with in_netns(self.netns):
            try:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            except PermissionError:
                raise LinkError(
                    errno.EPERM, "no permission for raw sockets: run as root or grant CAP_NET_RAW"
                ) from None
            try:
                sock.bind((self.interface, 0))
            except OSError as exc:
                sock.close()
                where = f" in network namespace {self.netns!r}" if self.netns else ""
                if exc.errno in (errno.ENODEV, errno.ENXIO):
                    raise LinkError(exc.errno, f"interface {self.interface!r} does not exist{where}") from None
                raise LinkError(exc.errno or 0, f"cannot bind to interface {self.interface!r}: {exc}") from None
            if self.promiscuous:  # a physical NIC filters MACs that are not its own
                mreq = struct.pack("iHH8s", socket.if_nametoindex(self.interface), PACKET_MR_PROMISC, 0, b"")
                sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
            if self.vlans:
                sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            with contextlib.suppress(OSError):  # older kernels: `_readable` drops them
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.setblocking(False)
        for option in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
            with contextlib.suppress(OSError):  # without CAP_NET_ADMIN the kernel's default stays
                sock.setsockopt(socket.SOL_SOCKET, option, BUFFER_BYTES)
        self._sock = sock

    def read_vlan_tags(self) -> None:
        """From now on, give received frames their VLAN tag back (a device with a VLAN was added)."""
        if self.vlans:
            return
        self.vlans = True
        if self._sock is not None:
            self._sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)

    def start(self, loop: asyncio.AbstractEventLoop, on_frame: Callable[[bytes], None]) -> None:
        assert self._sock is not None, "open() first"
        self._loop = loop
        self._on_frame = on_frame
        loop.add_reader(self._sock.fileno(), self._readable)

    def send(self, frame: bytes) -> None:
        """Queue-free fast path; frames the kernel cannot take now wait for writability."""
        assert self._sock is not None
        if self._backlog:
            self._backlog.append(frame)
            return
        try:
            self._sock.send(frame)
            self.frames_sent += 1
        except BlockingIOError:
            self._backlog.append(frame)
            if self._loop is not None:
                self._loop.add_writer(self._sock.fileno(), self._writable)
        except OSError:
            self.send_errors += 1

    def flush(self, timeout: float = 1.0) -> None:
        """Push out the backlog synchronously (used on stop, after the loop stops reading)."""
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            while self._backlog:
                self._sock.send(self._backlog.popleft())
                self.frames_sent += 1
        except OSError:
            self.send_errors += len(self._backlog)
            self._backlog.clear()
        finally:
            self._sock.setblocking(False)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        self._sock = None

    def _readable(self) -> None:
        assert self._sock is not None and self._on_frame is not None
        if self.vlans:
            self._readable_tagged()
            return
        recv = self._sock.recvfrom
        for _ in range(512):  # bounded, so timers and other callbacks get their turn
            try:
                frame, address = recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:
                continue
            self._on_frame(frame)

    def _readable_tagged(self) -> None:
        """`_readable` with the tag the kernel took off put back (recvmsg costs more: only with `vlans`)."""
        assert self._sock is not None and self._on_frame is not None
        recv = self._sock.recvmsg
        for _ in range(512):
            try:
                frame, ancillary, _flags, address = recv(65535, _AUX_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:
                continue
            self._on_frame(retag(frame, ancillary))

    def _writable(self) -> None:
        assert self._sock is not None
        while self._backlog:
            try:
                self._sock.send(self._backlog[0])
            except BlockingIOError:
                return
            except OSError:
                self.send_errors += 1
            else:
                self.frames_sent += 1
            self._backlog.popleft()
        if self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())


def retag(frame: bytes, ancillary: list[tuple[int, int, bytes]]) -> bytes:
    """The frame with the VLAN tag from its PACKET_AUXDATA put back after the MACs (if there was one)."""
    for level, kind, data in ancillary:
        if level != SOL_PACKET or kind != PACKET_AUXDATA or len(data) < _AUXDATA.size:
            continue
        status, _len, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(data)
        if not status & TP_STATUS_VLAN_VALID and not tci:  # old kernels set no VALID bit (libpcap's test)
            return frame
        if not status & TP_STATUS_VLAN_TPID_VALID:
            tpid = 0x8100
        return frame[:12] + struct.pack("!HH", tpid, tci) + frame[12:]
    return frame
