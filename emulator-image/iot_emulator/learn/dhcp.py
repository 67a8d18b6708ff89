"""The device's DHCP client, from its DISCOVER and REQUEST: option order, option 55, 60, 57, 61, 12.

The emulator's frame builder (`protocols.dhcp_wire.ClientFrames`) takes one option order for both
messages, adds 50/54 to a REQUEST where the order puts them (or last), and leaves 54/81 out of a
DISCOVER and 116 out of a REQUEST. The learner looks for one order that the builder turns back into
both observed messages; when there is none, the REQUEST gets an order of its own (`request_options`).
Options the builder has no field for go to `extra_options` with the value seen (the same for every
device of the profile). Parsing: `dhcp_wire.parse_request` (RFC 2131, RFC 2132).
"""

from __future__ import annotations

import itertools
import statistics

from iot_emulator.learn import findings, packets
from iot_emulator.protocols.link import dhcp_wire as dw
from iot_emulator.protocols.link import wire

BUILT = frozenset(
    {
        dw.OPT_MESSAGE_TYPE,
        dw.OPT_REQUESTED_ADDR,
        dw.OPT_SERVER_ID,
        dw.OPT_PARAM_REQ_LIST,
        dw.OPT_MAX_SIZE,
        dw.OPT_VENDOR_CLASS,
        dw.OPT_CLIENT_ID,
        dw.OPT_HOSTNAME,
        dw.OPT_CLIENT_FQDN,
        dw.OPT_LEASE_TIME,
        dw.OPT_AUTO_CONFIG,
        dw.OPT_FORCERENEW_NONCE,
    }
)
"""Options whose value the builder makes itself (from fields or per message); others are `extra_options`."""
ARP_PROBE_WINDOW = 10.0
"""Seconds after the ACK in which ARP requests from 0.0.0.0 count as the address check (RFC 5227)."""


def learn(decoded: packets.Decoded, mac: bytes) -> findings.Findings:
    out = findings.Findings()
    sent = [(p, m) for p in decoded.packets if p.outgoing and (m := dw.parse_request(p.frame)) is not None]
    discover = next((m for _, m in sent if m.msg_type == dw.DISCOVER), None)
    requests = [m for _, m in sent if m.msg_type == dw.REQUEST]
    request = next((m for m in requests if dw.OPT_SERVER_ID in m.options), requests[0] if requests else None)
    first = discover or request
    if first is None:
        out.notes.append("no DHCP DISCOVER or REQUEST from the device: the dhcp section is the base's")
        return out
    out.speaks("dhcp")
    seen = f"{sum(m.msg_type == dw.DISCOVER for _, m in sent)} DISCOVER, {len(requests)} REQUEST"
    discover_order = list(discover.options) if discover else None
    request_order = list(request.options) if request else None
    options, request_options = option_orders(discover_order, request_order)
    out.set("dhcp.options", options, f"option order of the first DISCOVER{' and REQUEST' if request else ''} ({seen})")
    if request_options is not None:
        out.set("dhcp.request_options", request_options, "the REQUEST's own option order (it differs from DISCOVER's)")
    prl = first.options.get(dw.OPT_PARAM_REQ_LIST)
    if prl is not None:
        out.set("dhcp.parameter_request_list", list(prl), f"option 55 = {findings.hexes(list(prl))}")
    _values(out, first, mac)
    named = next((m for _, m in sent if m.options.get(dw.OPT_HOSTNAME)), None)
    if named is not None:  # lwIP sends 12 in REQUEST only
        text = named.options[dw.OPT_HOSTNAME].rstrip(b"\x00").decode("utf-8", "replace")
        pattern = findings.as_format(findings.mac_placeholders(text, mac))
        out.set("hostname_pattern", pattern, f"option 12 = {text!r} (MAC digits made placeholders)")
    packet = next(p for p, m in sent if m is first)
    if packet.ip is not None:
        out.set("dhcp.ip_ttl", packet.ip.ttl, f"IP TTL of the DHCP messages ({packet.ip.ttl})")
    out.set("dhcp.broadcast_flag", bool(first.flags & 0x8000), f"BOOTP flags 0x{first.flags:04x}")
    out.set("dhcp.secs", any(m.secs for _, m in sent), f"secs of the messages: {sorted({m.secs for _, m in sent})}")
    _arp_probe(out, decoded, mac)
    return out


