"""The "snmp" service: a read-only SNMP v1/v2c agent on UDP 161 (RFC 1157, RFC 3416, RFC 1213 MIB-II).

NAC products and `snmpwalk` identify printers, cameras, phones and PLCs by sysDescr and
sysObjectID (the vendor's enterprise OID). The agent answers Get, GetNext and (v2c) GetBulk for
the community of the profile's `snmp` section; a wrong community is dropped silently (no
authenticationFailure trap), Set is refused (v1 noSuchName, v2c notWritable). The MIB is a
sorted table of templates built once per profile (`Mib`), rendered with the device's facts per
request: sysUpTime counts from the agent's start, ifPhysAddress is the device's MAC.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable

from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import answers, catalog, derived
from iot_emulator.protocols import services
from iot_emulator.protocols.servers import snmp_ber as ber
from iot_emulator.protocols.servers import tcp_server

PORT = 161
MAX_REPETITIONS = 32
"""GetBulk rows per request at most (keeps a reply within one datagram)."""
MAX_RESPONSE = 1400
NO_SUCH_NAME, READ_ONLY, TOO_BIG, NOT_WRITABLE = 2, 4, 1, 17
SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
Render = Callable[[dict[str, str], float], bytes]
"""(device facts, seconds since the agent started) -> the encoded value"""


def _text(template: str) -> Render:
    return lambda facts, up: ber.tlv(ber.OCTET_STRING, tcp_server.render(template, facts).encode("utf-8"))


def _const(encoded: bytes) -> Render:
    return lambda facts, up: encoded


def _value(raw: str | int) -> Render:
    if isinstance(raw, int):
        return _const(ber.integer(raw))
    if raw.startswith("oid:"):
        return _const(ber.oid(ber.parse_oid_text(raw[4:])))
    return _text(raw)


def _mac(facts: dict[str, str], up: float) -> bytes:
    return ber.tlv(ber.OCTET_STRING, bytes.fromhex(facts["mac12"]))


def _uptime(facts: dict[str, str], up: float) -> bytes:
    return ber.integer(int(up * 100) & 0xFFFFFFFF, ber.TIMETICKS)


class Mib:
    """The objects of one profile's agent, sorted by OID, shared by its devices."""

    def __init__(self, snmp: answers.Snmp) -> None:
        table: dict[ber.Oid, Render] = {
            (*SYSTEM, 1, 0): _text(snmp.sys_descr),
            (*SYSTEM, 2, 0): _const(ber.oid(ber.parse_oid_text(snmp.sys_object_id))),
            (*SYSTEM, 3, 0): _uptime,
            (*SYSTEM, 4, 0): _text(snmp.sys_contact),
            (*SYSTEM, 5, 0): _text(snmp.sys_name),
            (*SYSTEM, 6, 0): _text(snmp.sys_location),
            (*SYSTEM, 7, 0): _const(ber.integer(72)),  # sysServices: application + end-to-end layers
            (1, 3, 6, 1, 2, 1, 2, 1, 0): _const(ber.integer(1)),  # ifNumber
            (*IF_ENTRY, 1, 1): _const(ber.integer(1)),
            (*IF_ENTRY, 2, 1): _text(snmp.if_descr),
            (*IF_ENTRY, 3, 1): _const(ber.integer(6)),  # ethernetCsmacd
            (*IF_ENTRY, 4, 1): _const(ber.integer(1500)),
            (*IF_ENTRY, 5, 1): _const(ber.integer(100_000_000, ber.GAUGE32)),
            (*IF_ENTRY, 6, 1): _mac,
            (*IF_ENTRY, 7, 1): _const(ber.integer(1)),  # up
            (*IF_ENTRY, 8, 1): _const(ber.integer(1)),
        }
        for text, raw in snmp.objects.items():
            table[ber.parse_oid_text(text)] = _value(raw)
        self.oids = sorted(table)
        self.values = [table[o] for o in self.oids]
        self.community = snmp.community.encode("utf-8")

    def get(self, name: ber.Oid) -> Render | None:
        i = bisect.bisect_left(self.oids, name)
        return self.values[i] if i < len(self.oids) and self.oids[i] == name else None

    def next(self, name: ber.Oid) -> tuple[ber.Oid, Render] | None:
        i = bisect.bisect_right(self.oids, name)
        return (self.oids[i], self.values[i]) if i < len(self.oids) else None


@derived.PerObject
def mib_of(prof: catalog.Profile) -> Mib:
    """The profile's MIB, built once and shared by its devices."""
    assert prof.snmp is not None
    return Mib(prof.snmp)


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    version: int
    community: bytes
    pdu: int
    request_id: int
    a: int  # error-status, or GetBulk's non-repeaters
    b: int  # error-index, or GetBulk's max-repetitions
    names: list[ber.Oid]


