"""Every shipped profile, as real fingerprinting tools read it in a lab.

One emulator process runs one device of each shipped profile on a lab whose dnsmasq answers every
name with the gateway's address. In the gateway namespace, where a discovery product's sensor would
sit, real servers answer the devices' sessions (nginx for HTTP and TLS, mosquitto, an RTSP
listener; tests/lab/servers.py), tshark records every frame and p0f reads every SYN; avahi browses
the services announced. The tests then hold what those tools decoded to what each profile says:

- DHCP options of DISCOVER and of REQUEST in the profile's order, and the values of 55, 60 and 12;
- the HTTP User-Agent, the TLS SNI and the JA3 tshark computes from the ClientHello;
- the mDNS records and SSDP NOTIFYs on the wire, the services avahi lists, the LLDP TLVs;
- p0f's label for the SYN: the OS class the profile names where p0f's (2012) database has one, else
  "???" with the same raw signature in a second run of the emulator (a new process, new leases).

The scenario runs once for the module (about a minute); the tests only read it. Set
IOTEMU_FINGERPRINT_REPORT=<file> to keep what the tools said per profile as JSON (docs/profiles.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.profiles import catalog
from tests import poll
from tests.conftest import new_lab_name
from tests.lab import servers, udp_servers
from tests.lab.emulator import Emulator, in_lab
from tests.lab.fingerprint_capture import FullCapture, P0f, P0fSyn, avahi_lists, decode

pytestmark = pytest.mark.lab

PROFILES = sorted(catalog.builtin(), key=lambda p: p.name)
IDS = [p.name for p in PROFILES]
BIND_WAIT = 30.0
SESSION_WAIT = 30.0
TLS_PORTS = tuple(sorted({p.tls.port for p in PROFILES if p.tls is not None}))
HTTP_PORTS = tuple(sorted({r.port for p in PROFILES if p.http for r in p.http.requests} - {80}))
"""HTTP ports nginx does not serve (80): an RTSP-style listener records those requests."""
REPORT_ENV = "IOTEMU_FINGERPRINT_REPORT"
P0F_CLASS = {
    "amazon-echo-dot": "Linux",
    "axis-p3224-lv": "Linux",
    "cisco-cp-7841": "Linux",
    "dahua-ipc-hdw4431c-a": "Linux",
    "dahua-nvr4108hs-4ks2": "Linux",
    "google-nest-mini": "Linux",
    "grandstream-gxp1405": "Linux",
    "hid-vertx-evo-v2000": "Linux",
    "hikvision-ds-2cd2042fwd": "Linux",
    "nest-learning-thermostat": "Linux",
    "philips-hue-bridge": "Linux",
    "polycom-vvx-310": "Linux",
    "roku-express": "Linux",
    "samsung-tizen-tv": "Linux",
    "tplink-kasa-hs110": "Linux",
    "yealink-sip-t46s": "Linux",
}
"""The OS class p0f must give each profile's SYN. The others run stacks p0f's database does not know
(lwIP, Windows CE, printer and PLC firmware): p0f must say "???" and the same raw signature twice."""


@dataclasses.dataclass
class Device:
    """One emulated device of a run: its MAC, host name (option 12) and leased address."""

    mac: str
    hostname: str
    ip: str


@dataclasses.dataclass
class Scenario:
    pcap: Path
    devices: dict[str, Device]
    """Profile name -> the device of the first run (the one tshark recorded)."""
    p0f: list[dict[str, list[P0fSyn]]]
    """Per run: profile name -> what p0f said of each of the device's SYNs."""
    avahi: dict[tuple[str, str], bool]
    """(profile, mDNS service type) -> whether avahi-browse listed the device's instance."""
    silent: list[list[str]]
    """Per run: the profiles whose device opened no TCP connection within SESSION_WAIT of binding."""

    def expect_sessions(self, name: str, *runs: int) -> None:
        """The device opened its TCP sessions in these runs (the first by default)."""
        for run in runs or (0,):
            assert name not in self.silent[run], f"{name}: no TCP connection within {SESSION_WAIT:g} s (run {run})"

    def rows(self, display_filter: str, *fields: str) -> list[list[str]]:
        return decode(self.pcap, display_filter, fields)


def _manifest(directory: Path) -> Path:
    path = directory / "fleet.yaml"
    path.write_text(
        "".join(
            f"---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {{name: {p.name}}}\n"
            f"spec: {{profile: {p.name}, trafficInterval: 30}}\n"
            for p in PROFILES
        )
    )
    return path