def option_orders(discover: list[int] | None, request: list[int] | None) -> tuple[list[int], list[int] | None]:
    """(options, request_options): one order when the builder rebuilds both messages from it."""
    if request is None:
        assert discover is not None
        return discover, None
    if discover is None:
        return request, None
    candidate = list(request)
    for i, code in enumerate(discover):  # DISCOVER-only options (116) after their DISCOVER predecessor
        if code not in candidate:
            before = discover[i - 1] if i else None
            candidate.insert(candidate.index(before) + 1 if before in candidate else len(candidate), code)
    shorter = list(candidate)
    while shorter and shorter[-1] in (dw.OPT_REQUESTED_ADDR, dw.OPT_SERVER_ID):  # the builder appends them itself
        shorter.pop()
    for order in (shorter, candidate):
        if built_discover(order, 50 in discover) == discover and built_request(order) == request:
            return order, None
    return discover, request


def built_discover(order: list[int], with50: bool) -> list[int]:
    return [c for c in order if c not in (dw.OPT_SERVER_ID, dw.OPT_CLIENT_FQDN) and (c != 50 or with50)]


def built_request(order: list[int]) -> list[int]:
    full = order + [c for c in (dw.OPT_REQUESTED_ADDR, dw.OPT_SERVER_ID) if c not in order]
    return [c for c in full if c != dw.OPT_AUTO_CONFIG]


def _values(out: findings.Findings, message: dw.DhcpMessage, mac: bytes) -> None:
    opts = message.options
    extra = {code: value.hex() for code, value in opts.items() if code not in BUILT}
    vendor = opts.get(dw.OPT_VENDOR_CLASS)
    if vendor is not None:
        try:
            out.set("dhcp.vendor_class_id", vendor.decode(), f"option 60 = {vendor.decode()!r}")
        except UnicodeDecodeError:
            extra[dw.OPT_VENDOR_CLASS] = vendor.hex()
    size = opts.get(dw.OPT_MAX_SIZE)
    if size is not None and len(size) == 2 and int.from_bytes(size, "big") >= 576:
        out.set("dhcp.max_message_size", int.from_bytes(size, "big"), f"option 57 = {int.from_bytes(size, 'big')}")
    client_id = opts.get(dw.OPT_CLIENT_ID)
    if client_id is None or client_id == b"\x01" + mac:
        form = "absent" if client_id is None else "type 1 + the MAC"
        out.set("dhcp.client_id", "none" if client_id is None else "mac", f"option 61: {form}")
    else:
        out.set("dhcp.client_id", "none", f"option 61 is not type 1 + MAC ({client_id[:1].hex()}...): sent as seen")
        extra[dw.OPT_CLIENT_ID] = client_id.hex()
    if extra:
        out.set("dhcp.extra_options", extra, f"options with no field of their own, values as seen: {sorted(extra)}")


def _arp_probe(out: findings.Findings, decoded: packets.Decoded, mac: bytes) -> None:
    """RFC 5227 probes (ARP requests from 0.0.0.0) after the device's ACK: how many, how far apart."""
    ack = next(
        (
            p.time
            for p in decoded.packets
            if not p.outgoing and (m := dw.parse(p.frame)) and m.msg_type == dw.ACK and m.chaddr == mac
        ),
        None,
    )
    if ack is None:
        return
    probes = []
    for p in decoded.packets:
        if p.outgoing and ack <= p.time <= ack + ARP_PROBE_WINDOW:
            arp = wire.parse_arp(p.frame)
            if arp is not None and arp.op == 1 and arp.sender_ip == wire.ZERO_IP:
                probes.append(p.time)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    interval = round(min(5.0, statistics.median(gaps)), 2) if gaps else 0.2
    out.set("dhcp.arp_probe.count", min(5, len(probes)), f"{len(probes)} ARP probes from 0.0.0.0 after the ACK")
    if gaps:
        out.set("dhcp.arp_probe.interval", interval, "median gap between those probes")
