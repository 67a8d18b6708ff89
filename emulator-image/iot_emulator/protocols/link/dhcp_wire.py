"""DHCP client frames: build what a device sends, parse what servers answer (RFC 2131, RFC 2132).

Why struct and not Scapy: 2,000 devices start at once, and a Scapy DHCP packet costs about a
millisecond to build. Each device gets a `ClientFrames` that encodes its fixed options once per
message kind ("build once, patch") and then only patches xid, secs, ciaddr and the values of
options 50/54 before the UDP/IP checksums are recomputed. Scapy stays the reference: the tests
build the same frames with it and compare bytes.

Which option goes in which message follows RFC 2131 table 5; the order follows the device's
`catalog.DhcpFingerprint.options`, as that order is what fingerprinting products match on.
Addresses are 4-byte `bytes` throughout.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import wire

CLIENT_PORT = 68
SERVER_PORT = 67
BOOTREQUEST = 1
BOOTREPLY = 2
MAGIC_COOKIE = b"\x63\x82\x53\x63"
MIN_PAYLOAD = 300  # BOOTP payload size most clients pad to (RFC 1542 relays expect >= 300)
INFINITE_LEASE = 0xFFFFFFFF

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)

OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_DNS = 6
OPT_HOSTNAME = 12
OPT_DOMAIN = 15
OPT_NTP = 42
OPT_REQUESTED_ADDR = 50
OPT_LEASE_TIME = 51
OPT_OVERLOAD = 52
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAM_REQ_LIST = 55
OPT_MESSAGE = 56
OPT_MAX_SIZE = 57
OPT_RENEWAL_TIME = 58
OPT_REBINDING_TIME = 59
OPT_VENDOR_CLASS = 60
OPT_CLIENT_ID = 61
OPT_CLIENT_FQDN = 81  # RFC 4702
OPT_AUTO_CONFIG = 116  # RFC 2563
OPT_FORCERENEW_NONCE = 145  # RFC 6704
OPT_END = 255

_BOOTP = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s4s")
_XID_SECS = struct.Struct("!IH")
_U32 = struct.Struct("!I")


class DhcpMessage(NamedTuple):
    """A parsed BOOTREPLY (a BOOTREQUEST from `parse_request`). `options` maps code -> value (repeated
    options concatenated, RFC 3396).

    `src_mac`/`src_ip` are the Ethernet and IP sources of the frame: the server's MAC (or its
    relay's) is where a RENEWING client unicasts, as it has no ARP entry of its own for it.
    """

    op: int
    xid: int
    secs: int
    flags: int
    ciaddr: bytes
    yiaddr: bytes
    siaddr: bytes
    chaddr: bytes
    msg_type: int
    options: dict[int, bytes]
    src_mac: bytes = wire.BROADCAST_MAC
    src_ip: bytes = wire.ZERO_IP

    @property
    def server_id(self) -> bytes | None:
        return _addr(self.options.get(OPT_SERVER_ID))

    @property
    def lease_time(self) -> int | None:
        return _u32(self.options.get(OPT_LEASE_TIME))

    @property
    def renewal_time(self) -> int | None:
        return _u32(self.options.get(OPT_RENEWAL_TIME))

    @property
    def rebinding_time(self) -> int | None:
        return _u32(self.options.get(OPT_REBINDING_TIME))

    @property
    def subnet_mask(self) -> bytes | None:
        return _addr(self.options.get(OPT_SUBNET_MASK))

    @property
    def routers(self) -> list[bytes]:
        return _addrs(self.options.get(OPT_ROUTER))

    @property
    def dns_servers(self) -> list[bytes]:
        return _addrs(self.options.get(OPT_DNS))

    @property
    def ntp_servers(self) -> list[bytes]:
        return _addrs(self.options.get(OPT_NTP))

    @property
    def domain_name(self) -> str | None:
        return _text(self.options.get(OPT_DOMAIN))

    @property
    def message(self) -> str | None:
        """Option 56: why a server sent a NAK, when it says."""
        return _text(self.options.get(OPT_MESSAGE))


def _addr(value: bytes | None) -> bytes | None:
    return value[:4] if value is not None and len(value) >= 4 else None


def _addrs(value: bytes | None) -> list[bytes]:
    if not value:
        return []
    return [value[i : i + 4] for i in range(0, len(value) - 3, 4)]


def _u32(value: bytes | None) -> int | None:
    return int.from_bytes(value[:4], "big") if value is not None and len(value) >= 4 else None


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.rstrip(b"\x00").decode("utf-8", "replace")


def _scan(data: bytes, start: int, end: int, into: dict[int, bytes]) -> None:
    """Read TLV options in data[start:end]; stop at END or at a truncated option."""
    i = start
    while i < end:
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == OPT_END or i + 1 >= end:
            return
        stop = i + 2 + data[i + 1]
        if stop > end:
            return
        value = data[i + 2 : stop]
        into[code] = into[code] + value if code in into else value
        i = stop


def parse(frame: bytes) -> DhcpMessage | None:
    """A DHCP reply to a client (UDP to port 68, BOOTREPLY, DHCP cookie) or None.

    UDP checksums are not verified: veth checksum offload leaves partial ones on received frames.
    """
    return _parse(frame, CLIENT_PORT, BOOTREPLY)


def parse_request(frame: bytes) -> DhcpMessage | None:
    """A client's DHCP message (UDP to port 67, BOOTREQUEST) or None: what `iotemu profiles learn` reads.

    `options` keeps the wire order of first appearance (a dict's insertion order), which is the fingerprint.
    """
    return _parse(frame, SERVER_PORT, BOOTREQUEST)


def _parse(frame: bytes, port: int, op_wanted: int) -> DhcpMessage | None:
    if len(frame) < 282 or frame[12] != 0x08 or frame[13] != 0x00:  # 14 + 20 + 8 + 240
        return None
    ip = wire.parse_ipv4(frame)
    if ip is None or ip.proto != wire.IPPROTO_UDP:
        return None
    udp = wire.parse_udp(ip.payload)
    if udp is None or udp[1] != port:
        return None
    data = udp[2]
    if len(data) < 240:
        return None
    op, htype, hlen, _, xid, secs, flags, ciaddr, yiaddr, siaddr, _, chaddr, _, _, cookie = _BOOTP.unpack_from(data)
    if op != op_wanted or cookie != MAGIC_COOKIE or htype != 1 or hlen != 6:
        return None
    options: dict[int, bytes] = {}
    _scan(data, 240, len(data), options)
    overload = options.get(OPT_OVERLOAD)
    if overload:  # RFC 2131 4.1: options continue in `file` then `sname`
        if overload[0] & 1:
            _scan(data, 108, 236, options)
        if overload[0] & 2:
            _scan(data, 44, 108, options)
    msg_type = options.get(OPT_MESSAGE_TYPE)
    if not msg_type:
        return None  # plain BOOTP, not for a DHCP client
    return DhcpMessage(
        op, xid, secs, flags, ciaddr, yiaddr, siaddr, chaddr[:6], msg_type[0], options, frame[6:12], ip.src
    )


def chaddr_of(frame: bytes) -> bytes | None:
    """The client MAC of a DHCP reply, read in place: lets the engine route broadcast replies."""
    if len(frame) < 282 or frame[12] != 0x08 or frame[13] != 0x00 or frame[23] != wire.IPPROTO_UDP:
        return None
    ihl = (frame[14] & 0x0F) * 4
    udp = 14 + ihl
    if ihl < 20 or frame[udp + 2] != 0 or frame[udp + 3] != CLIENT_PORT:
        return None
    start = udp + 8 + 28
    return frame[start : start + 6] if len(frame) >= start + 6 else None


class Kind(enum.Enum):
    """What the client sends: the columns of RFC 2131 table 5, REQUEST split by client state."""

    DISCOVER = "discover"
    SELECTING = "selecting"
    INIT_REBOOT = "init-reboot"
    RENEWING = "renewing"
    REBINDING = "rebinding"
    DECLINE = "decline"
    RELEASE = "release"


class _Rule(NamedTuple):
    msg_type: int
    need50: bool  # RFC 2131 table 5 MUST: added even if the fingerprint does not list it
    need54: bool
    broadcast: bool  # the `flags` field may carry the broadcast bit (0 in DECLINE/RELEASE)
    allowed: frozenset[int]  # which of the device's fixed options may appear


_FIXED = frozenset(
    {
        OPT_PARAM_REQ_LIST,
        OPT_VENDOR_CLASS,
        OPT_MAX_SIZE,
        OPT_CLIENT_ID,
        OPT_HOSTNAME,
        OPT_LEASE_TIME,
        OPT_CLIENT_FQDN,
        OPT_AUTO_CONFIG,
        OPT_FORCERENEW_NONCE,
    }
)
# 116 is a DISCOVER option (RFC 2563); Windows sends 81 in REQUEST only, as most clients do.
_IN_DISCOVER = _FIXED - {OPT_CLIENT_FQDN}
_IN_REQUEST = _FIXED - {OPT_AUTO_CONFIG}
_RULES = {
    Kind.DISCOVER: _Rule(DISCOVER, False, False, True, _IN_DISCOVER),
    Kind.SELECTING: _Rule(REQUEST, True, True, True, _IN_REQUEST),
    Kind.INIT_REBOOT: _Rule(REQUEST, True, False, True, _IN_REQUEST),
    Kind.RENEWING: _Rule(REQUEST, False, False, True, _IN_REQUEST),
    Kind.REBINDING: _Rule(REQUEST, False, False, True, _IN_REQUEST),
    Kind.DECLINE: _Rule(DECLINE, True, True, False, frozenset({OPT_CLIENT_ID})),
    Kind.RELEASE: _Rule(RELEASE, False, True, False, frozenset({OPT_CLIENT_ID})),
}


class _Template(NamedTuple):
    payload: bytes
    off50: int  # where option 50's value goes, -1 if absent
    off54: int


class ClientFrames:
    """One device's DHCP frames, each kind encoded once per exchange and then patched per message.

    The encoded kinds are kept only while an exchange needs them (`forget` once bound): a bound
    device renews once per T1, and ~1 KB of templates per device is most of its DHCP state."""

    __slots__ = ("_templates", "fingerprint", "hostname", "mac")

    REQUESTED_LEASE_TIME = INFINITE_LEASE
    """Option 51 value when the fingerprint lists 51: "as long as you give", so the server's own
    (lab-short) lease time still applies."""

    def __init__(self, mac: bytes, hostname: str, fingerprint: catalog.DhcpFingerprint) -> None:
        self.mac = mac
        self.hostname = hostname
        self.fingerprint = fingerprint
        self._templates: dict[tuple[Kind, bool, bool], _Template] | None = None

    def forget(self) -> None:
        """Drop the encoded kinds (the next message encodes its kind again)."""
        self._templates = None

    def requests_address(self, *, insist: bool = False) -> bool:
        """Whether a DISCOVER carries option 50 when the client has an address to ask for."""
        return insist or OPT_REQUESTED_ADDR in self.fingerprint.options

    def discover(self, xid: int, secs: int, requested: bytes | None = None, *, insist: bool = False) -> bytes:
        """Option 50 goes where the fingerprint lists it; `insist` (static mode) adds it anyway."""
        if not self.requests_address(insist=insist):
            requested = None
        return self._build(Kind.DISCOVER, xid, secs, requested=requested)

    def request_selecting(self, xid: int, secs: int, requested: bytes, server_id: bytes) -> bytes:
        return self._build(Kind.SELECTING, xid, secs, requested=requested, server_id=server_id)

    def request_init_reboot(self, xid: int, secs: int, requested: bytes) -> bytes:
        return self._build(Kind.INIT_REBOOT, xid, secs, requested=requested)

    def request_renewing(self, xid: int, secs: int, ciaddr: bytes, server_ip: bytes, server_mac: bytes) -> bytes:
        """Unicast to the server, from the leased address (RFC 2131 4.4.5)."""
        return self._build(Kind.RENEWING, xid, secs, ciaddr=ciaddr, src_ip=ciaddr, dst_ip=server_ip, dst_mac=server_mac)

    def request_rebinding(self, xid: int, secs: int, ciaddr: bytes) -> bytes:
        """Broadcast, but from the still-valid leased address, as udhcpc and dhclient do."""
        return self._build(Kind.REBINDING, xid, secs, ciaddr=ciaddr, src_ip=ciaddr)

    def decline(self, xid: int, requested: bytes, server_id: bytes) -> bytes:
        return self._build(Kind.DECLINE, xid, 0, requested=requested, server_id=server_id)

    def release(self, xid: int, ciaddr: bytes, server_id: bytes, server_mac: bytes) -> bytes:
        return self._build(
            Kind.RELEASE,
            xid,
            0,
            ciaddr=ciaddr,
            server_id=server_id,
            src_ip=ciaddr,
            dst_ip=server_id,
            dst_mac=server_mac,
        )

    def _build(
        self,
        kind: Kind,
        xid: int,
        secs: int,
        *,
        requested: bytes | None = None,
        server_id: bytes | None = None,
        ciaddr: bytes = wire.ZERO_IP,
        src_ip: bytes = wire.ZERO_IP,
        dst_ip: bytes = wire.BROADCAST_IP,
        dst_mac: bytes = wire.BROADCAST_MAC,
    ) -> bytes:
        key = (kind, requested is not None, server_id is not None)
        if self._templates is None:
            self._templates = {}
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._encode(*key)
        payload = bytearray(template.payload)
        _XID_SECS.pack_into(payload, 4, xid, min(secs, 0xFFFF) if self.fingerprint.secs else 0)
        payload[12:16] = ciaddr
        if requested is not None:
            payload[template.off50 : template.off50 + 4] = requested
        if server_id is not None:
            payload[template.off54 : template.off54 + 4] = server_id
        return wire.udp_frame(
            self.mac, dst_mac, src_ip, dst_ip, CLIENT_PORT, SERVER_PORT, bytes(payload), ttl=self.fingerprint.ip_ttl
        )

    def _encode(self, kind: Kind, has50: bool, has54: bool) -> _Template:
        """The payload of one kind with zeroed variable fields, and where options 50/54 go."""
        rule = _RULES[kind]
        if (rule.need50 and not has50) or (rule.need54 and not has54):
            raise ValueError(f"a DHCP {kind.value} message needs option 50/54 (RFC 2131 table 5)")
        flags = 0x8000 if rule.broadcast and self.fingerprint.broadcast_flag else 0
        header = _BOOTP.pack(
            BOOTREQUEST,
            1,
            6,
            0,
            0,
            0,
            flags,
            wire.ZERO_IP,
            wire.ZERO_IP,
            wire.ZERO_IP,
            wire.ZERO_IP,
            self.mac,
            b"",
            b"",
            MAGIC_COOKIE,
        )
        body = bytearray(header)
        body += bytes((OPT_MESSAGE_TYPE, 1, rule.msg_type))
        off50 = off54 = -1
        fp = self.fingerprint
        fixed = _fixed_options(self.mac, self.hostname, fp)
        order = list(fp.request_options if rule.msg_type == REQUEST and fp.request_options else fp.options)
        order += [code for code in (OPT_REQUESTED_ADDR, OPT_SERVER_ID) if code not in order]  # MUSTs, last
        for code in order:
            if code == OPT_REQUESTED_ADDR and has50 and off50 < 0:
                off50 = len(body) + 2
                body += b"\x32\x04\x00\x00\x00\x00"
            elif code == OPT_SERVER_ID and has54 and off54 < 0:
                off54 = len(body) + 2
                body += b"\x36\x04\x00\x00\x00\x00"
            elif code in fixed and (code in rule.allowed or (code in fp.extra_options and rule.broadcast)):
                body += fixed[code]  # extra (raw) options go in DISCOVER and REQUEST only
        body.append(OPT_END)
        if len(body) < MIN_PAYLOAD:
            body += bytes(MIN_PAYLOAD - len(body))
        return _Template(bytes(body), off50, off54)


def _fixed_options(mac: bytes, hostname: str, fp: catalog.DhcpFingerprint) -> dict[int, bytes]:
    """The encoded options whose value never changes for a device; absent ones have no value."""
    values: dict[int, bytes] = {
        OPT_LEASE_TIME: _U32.pack(ClientFrames.REQUESTED_LEASE_TIME),
        OPT_AUTO_CONFIG: b"\x01",  # RFC 2563: "do auto-configure" (link-local fallback)
        OPT_FORCERENEW_NONCE: b"\x01",  # RFC 6704: HMAC-MD5 nonce capable
    }
    if fp.parameter_request_list:
        values[OPT_PARAM_REQ_LIST] = bytes(fp.parameter_request_list)
    if fp.vendor_class_id:
        values[OPT_VENDOR_CLASS] = fp.vendor_class_id.encode()
    if fp.max_message_size is not None:
        values[OPT_MAX_SIZE] = fp.max_message_size.to_bytes(2, "big")
    if fp.client_id is catalog.ClientIdKind.mac:
        values[OPT_CLIENT_ID] = b"\x01" + mac
    for code, value in fp.extra_options.items():
        values[code] = bytes.fromhex(value)
    if hostname:
        values[OPT_HOSTNAME] = hostname.encode()
        values[OPT_CLIENT_FQDN] = b"\x00\x00\x00" + hostname.encode()  # RFC 4702, ASCII name as Windows
    return {code: bytes((code, len(value[:255]))) + value[:255] for code, value in values.items()}
