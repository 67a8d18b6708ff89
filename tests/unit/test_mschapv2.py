"""MD4 (RFC 1320 A.5 vectors), MS-CHAPv2 (RFC 2759 9.2 vectors) and PEAPv0's inner exchange."""

from __future__ import annotations

import struct

import pytest

from iot_emulator.protocols.link import eap_peap, mschapv2

AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
    ],
)
def test_md4_rfc1320_vectors(message: bytes, digest: str) -> None:
    assert mschapv2.md4(message).hex() == digest


def test_mschapv2_rfc2759_vectors() -> None:
    assert mschapv2.nt_password_hash("clientPass").hex().upper() == "44EBBA8D5312B8D611474411F56989AE"
    assert mschapv2.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, "User").hex().upper() == "D02E4386BCE91226"
    response = mschapv2.nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, "User", "clientPass")
    assert response.hex().upper() == "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
    proof = mschapv2.authenticator_response("clientPass", response, PEER_CHALLENGE, AUTH_CHALLENGE, "User")
    assert proof == "S=407A5589115FD0D6209F510FE9C04566932CDA56"


def _challenge(ms_id: int) -> bytes:
    name = b"radius"
    return bytes([26, 1, ms_id]) + struct.pack("!HB", 4 + 1 + 16 + len(name), 16) + AUTH_CHALLENGE + name


def _result(identifier: int, status: int) -> bytes:
    tlv = struct.pack("!HHH", 0x8003, 2, status)
    return struct.pack("!BBHB", 1, identifier, 5 + len(tlv), 33) + tlv


def test_peap_inner_identity_mschapv2_and_result_tlv() -> None:
    inner = eap_peap.PeapInner("vvx-310", "clientPass")
    assert inner(b"\x01") == b"\x01vvx-310"  # PEAPv0: no EAP header inside the tunnel
    reply = inner(_challenge(9))
    assert reply[:3] == bytes([26, 2, 9]) and reply[5] == 49 and reply.endswith(b"vvx-310")
    peer, nt = reply[6:22], reply[30:54]
    assert nt == mschapv2.nt_response(AUTH_CHALLENGE, peer, "vvx-310", "clientPass")
    proof = mschapv2.authenticator_response("clientPass", nt, peer, AUTH_CHALLENGE, "vvx-310")
    assert inner(bytes([26, 3, 9, 0, 0]) + f"{proof} M=ok".encode()) == bytes([26, 3])
    assert inner(_result(12, 1)) == bytes([2, 12, 0, 11, 33]) + struct.pack("!HHH", 0x8003, 2, 1)
    assert inner.result is True


def test_peap_inner_refuses_a_server_without_the_proof() -> None:
    inner = eap_peap.PeapInner("vvx-310", "clientPass")
    inner(_challenge(1))
    inner(bytes([26, 3, 1, 0, 0]) + b"S=" + b"0" * 40)
    assert inner(_result(2, 1))[-2:] == b"\x00\x02" and inner.result is False  # Result TLV: failure
    assert inner(b"\x04\x00") == bytes([3, 26])  # another inner method: Nak proposing MSCHAPv2
