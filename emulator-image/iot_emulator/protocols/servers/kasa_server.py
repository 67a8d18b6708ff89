"""TP-Link Smart Home protocol, device side (Kasa HS1xx plugs): TCP and UDP port 9999.

Kasa apps, Home Assistant (python-kasa) and discovery products find a plug by sending
`{"system":{"get_sysinfo":{}}}` to UDP 9999 (broadcast) or TCP 9999 and reading model, MAC and
firmware from the answer. The JSON is "encrypted" with an XOR autokey (first key 171, each cipher
byte keys the next); over TCP it is framed by a 4-byte big-endian length, over UDP it is the whole
datagram (softScheck's tplink-smartplug reverse engineering, python-kasa `protocol.py`). Answers
come from the profile (`answers.KasaService.replies`); a module or member the profile does
not know gets the firmware's error (-1 "module not support", -2 "member not support").
"""

from __future__ import annotations

import json
import struct

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

KEY = 171
LENGTH = struct.Struct("!I")
MAX_JSON_DEPTH = 4
"""A request nests module -> method -> arguments; deeper input is not a request."""


def encrypt(plain: bytes) -> bytes:
    key, out = KEY, bytearray()
    for byte in plain:
        key ^= byte
        out.append(key)
    return bytes(out)


def decrypt(cipher: bytes) -> bytes:
    key, out = KEY, bytearray()
    for byte in cipher:
        out.append(key ^ byte)
        key = byte
    return bytes(out)


def _render(value: object, facts: dict[str, str]) -> object:
    if isinstance(value, str):
        return tcp_server.render(value, facts)
    if isinstance(value, dict):
        return {k: _render(v, facts) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, facts) for v in value]
    return value


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


class Kasa(tcp_server.SpeaksSecond):
    """The plug's answers, shared by the devices of a profile; TCP responder and UDP answer in one."""

    protocol = "kasa"

    def __init__(self, service: answers.KasaService) -> None:
        self.replies = service.replies

    def answer(self, plain: bytes, facts: dict[str, str]) -> bytes | None:
        """The JSON answer to a decrypted request, or None when it is not a request."""
        try:
            request = json.loads(plain)
        except (ValueError, RecursionError):
            return None
        if not isinstance(request, dict) or not request or _depth(request) > MAX_JSON_DEPTH:
            return None
        out: dict[str, object] = {}
        for module, methods in request.items():
            if not isinstance(methods, dict) or not any(key.startswith(f"{module}.") for key in self.replies):
                out[module] = {"err_code": -1, "err_msg": "module not support"}
                continue
            out[module] = {
                method: _render(self.replies[f"{module}.{method}"], facts)
                if f"{module}.{method}" in self.replies
                else {"err_code": -2, "err_msg": "member not support"}
                for method in methods
            }
        return json.dumps(out, separators=(",", ":")).encode()

    def respond(self, facts: tcp_server.Facts, request: bytes, now: float) -> tcp_server.Reply | None:
        if len(request) < LENGTH.size:
            return None
        (length,) = LENGTH.unpack_from(request)
        if length > tcp_server.MAX_REQUEST:  # not a Kasa frame (an HTTP probe reads as ~1.2 GB): hang up
            return tcp_server.Reply(b"", len(request))
        end = LENGTH.size + length
        if len(request) < end:
            return None
        reply = self.answer(decrypt(request[LENGTH.size : end]), facts.values(now))
        if reply is None:
            return tcp_server.Reply(b"", len(request))
        return tcp_server.Reply(LENGTH.pack(len(reply)) + encrypt(reply), end, close=False)

    def datagram(self, data: bytes, facts: dict[str, str]) -> bytes | None:
        """UDP: the encrypted answer to an encrypted request, or None (dropped)."""
        reply = self.answer(decrypt(data), facts)
        return None if reply is None else encrypt(reply)
