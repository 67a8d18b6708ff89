"""802.1X against real servers: hostapd (wired authenticator) on the gateway's port, FreeRADIUS behind it.

A phone authenticates with EAP-MD5, a camera with EAP-TLS (a certificate from the lab CA), a phone
with the wrong secret is refused and comes back after its held period, and a plug (no 802.1X in
its profile) sends no EAPOL at all. tshark on the gateway's interface gives the frame order (no
DHCP from a device before its EAP-Success); FreeRADIUS's log gives what a NAC reads.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import dot1x as lab_dot1x
from iot_emulator.profiles import catalog
from tests import poll

from .fingerprint_capture import FullCapture, decode
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

SECRET = "phone-secret"


def device(profile: str, index: int, **dot1x: Any) -> manifests.DeviceConfig:
    prof = catalog.builtin().get(profile)
    if dot1x:
        assert prof.dot1x is not None
        prof = prof.model_copy(update={"dot1x": prof.dot1x.model_copy(update={"enabled": True, **dot1x})})
    mac = f"{prof.ouis[0]}:5b:00:{index:02x}"
    return manifests.DeviceConfig(
        device_id=f"{profile}-{index}",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=("arp", "dhcp"),
        traffic_interval=600,
    )


@pytest.fixture
def dot1x_lab(lab_factory: Any) -> Iterator[iotlab.Lab]:
    yield lab_factory(lease_time=600)


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _mac12(config: manifests.DeviceConfig) -> str:
    return config.mac.replace(":", "")


def test_md5_phone_tls_camera_wrong_secret_and_a_silent_plug(dot1x_lab: iotlab.Lab, tmp_path: Path) -> None:
    pki = dot1x_lab.directory / "dot1x" / "pki"
    phone = device("cisco-cp-7841", 1, password=SECRET)
    camera = device("axis-p3224-lv", 2, pki_dir=str(pki))
    wrong = device("yealink-sip-t46s", 3, password="not-the-secret", held_period=2.0, start_period=1.0)
    plug = device("tplink-kasa-hs110", 4)
    stranger = device("tplink-kasa-hs110", 7)  # no 802.1X and not on the MAB list: the port stays shut
    peap = device("polycom-vvx-310", 5, method="peap", password=SECRET, pki_dir=str(pki))
    assert plug.profile.dot1x is None
    identities = {
        phone.device_id: f"CP-7841-{phone.hostname}",
        camera.device_id: camera.hostname,
        wrong.device_id: wrong.hostname,
        peap.device_id: peap.mac.replace(":", ""),
    }
    servers = lab_dot1x.start(
        dot1x_lab,
        [
            lab_dot1x.User(identities[phone.device_id], password=SECRET),
            lab_dot1x.User(identities[camera.device_id], cert_file=_mac12(camera)),
            lab_dot1x.User(identities[wrong.device_id], password=SECRET),
            lab_dot1x.User(identities[peap.device_id], password=SECRET),
        ],
        mab=[plug.mac],
    )
    capture = FullCapture(dot1x_lab, tmp_path / "dot1x.pcap")
    try:
        emulator = EngineThread(dot1x_lab, [phone, camera, wrong, plug, peap, stranger])
        try:
            by_id = {d.device_id: d for d in emulator.engine.devices}
            emulator.wait(
                lambda: (
                    all(
                        by_id[i].ip is not None
                        for i in (phone.device_id, camera.device_id, plug.device_id, peap.device_id)
                    )
                    or None
                ),
                30,
                "the phones, the camera and the plug to bind",
            )

            def failures() -> list[dict[str, Any]]:
                return [
                    m for m in emulator.messages if m["type"] == "dot1x_failure" and m["device_id"] == wrong.device_id
                ]

            def retried() -> list[dict[str, Any]]:
                failed = failures()
                return [
                    m
                    for m in emulator.messages
                    if m["type"] == "dot1x_start"
                    and failed
                    and m["device_id"] == wrong.device_id
                    and m["timestamp"] > failed[0]["timestamp"]
                ]

            heard = f"STA {wrong.mac} IEEE 802.1X: received EAPOL-Start"
            emulator.wait(lambda: failures() or None, 30, "the wrong secret to be refused")
            before = servers.hostapd_log.read_text().count(heard)
            emulator.wait(lambda: retried() or None, 30, "the refused phone to start again after its held period")
            # ...and its Start crosses the link: hostapd hears it (and refuses it again)
            poll.until(lambda: servers.hostapd_log.read_text().count(heard) > before, 10, "hostapd to hear the retry")
            auth = emulator.call(lambda: {i: d.auth for i, d in by_id.items()})
            stranger_ip = emulator.call(lambda: by_id[stranger.device_id].ip)
            wrong_ip = emulator.call(lambda: by_id[wrong.device_id].ip)
        finally:
            emulator.stop()
    finally:
        capture.stop()
    assert auth[phone.device_id] == auth[camera.device_id] == auth[peap.device_id] == "authorized", auth
    assert auth[plug.device_id] == "mab" and wrong_ip is None  # refused: no DHCP, ever
    assert stranger_ip is None and auth[stranger.device_id] == "mab"  # its DISCOVERs died at the port
    failure = failures()[0]
    assert failure["retry_in"] == 2.0 and failure["failures"] == 1
    held = _seconds(retried()[0]["timestamp"]) - _seconds(failure["timestamp"])
    assert 2.0 <= held < 4.0, held  # silent for its held period, then EAPOL-Start again
    successes = {m["device_id"]: m for m in emulator.messages if m["type"] == "dot1x_success"}
    assert successes[phone.device_id]["method"] == "md5" and successes[camera.device_id]["method"] == "tls"
    assert successes[peap.device_id]["method"] == "peap"

    # The wire: EAPOL only from the three 802.1X devices; each DHCP only after that device's Success.
    rows = decode(
        capture.pcap,
        "eapol or dhcp",
        ["frame.time_relative", "eth.src", "eth.dst", "eapol.type", "eap.code", "eap.type", "dhcp.option.dhcp"],
    )
    eapol_sources = {r[1] for r in rows if r[3]}
    assert plug.mac not in eapol_sources and {phone.mac, camera.mac, wrong.mac} <= eapol_sources
    for config in (phone, camera, peap):
        success = next(float(r[0]) for r in rows if r[2] == config.mac and r[4] == "3")
        dhcp = [float(r[0]) for r in rows if r[1] == config.mac and r[6]]
        assert dhcp and min(dhcp) > success, (config.device_id, success, dhcp)
    assert not [r for r in rows if r[1] == wrong.mac and r[6]]
    assert [r for r in rows if r[1] == stranger.mac and r[6] == "1"]  # it asked (tshark taps before ingress)
    assert not [r for r in rows if r[2] == stranger.mac and r[6]]  # and dnsmasq never answered
    gate = (servers.directory / "gate.log").read_text()
    assert f"add {phone.mac}" in gate and f"add {wrong.mac}" not in gate
    asked = {(r[2], r[5]) for r in rows if r[4] == "1"}  # the Requests' EAP types, by recipient
    answered = {(r[1], r[5]) for r in rows if r[4] == "2"}
    assert (phone.mac, "4") in asked and (camera.mac, "13") in asked and (peap.mac, "25") in asked
    assert (camera.mac, "3") in answered  # offered MD5 first (the server's default), the camera sent a Nak
    assert [r for r in rows if r[2] == wrong.mac and r[4] == "4"]  # the EAP-Failure on the wire

    # What a NAC reads in FreeRADIUS's log: User-Name, Calling-Station-Id (the MAC), the EAP method.
    log = servers.radius_log.read_text()
    for config, method in ((phone, "MD5 \\(4\\)"), (camera, "TLS \\(13\\)"), (peap, "PEAP \\(25\\)")):
        name = identities[config.device_id]
        calling = config.mac.replace(":", "-").upper()
        assert f'User-Name = "{name}"' in log and f'Calling-Station-Id = "{calling}"' in log
        assert re.search(rf"Login OK: \[{re.escape(name)}\]", log)
        assert re.search(rf"method EAP {method}", log), method
    assert re.search(rf"Login incorrect.*\[{re.escape(identities[wrong.device_id])}", log)


def test_users_file_refuses_quotes() -> None:
    with pytest.raises(iotlab.LabConfigError, match="quotes"):
        lab_dot1x.users_file([lab_dot1x.User('a"b', password="x")])
    assert lab_dot1x.users_file([lab_dot1x.User("p", password="s"), lab_dot1x.User("c", cert_file="c")]) == (
        '"p" Cleartext-Password := "s"\n'
    )


def test_authenticator_reauthentication_keeps_the_port(dot1x_lab: iotlab.Lab) -> None:
    """hostapd's re-authentication timer sends a new Request-Identity: the phone answers and stays authorized."""
    phone = device("cisco-cp-7841", 6, password=SECRET)
    identity = f"CP-7841-{phone.hostname}"
    servers = lab_dot1x.start(dot1x_lab, [lab_dot1x.User(identity, password=SECRET)], reauth_period=2)
    emulator = EngineThread(dot1x_lab, [phone])
    try:

        def successes() -> list[dict[str, Any]]:
            return [m for m in emulator.messages if m["type"] == "dot1x_success"]

        dev = emulator.engine.devices[0]
        # the first DISCOVER can race the gate opening the port (as with a switch): DHCP retries
        emulator.wait(lambda: (len(successes()) >= 2 and dev.ip is not None) or None, 30, "a re-authentication")
        ip, auth = emulator.call(lambda: (dev.ip, dev.auth))
    finally:
        emulator.stop()
    first, again = successes()[:2]
    assert not first["reauthentication"] and again["reauthentication"] and again["method"] == "md5"
    assert ip is not None and auth == "authorized"
    assert not [m for m in emulator.messages if m["type"] == "dot1x_start" and m["timestamp"] > first["timestamp"]]
    assert servers.radius_log.read_text().count(f"Login OK: [{identity}]") >= 2
    acks = [m for m in emulator.messages if m["type"] == "dhcp_ack"]
    assert len(acks) == 1 and "add" in (servers.directory / "gate.log").read_text()  # the lease was kept