def parse(data: bytes) -> Request | None:
    try:
        tag, body, _ = ber.read(data)
        if tag != ber.SEQUENCE:
            return None
        [(_, version), (_, community), (pdu, pdu_body)] = ber.items(body)
        [(_, rid), (_, a), (_, b), (_, binds)] = ber.items(pdu_body)
        names = []
        for _, bind in ber.items(binds):
            (name_tag, name), *_ = ber.items(bind)
            if name_tag != ber.OID:
                return None
            names.append(ber.to_oid(name))
        return Request(ber.to_int(version), community, pdu, ber.to_int(rid), ber.to_int(a), ber.to_int(b), names)
    except (ber.BerError, ValueError):
        return None


def response(req: Request, status: int, index: int, binds: list[tuple[ber.Oid, bytes]]) -> bytes:
    encoded = b"".join(ber.tlv(ber.SEQUENCE, ber.oid(name) + value) for name, value in binds)
    pdu = ber.integer(req.request_id) + ber.integer(status) + ber.integer(index) + ber.tlv(ber.SEQUENCE, encoded)
    message = ber.integer(req.version) + ber.tlv(ber.OCTET_STRING, req.community) + ber.tlv(ber.RESPONSE, pdu)
    return ber.tlv(ber.SEQUENCE, message)


def answer(mib: Mib, req: Request, facts: dict[str, str], up: float) -> bytes | None:
    """The Response to `req`, or None when it is not for us (community, version, PDU type)."""
    v1 = req.version == 0
    if req.version not in (0, 1) or req.community != mib.community:
        return None
    binds: list[tuple[ber.Oid, bytes]] = []
    if req.pdu == ber.SET:
        return response(req, NO_SUCH_NAME if v1 else NOT_WRITABLE, 1, [(n, ber.tlv(ber.NULL, b"")) for n in req.names])
    if req.pdu == ber.GET:
        for i, name in enumerate(req.names, 1):
            found = mib.get(name)
            if found is None and v1:
                return response(req, NO_SUCH_NAME, i, [(n, ber.tlv(ber.NULL, b"")) for n in req.names])
            binds.append((name, found(facts, up) if found else ber.tlv(ber.NO_SUCH_OBJECT, b"")))
    elif req.pdu == ber.GET_NEXT or (req.pdu == ber.GET_BULK and not v1):
        bulk = req.pdu == ber.GET_BULK
        fixed = max(0, min(req.a, len(req.names))) if bulk else len(req.names)
        rounds = max(0, min(req.b, MAX_REPETITIONS)) if bulk else 0
        for i, name in enumerate(req.names[:fixed], 1):
            step = mib.next(name)
            if step is None and v1:
                return response(req, NO_SUCH_NAME, i, [(n, ber.tlv(ber.NULL, b"")) for n in req.names])
            binds.append((step[0], step[1](facts, up)) if step else (name, ber.tlv(ber.END_OF_MIB_VIEW, b"")))
        cursors = list(req.names[fixed:])
        for _ in range(rounds if cursors else 0):
            for j, name in enumerate(cursors):
                step = mib.next(name)
                binds.append((step[0], step[1](facts, up)) if step else (name, ber.tlv(ber.END_OF_MIB_VIEW, b"")))
                cursors[j] = step[0] if step else name
            if len(response(req, 0, 0, binds)) > MAX_RESPONSE:  # RFC 3416 4.2.3: fewer rows, never tooBig
                binds = binds[: -len(cursors)]
                break
    else:
        return None
    return response(req, 0, 0, binds)


class SnmpAgent:
    name = "snmp"

    def __init__(self, context: services.Context) -> None:
        self.host = context.host
        self.mib = mib_of(context.config.profile)
        self.facts = tcp_server.Facts(context)
        self.started = 0.0
        self.answered = 0

    def start(self, now: float) -> None:
        self.started = now
        self.host.bind_udp(PORT, self._on_datagram, ipv6=self.host.ip6 is not None)  # on `::` when it has IPv6

    def _on_datagram(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        """A request to the device's own address: broadcast and multicast are not for an agent (over IPv6
        the endpoint hands over only its own addresses' datagrams and its groups')."""
        to_device = dst == self.host.address if len(dst) == 4 else dst[0] != 0xFF
        req = parse(data) if to_device else None
        if req is None:
            return
        reply = answer(self.mib, req, self.facts.values(now), now - self.started)
        if reply is not None:
            self.answered += 1
            self.host.send_udp("snmp", src, PORT, sport, reply)

    def on_timer(self, now: float) -> None:
        pass

    def next_deadline(self) -> float | None:
        return None

    def stop(self, now: float) -> None:
        self.host.unbind_udp(PORT)


@services.register("snmp")
def _snmp(context: services.Context) -> host_mod.Service | None:
    return SnmpAgent(context) if context.config.profile.snmp is not None else None
