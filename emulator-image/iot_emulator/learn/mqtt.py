"""The device's MQTT session: CONNECT (client id, user name, keepalive) and the topics it publishes.

MQTT 3.1.1 (OASIS, 3.1 CONNECT, 3.3 PUBLISH), read with `protocols.mqtt.read_packets` from the
first bytes of each flow the device opened. The client id and topics get placeholders where they
hold the device's MAC digits or host name, so each device of the profile has its own (`mqtt.fill`
knows {mac6}/{MAC6}, not the 12-digit forms: the OUI half stays literal). MQTT inside
TLS cannot be read: only its hello (learn.tls) is learned then.
"""

from __future__ import annotations

import struct

from iot_emulator.learn import dns, findings, packets
from iot_emulator.protocols.clients import mqtt

CONNECT, PUBLISH = 1, 3
MAX_TOPICS = 16


def learn(decoded: packets.Decoded, names: dns.Resolved, mac: bytes, hostname: str | None) -> findings.Findings:
    out = findings.Findings()
    for flow in decoded.flows:
        parsed = parse_session(bytes(flow.sent))
        if parsed is None:
            continue
        client_id, username, keepalive, topics, payload = parsed

        def mark(text: str) -> str:
            return findings.as_fill(findings.mac_placeholders(text, mac, hostname, mac12=False))

        section: dict[str, object] = {
            "port": flow.dport,
            "client_id": mark(client_id),
            "username": username,
            "keepalive": max(5, keepalive or 60),
            "topics": [mark(t) for t in topics],
        }
        if payload is not None:
            section["payload"] = payload
        broker = names.name_for(flow.dst, flow.start)
        if broker:
            section["broker"] = broker
        out.set("mqtt", section, f"CONNECT of the session to port {flow.dport}: client id {client_id!r}")
        out.speaks("mqtt")
        if not broker:
            out.notes.append("the MQTT broker's address was not named by a DNS answer: mqtt.broker is the base's")
        break
    return out


def parse_session(data: bytes) -> tuple[str, str | None, int, list[str], str | None] | None:
    """(client id, user name, keepalive, published topics, first payload) or None if not MQTT."""
    if not data or data[0] >> 4 != CONNECT:
        return None
    found = mqtt.read_packets(bytearray(data))
    if not found or found[0][0] != CONNECT:
        return None
    try:
        client_id, username, keepalive = _connect(found[0][1])
    except (ValueError, struct.error, IndexError):
        return None
    topics: list[str] = []
    payload: str | None = None
    for kind, body in found[1:]:
        if kind != PUBLISH or len(body) < 2:
            continue
        size = int.from_bytes(body[:2], "big")
        topic = body[2 : 2 + size].decode("utf-8", "replace")
        rest = body[2 + size :]  # QoS 0, as the emulator publishes (a QoS 1/2 packet id would lead the payload)
        if topic not in topics and len(topics) < MAX_TOPICS:
            topics.append(topic)
        if payload is None:
            payload = rest[:4096].decode("utf-8", "replace")
    return client_id, username, keepalive, topics, payload


def _connect(body: bytes) -> tuple[str, str | None, int]:
    size = int.from_bytes(body[:2], "big")
    name = body[2 : 2 + size]
    if name not in (b"MQTT", b"MQIsdp"):
        raise ValueError("not MQTT")
    pos = 2 + size + 1  # protocol level
    flags = body[pos]
    keepalive = int.from_bytes(body[pos + 1 : pos + 3], "big")
    pos += 3
    fields: list[str | None] = []
    for present in (True, bool(flags & 0x04), bool(flags & 0x04), bool(flags & 0x80)):
        if not present:
            fields.append(None)
            continue
        length = int.from_bytes(body[pos : pos + 2], "big")
        if pos + 2 + length > len(body):
            raise ValueError("cut short")
        fields.append(body[pos + 2 : pos + 2 + length].decode("utf-8", "replace"))
        pos += 2 + length
    client_id = fields[0] or ""
    return client_id, fields[3], keepalive