@contextlib.contextmanager
def fleet(lab: iotlab.Lab, directory: Path, run: int) -> Iterator[tuple[dict[str, Device], P0f, list[str]]]:
    """The whole fleet in one emulator process, once every device is bound and p0f has seen a SYN of each
    (or SESSION_WAIT has passed: the devices still silent then are the third value)."""
    p0f = P0f(lab, directory / f"p0f-{run}.log")
    emulator = Emulator(
        [
            "run",
            "-f",
            str(_manifest(directory)),
            *in_lab(lab, directory / f"state-{run}"),
        ]
    )
    try:
        acks = emulator.wait_count("dhcp_ack", len(PROFILES), BIND_WAIT)
        started = {m["device_id"]: m for m in emulator.messages if m["type"] == "started"}
        devices = {
            m["device_id"]: Device(
                started[m["device_id"]]["mac"], started[m["device_id"]]["hostname"], m["assigned_ip"]
            )
            for m in acks
        }
        with contextlib.suppress(AssertionError):
            poll.until(lambda: not _without_syn(devices, p0f), SESSION_WAIT, "a SYN of every device")
        yield devices, p0f, _without_syn(devices, p0f)
    finally:
        if emulator.proc.poll() is None:
            assert emulator.stop(timeout=15) == 0, emulator.tail()
        emulator.kill()
        p0f.stop()


def _without_syn(devices: dict[str, Device], p0f: P0f) -> list[str]:
    seen = p0f.syns()
    return sorted(name for name, device in devices.items() if device.ip not in seen)


def by_profile(devices: dict[str, Device], syns: dict[str, list[P0fSyn]]) -> dict[str, list[P0fSyn]]:
    return {name: syns.get(device.ip, []) for name, device in devices.items()}


def _sessions_missing(directory: Path, devices: dict[str, Device], listeners: list[servers.RtspListener]) -> list[str]:
    """Profiles whose sessions no server has logged yet (HTTP on :80, TLS, MQTT; RTSP/other HTTP per listener)."""
    http = " ".join(servers.lines_of(directory / "nginx" / "http-access.log"))
    tls = " ".join(servers.lines_of(directory / "nginx" / "tls-access.log"))
    mqtt = " ".join(servers.lines_of(directory / "mosquitto" / "mosquitto.log"))
    heard = sum(len(listener.requests) for listener in listeners)
    missing = []
    for prof in PROFILES:
        ip = devices[prof.name].ip + " "
        wanted = []
        if prof.http and any(r.port == 80 for r in prof.http.requests):
            wanted.append(ip in http)
        if prof.tls:
            wanted.append(ip in tls)
        if prof.mqtt:
            wanted.append(f"from {ip.strip()}:" in mqtt)
        if prof.rtsp or (prof.http and any(r.port != 80 for r in prof.http.requests)):
            wanted.append(heard > 0)
        if not all(wanted):
            missing.append(prof.name)
    return missing


