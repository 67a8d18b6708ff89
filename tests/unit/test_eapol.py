"""The 802.1X supplicant on a virtual clock, against an authenticator whose frames Scapy builds."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import ssl
from pathlib import Path

import pytest
from scapy.layers.eap import EAP, EAP_MD5, EAP_TLS, EAPOL
from scapy.layers.l2 import Ether

from iot_emulator.config import manifests
from iot_emulator.devices import device
from iot_emulator.engine import stats
from iot_emulator.lab import dot1x_pki
from iot_emulator.profiles import catalog, dot1x
from iot_emulator.protocols.link import eap, eap_tls, eapol, wire
from iot_emulator.reporting import message_models

MAC = bytes.fromhex("001bd4a1b2c3")
SWITCH = bytes.fromhex("020000000001")
SECRET = "s3cret"


def supplicant(method: str = "md5", **kw: object) -> eapol.Supplicant:
    settings = dot1x.Dot1x.model_validate({"method": method, "password": SECRET, **kw})
    return eapol.Supplicant(mac=MAC, settings=settings, identity="CP-7841-SEP001BD4A1B2C3")


def from_switch(packet: EAP) -> bytes:
    return bytes(Ether(src=SWITCH.hex(":"), dst=MAC.hex(":")) / EAPOL(version=2, type=0) / packet)


def answer(frames: list[bytes]) -> EAP:
    [frame] = frames
    ether = Ether(frame)
    assert ether.type == 0x888E and ether.src == MAC.hex(":") and ether.dst == SWITCH.hex(":")
    packet: EAP = ether[EAP]
    return packet


def test_start_goes_to_the_pae_group_address() -> None:
    [frame] = supplicant().start(0.0)
    ether = Ether(frame)
    assert ether.dst == "01:80:c2:00:00:03" and ether.type == 0x888E
    assert ether[EAPOL].type == 1 and ether[EAPOL].version == 2 and ether[EAPOL].len == 0


def test_md5_exchange_authorizes_and_opens_the_port() -> None:
    s = supplicant()
    s.start(0.0)
    assert not s.port_open
    reply = answer(s.handle(from_switch(EAP(code=1, id=7, type=1)), 0.1))
    assert (reply.code, reply.id, reply.type, reply.identity) == (2, 7, 1, b"CP-7841-SEP001BD4A1B2C3")
    challenge = b"\x11" * 16
    reply = answer(s.handle(from_switch(EAP_MD5(code=1, id=8, value=challenge)), 0.2))
    assert isinstance(reply, EAP_MD5) and reply.id == 8 and reply.value_size == 16
    assert reply.value == hashlib.md5(b"\x08" + SECRET.encode() + challenge).digest()
    s.handle(from_switch(EAP(code=3, id=8)), 0.3)
    assert s.port_open and s.state is eapol.AuthState.AUTHORIZED
    events = [kind for kind, _ in s.pop_events() if kind != "log"]
    assert events == ["dot1x_start", "dot1x_success"]


def test_other_method_is_refused_with_a_nak_proposing_ours() -> None:
    s = supplicant()
    s.start(0.0)
    reply = answer(s.handle(from_switch(EAP_TLS(code=1, id=3, S=1)), 0.1))
    assert reply.type == 3 and bytes(reply)[5:] == b"\x04"  # Nak, desired type MD5


def test_failure_holds_then_retries_with_backoff() -> None:
    s = supplicant(held_period=5.0, held_backoff=2.0)
    s.start(0.0)
    s.handle(from_switch(EAP(code=4, id=1)), 1.0)
    assert s.state is eapol.AuthState.HELD and s.next_deadline() == 6.0
    assert s.handle(from_switch(EAP(code=1, id=2, type=1)), 2.0) == []  # held: deaf
    assert s.on_timer(5.9) == []
    [start] = s.on_timer(6.0)
    assert Ether(start)[EAPOL].type == 1 and s.auth_state() == "connecting"
    s.handle(from_switch(EAP(code=4, id=3)), 7.0)
    assert s.next_deadline() == 17.0  # second failure: twice the held period
    failures = [f for kind, f in s.pop_events() if kind == "dot1x_failure"]
    assert [f["retry_in"] for f in failures] == [5.0, 10.0]


def test_no_authenticator_opens_the_port_after_max_starts() -> None:
    s = supplicant(start_period=1.0, max_start=3)
    assert len(s.start(0.0)) == 1
    assert len(s.on_timer(1.0)) == 1 and len(s.on_timer(2.0)) == 1
    assert s.on_timer(3.0) == [] and s.port_open and s.state is eapol.AuthState.UNCONTROLLED


def test_reauthentication_on_timer_and_on_request_identity() -> None:
    s = supplicant(reauth_period=100.0)
    s.start(0.0)
    s.handle(from_switch(EAP(code=1, id=1, type=1)), 0.0)
    s.handle(from_switch(EAP_MD5(code=1, id=2, value=b"x" * 16)), 0.0)
    s.handle(from_switch(EAP(code=3, id=2)), 0.0)
    assert s.next_deadline() == 100.0
    [start] = s.on_timer(100.0)
    assert Ether(start)[EAPOL].type == 1 and s.port_open  # the port stays open while re-authenticating
    reply = answer(s.handle(from_switch(EAP(code=1, id=9, type=1)), 101.0))
    assert reply.type == 1
    s.handle(from_switch(EAP(code=3, id=9)), 101.5)
    successes = [f for kind, f in s.pop_events() if kind == "dot1x_success"]
    assert [f["reauthentication"] for f in successes] == [False, True]


def test_retransmitted_request_gets_the_same_response() -> None:
    s = supplicant()
    s.start(0.0)
    s.handle(from_switch(EAP(code=1, id=1, type=1)), 0.0)
    request = from_switch(EAP_MD5(code=1, id=2, value=b"y" * 16))
    assert s.handle(request, 0.1) == s.handle(request, 3.1)


def test_logoff_on_stop_when_authorized() -> None:
    s = supplicant()
    s.start(0.0)
    s.handle(from_switch(EAP(code=1, id=1, type=1)), 0.0)
    s.handle(from_switch(EAP(code=3, id=1)), 0.0)
    [logoff] = s.stop(1.0)
    assert Ether(logoff)[EAPOL].type == 2 and s.next_deadline() is None


def test_malformed_frames_are_ignored() -> None:
    s = supplicant()
    s.start(0.0)
    good = from_switch(EAP(code=1, id=1, type=1))
    assert s.handle(good[:20], 0.0) == []  # EAPOL length beyond the frame
    assert s.handle(good[:18] + b"\x01\x01\x00\xff\x01", 0.0) == []


def test_identity_template() -> None:
    got = eapol.identity_of("host/{hostname}|{MAC12}|{mac}", hostname="SEP1", mac=MAC, model="CP-7841")
    assert got == "host/SEP1|001BD4A1B2C3|00:1b:d4:a1:b2:c3"


def test_profile_section_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="held_period"):
        dot1x.Dot1x.model_validate({"method": "md5", "held_period": -1})
    with pytest.raises(ValueError, match="method"):
        dot1x.Dot1x.model_validate({"method": "leap"})


# -- EAP-TLS against a TLS server driven through memory BIOs --------------------------------------


class TlsAuthenticator:
    """The RADIUS server's side of EAP-TLS, fragmenting its flights as FreeRADIUS does."""

    def __init__(self, pki: Path, fragment: int = 300) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(pki / "server.pem", pki / "server.key")
        context.load_verify_locations(pki / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.fragment = fragment
        self.pending = b""
        self.received = b""
        self.done = False
        self.ids = iter(range(10, 200))

    def request(self, flags: int, data: bytes = b"") -> bytes:
        return from_switch(EAP(code=1, id=next(self.ids), type=13) / bytes([flags]) / data)

    def on_response(self, type_data: bytes) -> bytes:
        """The next Request (or Success) for the peer's Response type-data."""
        flags, body = type_data[0], type_data[1:]
        if flags & eap_tls.FLAG_LENGTH:
            body = body[4:]
        if self.pending and not body:
            return self.next_fragment()
        self.received += body
        if flags & eap_tls.FLAG_MORE:
            return self.request(0)
        if not body and self.done:
            return from_switch(EAP(code=3, id=next(self.ids)))
        self.incoming.write(self.received)
        self.received = b""
        try:
            self.tls.do_handshake()
            self.done = True
        except ssl.SSLWantReadError:
            pass
        self.pending = self.outgoing.read()
        return self.next_fragment()

    def next_fragment(self) -> bytes:
        chunk, self.pending = self.pending[: self.fragment], self.pending[self.fragment :]
        return self.request(eap_tls.FLAG_MORE if self.pending else 0, chunk)


def test_eap_tls_handshake_with_fragments(tmp_path: Path) -> None:
    dot1x_pki.make(tmp_path, [(MAC.hex(), "camera-001")])
    settings = dot1x.Dot1x(method="tls", pki_dir=str(tmp_path), fragment_size=200)
    s = eapol.Supplicant(
        mac=MAC,
        settings=settings,
        identity="camera-001",
        tls_context=lambda: eap_tls.client_context(str(tmp_path), MAC.hex()),
    )
    server = TlsAuthenticator(tmp_path)
    s.start(0.0)
    answer(s.handle(from_switch(EAP(code=1, id=1, type=1)), 0.0))
    frame = server.request(eap_tls.FLAG_START)
    fragments = 0
    for _ in range(100):
        out = s.handle(frame, 0.0)
        if not out:
            break
        reply = answer(out)
        assert reply.type == 13
        data = bytes(reply)[5:]
        fragments += bool(data[0] & eap_tls.FLAG_MORE)
        frame = server.on_response(data)
    assert s.port_open and server.done, s.pop_events()
    peer = server.tls.getpeercert()
    assert peer is not None and peer["subject"] == ((("commonName", "camera-001"),),)
    assert fragments >= 2  # our certificate flight did not fit 200 bytes


# -- the device: DHCP waits for the port ----------------------------------------------------------


def phone(**dot1x_fields: object) -> tuple[device.Device, list[tuple[str, dict[str, object]]]]:
    text = "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: phone}\nspec: {profile: cisco-cp-7841}\n"
    [config] = manifests.expand(manifests.parse_documents(text), catalog.builtin())
    profile = config.profile
    assert profile.dot1x is not None
    settings = profile.dot1x.model_copy(update={"enabled": True, "password": SECRET, **dot1x_fields})
    config = dataclasses.replace(
        config, profile=profile.model_copy(update={"dot1x": settings}), protocols=("arp", "dhcp")
    )
    events: list[tuple[str, dict[str, object]]] = []
    dev = device.Device(config, emit=lambda kind, fields: events.append((kind, fields)), rng=random.Random(1))
    return dev, events


def to_device(dev: device.Device, packet: EAP) -> bytes:
    return bytes(Ether(src=SWITCH.hex(":"), dst=dev.mac.hex(":")) / EAPOL(version=2, type=0) / packet)


def test_device_starts_dhcp_only_after_eap_success() -> None:
    dev, events = phone()
    sent = dev.start(0.0)
    assert [wire.ethertype(f) for f in sent] == [eap.ETH_P_PAE] and dev.auth == "connecting"
    [identity] = dev.handle(to_device(dev, EAP(code=1, id=1, type=1)), 0.1)
    assert Ether(identity)[EAP].identity == f"CP-7841-{dev.config.hostname}".encode()
    assert dev.handle(to_device(dev, EAP_MD5(code=1, id=2, value=b"z" * 16)), 0.2)
    assert dev.auth == "authenticating" and dev.dhcp.state.value == "init"
    discover = dev.handle(to_device(dev, EAP(code=3, id=2)), 0.3)
    assert [wire.ethertype(f) for f in discover] == [wire.ETH_P_IP] and dev.auth == "authorized"
    assert dev.counters.protocols["eapol"] == 3 and dev.counters.protocols["dhcp"] == 1
    assert [kind for kind, _ in events if kind.startswith("dot1x")] == ["dot1x_start", "dot1x_success"]


def test_device_without_dot1x_is_silent_on_eapol() -> None:
    dev, _ = phone(enabled=False)
    assert dev.auth == "mab"
    assert all(wire.ethertype(f) != eap.ETH_P_PAE for f in dev.start(0.0))
    assert dev.handle(to_device(dev, EAP(code=1, id=1, type=1)), 0.1) == []


def test_the_process_totals_count_devices_per_802_1x_state() -> None:
    """What the operator sums into IoTFleet.status.auth and /metrics reads per device."""
    authorized, _ = phone()
    authorized.start(0.0)
    authorized.handle(to_device(authorized, EAP(code=3, id=1)), 0.1)
    held, _ = phone()
    held.start(0.0)
    held.handle(to_device(held, EAP(code=4, id=1)), 0.1)
    silent, _ = phone(enabled=False)
    devices = [authorized, held, silent, phone(enabled=False)[0]]
    got = stats.totals(devices, started_wall=0.0, wall=lambda: 1.0, interface="lab0")
    assert got["auth"] == {"authorized": 1, "failed": 1, "mab": 2} and got["devices"] == 4


def test_device_messages_validate_against_the_contract() -> None:
    dev, events = phone(held_period=5.0)
    dev.start(0.0)
    dev.handle(to_device(dev, EAP(code=4, id=1)), 1.0)
    for kind, fields in events:
        if kind.startswith("dot1x"):
            message_models.parse({"type": kind, "device_id": "phone", "timestamp": "2026-01-01T00:00:00Z", **fields})
    assert dev.next_deadline() == 6.0 and dev.auth == "failed"


def test_a_profile_file_with_a_bad_dot1x_section_names_file_and_field(tmp_path: Path) -> None:
    text = (Path(catalog.__file__).parent / "data" / "cisco-cp-7841.yaml").read_text()
    text = text.replace("name: cisco-cp-7841", "name: bad-phone")
    text = text.replace("  method: md5", "  method: md5\n  held_period: -1")
    (tmp_path / "bad-phone.yaml").write_text(text)
    with pytest.raises(catalog.ProfileError, match=r"bad-phone.yaml: dot1x.held_period: Input should be greater"):
        catalog.library(tmp_path)


def test_shipped_dot1x_profiles_are_off_and_sourced() -> None:
    shipped = {p.name: p.dot1x for p in catalog.builtin() if p.dot1x is not None}
    assert set(shipped) == {
        "cisco-cp-7841",
        "polycom-vvx-310",
        "yealink-sip-t46s",
        "hp-laserjet-pro-m201dw",
        "axis-p3224-lv",
    }
    assert all(not d.enabled and d.source and d.behaviour for d in shipped.values())