def fill(pattern: str, prof: catalog.Profile, device: Device) -> str:
    """mDNS placeholders, as protocols.service_kit.fill fills them."""
    mac6 = device.mac.replace(":", "")[-6:]
    return pattern.format(
        vendor=prof.vendor,
        model=prof.model,
        mac6=mac6.lower(),
        MAC6=mac6.upper(),
        index=0,
        name=prof.name,
        hostname=device.hostname,
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    directory = tmp_path_factory.mktemp("fingerprints")
    gateway = str(iotlab.DEFAULT_SUBNET.network_address + 1)
    config = iotlab.LabConfig(name=new_lab_name(), state_dir=directory / "labs", dns_names={"*": gateway})
    lab = iotlab.up(config)
    try:
        with contextlib.ExitStack() as stack:
            capture = FullCapture(lab, directory / "lab.pcap")
            stack.callback(capture.stop)
            stack.callback(servers.start_nginx(lab, directory / "nginx", tls_ports=TLS_PORTS).stop)
            stack.callback(servers.start_mosquitto(lab, directory / "mosquitto").stop)
            listeners = [servers.RtspListener(lab, port) for port in (554, *HTTP_PORTS)]
            for listener in listeners:
                stack.callback(listener.close)
            avahi_env = stack.enter_context(udp_servers.avahi(lab))
            with fleet(lab, directory, 1) as (devices, p0f, silent):
                with contextlib.suppress(AssertionError):  # what is missing then fails its own test
                    poll.until(
                        lambda: set(_sessions_missing(directory, devices, listeners)) <= set(silent),
                        SESSION_WAIT,
                        "every device's sessions in the servers' logs",
                    )
                browsed = {}
                for prof in PROFILES:
                    for service in prof.mdns.services if prof.mdns else []:
                        instance = fill(service.instance, prof, devices[prof.name])
                        browsed[prof.name, service.type] = avahi_lists(lab, avahi_env, service.type, instance)
                first = by_profile(devices, p0f.syns())
            capture.stop()  # after the goodbyes and releases of the first run
            with fleet(lab, directory, 2) as (devices_2, p0f_2, silent_2):
                second = by_profile(devices_2, p0f_2.syns())
            scenario = Scenario(capture.pcap, devices, [first, second], browsed, [silent, silent_2])
            _write_report(scenario)
            yield scenario
    finally:
        iotlab.down(lab.name, config.state_dir)


# -- DHCP --------------------------------------------------------------------------------------------------


def expected_discover(prof: catalog.Profile) -> list[int]:
    """A first DISCOVER: the profile's order, without 50 (no address remembered yet), 54 and 81 (REQUEST only)."""
    return [c for c in prof.dhcp.options if c not in (50, 54, 81, 116)]


def expected_request(prof: catalog.Profile) -> list[int]:
    """A SELECTING REQUEST: its own order where the profile gives one; 50 and 54 always (RFC 2131 table 5)."""
    order = list(prof.dhcp.request_options or prof.dhcp.options)
    order += [c for c in (50, 54) if c not in order]
    return [c for c in order if c != 116]


def _dhcp_rows(scenario: Scenario, prof: catalog.Profile) -> dict[str, list[str]]:
    """The first DISCOVER ("1") and REQUEST ("3") of the device as tshark decodes them."""
    rows = scenario.rows(
        f"dhcp && eth.src == {scenario.devices[prof.name].mac}",
        "dhcp.option.dhcp",
        "dhcp.option.type",
        "dhcp.option.request_list_item",
        "dhcp.option.vendor_class_id",
        "dhcp.option.hostname",
    )
    first: dict[str, list[str]] = {}
    for row in rows:
        first.setdefault(row[0], row)
    return first


def _codes(field: str) -> list[int]:
    """Option codes up to the End option (which tshark lists as 255 or not at all) and the padding (0)."""
    codes = [int(c) for c in field.split(",") if c]
    for stop in (255, 0):
        if stop in codes:
            codes = codes[: codes.index(stop)]
    return codes


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_dhcp_options_in_the_profile_order_and_values(scenario: Scenario, prof: catalog.Profile) -> None:
    rows = _dhcp_rows(scenario, prof)
    assert {"1", "3"} <= set(rows), f"tshark decoded no DISCOVER or no REQUEST: {rows}"
    discover, request = rows["1"], rows["3"]
    assert _codes(discover[1]) == expected_discover(prof)
    assert _codes(request[1]) == expected_request(prof)
    for row in (discover, request):
        assert [int(c) for c in row[2].split(",")] == prof.dhcp.parameter_request_list
        assert row[3] == (prof.dhcp.vendor_class_id or "")
    hostname = scenario.devices[prof.name].hostname
    assert hostname == prof.hostname_for(scenario.devices[prof.name].mac)
    assert discover[4] == (hostname if 12 in expected_discover(prof) else "")
    assert request[4] == (hostname if 12 in expected_request(prof) else "")


# -- HTTP and TLS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.http], ids=lambda p: p.name)
def test_http_requests_carry_the_profile_user_agent(scenario: Scenario, prof: catalog.Profile) -> None:
    assert prof.http is not None
    scenario.expect_sessions(prof.name)
    rows = scenario.rows(
        f"http.request && ip.src == {scenario.devices[prof.name].ip}",
        "http.request.method",
        "http.host",
        "http.request.uri",
        "http.user_agent",
    )
    wanted = {(r.method, r.host if r.port == 80 else f"{r.host}:{r.port}", r.path) for r in prof.http.requests}
    assert {(m, h, u) for m, h, u, _ in rows} == wanted
    assert {ua for *_, ua in rows} == {prof.http.user_agent or ""}


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.tls], ids=lambda p: p.name)
def test_tls_client_hello_has_the_sni_and_the_profile_ja3(scenario: Scenario, prof: catalog.Profile) -> None:
    from iot_emulator.protocols.transport import tls_hello

    assert prof.tls is not None
    scenario.expect_sessions(prof.name)
    rows = scenario.rows(
        f"tls.handshake.type == 1 && ip.src == {scenario.devices[prof.name].ip}",
        "tcp.dstport",
        "tls.handshake.extensions_server_name",
        "tls.handshake.ja3",
    )
    assert rows, "tshark decoded no ClientHello"
    assert {int(port) for port, _, _ in rows} == {prof.tls.port}
    sent_sni = 0 in prof.tls.extensions
    assert {sni for _, sni, _ in rows} == (set(prof.tls.servers) if sent_sni else {""})
    assert {ja3 for *_, ja3 in rows} == {tls_hello.ja3_md5(prof.tls)}


# -- mDNS, SSDP, LLDP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.mdns], ids=lambda p: p.name)
def test_mdns_services_on_the_wire_and_in_avahi(scenario: Scenario, prof: catalog.Profile) -> None:
    assert prof.mdns is not None
    device = scenario.devices[prof.name]
    rows = scenario.rows(
        f"mdns && dns.flags.response == 1 && ip.src == {device.ip}", "dns.ptr.domain_name", "dns.srv.port"
    )
    pointers = {name for row in rows for name in row[0].split(",")}
    ports = {int(p) for row in rows for p in row[1].split(",") if p}
    for service in prof.mdns.services:
        instance = fill(service.instance, prof, device)
        assert f"{instance}.{service.type}.local" in pointers, sorted(pointers)
        assert service.port in ports
        assert scenario.avahi[prof.name, service.type], f"avahi-browse did not list {instance!r} within 10 s"


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.ssdp], ids=lambda p: p.name)
def test_ssdp_notify_carries_the_profile_server_and_type(scenario: Scenario, prof: catalog.Profile) -> None:
    assert prof.ssdp is not None
    rows = scenario.rows(
        f"ssdp && ip.src == {scenario.devices[prof.name].ip}",
        "http.request.method",
        "http.server",
        "http.unknown_header",
    )
    notify = [row for row in rows if row[0] == "NOTIFY" and "NTS: ssdp:alive" in row[2]]  # CR LF escaped
    assert notify, "no NOTIFY ssdp:alive decoded"
    assert {row[1] for row in notify} == {prof.ssdp.server}
    assert any(f"NT: {prof.ssdp.device_type}\\r\\n" in row[2].split(",") for row in notify), notify[0][2]


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.lldp], ids=lambda p: p.name)
def test_lldp_announces_the_profile_system(scenario: Scenario, prof: catalog.Profile) -> None:
    assert prof.lldp is not None
    device = scenario.devices[prof.name]
    rows = scenario.rows(f"lldp && eth.src == {device.mac}", "lldp.tlv.system.name", "lldp.tlv.system.desc")
    assert rows, "no LLDPDU decoded"
    assert {(name, desc) for name, desc in rows} == {(device.hostname, prof.lldp.system_description)}


# -- p0f -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_p0f_names_the_os_class_or_a_stable_signature(scenario: Scenario, prof: catalog.Profile) -> None:
    scenario.expect_sessions(prof.name, 0, 1)
    first, second = (run[prof.name] for run in scenario.p0f)
    assert first and second, "p0f saw no SYN in one of the runs"
    assert len({s.raw_sig for s in first + second}) == 1, "one device, one SYN shape, in every connection and run"
    wanted = P0F_CLASS.get(prof.name)
    if wanted is None:  # p0f has no such class: what it says (often a fuzzy guess) must not change
        assert len({(s.os, s.params) for s in first + second}) == 1, "p0f's verdict changed between connections/runs"
    else:
        assert all(s.os.startswith(wanted) for s in first + second), first[0].os


def _write_report(scenario: Scenario) -> None:
    """What the tools said per profile, as JSON, when REPORT_ENV names a file (docs/profiles.md is made from it)."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    from iot_emulator.protocols.transport import tls_hello

    report: dict[str, Any] = {}
    for prof in PROFILES:
        syn = scenario.p0f[0][prof.name][:1]
        report[prof.name] = {
            "p0f_os": syn[0].os if syn else None,
            "p0f_sig": syn[0].raw_sig if syn else None,
            "p0f_params": syn[0].params if syn else None,
            "ja3": tls_hello.ja3_md5(prof.tls) if prof.tls else None,
            "ja4": tls_hello.ja4(prof.tls) if prof.tls else None,
            "hostname": scenario.devices[prof.name].hostname,
        }
    Path(target).write_text(json.dumps(report, indent=2) + "\n")
