"""`lab up --internet`: every shipped profile's cloud sessions cross the gateway to the sink, checked on the wire.

One lab with an internet, one engine running a device of every shipped profile that talks to a
cloud, with no name mapped by the test: every name resolves through the lab's catch-all to the sink
address, which lives in the lab's third namespace, behind the gateway's route. One tshark on the
gateway's LAN interface (where a branch sensor sits) decodes what the devices send there. Per
profile, what it decoded must be what the profile data says: the HTTP Host and User-Agent of each
request, the TLS SNI and JA3 (`tls_hello.ja3_md5` of the profile's hello), the MQTT client id
(the profile's pattern filled for the device), the NTP version (`ntp.VERSION`: profiles carry
none), the CoAP paths and the RTSP requests, and the sink's servers must have answered (NTP
server mode, CoAP 2.05, RTSP 200) and logged them; every TLS handshake completes (nginx logs the
request sent inside). A Meross plug variant speaks MQTT over TLS to the sink's mosquitto on 8883
(its hello on the wire, its client id in the broker's log). The scenario runs once for the module
(15-20 s on 2 cores); the tests read it, then use the lab's sink directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import config as labconfig
from iot_emulator.lab import internet, netns, process, wan
from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import mqtt, ntp, rtsp
from iot_emulator.protocols.transport import tls_hello
from tests import poll
from tests.conftest import new_lab_name
from tests.lab import servers
from tests.lab.udp_servers import Capture, EngineThread

pytestmark = pytest.mark.lab

SINK = str(labconfig.SINK_ADDRESS)
FIELDS = (
    "ip.src",
    "ip.dst",
    "eth.dst",
    "http.host",
    "http.user_agent",
    "tls.handshake.extensions_server_name",
    "tls.handshake.ja3",
    "mqtt.clientid",
    "ntp.flags.mode",
    "ntp.flags.vn",
    "coap.code",
    "coap.opt.uri_path_recon",
    "rtsp.method",
    "rtsp.url",
    "rtsp.status",
)
DISPLAY = "http.request || tls.handshake.type == 1 || mqtt.msgtype == 1 || ntp || (coap && coap.code != 0) || rtsp"
SESSION_WAIT = 60.0
Observation = tuple[str, ...]
"""("http", host, user agent), ("tls", sni, ja3), ("mqtt", client id), ("ntp", version), ("coap", path),
("rtsp", method, url), and the sink's answers: ("ntp-reply",), ("coap-reply", code), ("rtsp-reply", status)."""


def expected(config: manifests.DeviceConfig) -> set[Observation]:
    """What the device of `config` must send to its clouds and get back, from its profile's data only."""
    prof, speaks = config.profile, set(config.protocols)
    out: set[Observation] = set()
    if prof.http and "http" in speaks:
        out |= {
            ("http", r.host if r.port == 80 else f"{r.host}:{r.port}", prof.http.user_agent or "")
            for r in prof.http.requests
        }
    if prof.tls and speaks_tls(config):
        names = prof.tls.servers if 0 in prof.tls.extensions else [""]
        out |= {("tls", name, tls_hello.ja3_md5(prof.tls)) for name in names}
    if prof.mqtt and "mqtt" in speaks and prof.mqtt.tls:  # the client id is inside TLS: the hello is what shows
        assert prof.tls is not None
        out.add(("tls", prof.mqtt.broker if 0 in prof.tls.extensions else "", tls_hello.ja3_md5(prof.tls)))
    elif prof.mqtt and "mqtt" in speaks:
        out.add(("mqtt", mqtt.fill(prof.mqtt.client_id, mqtt.placeholders(config))))
    if "ntp" in speaks:
        out |= {("ntp", str(ntp.VERSION)), ("ntp-reply",)}
    if prof.coap and "coap" in speaks:
        out |= {("coap", path) for path in prof.coap.paths} | {("coap-reply", "69")}  # 2.05 Content
    if prof.rtsp and "rtsp" in speaks:
        out |= {("rtsp", method, rtsp.url(prof.rtsp)) for method in ("OPTIONS", "DESCRIBE")} | {("rtsp-reply", "200")}
    return out


def observed(rows: list[list[str]], ip: str) -> set[Observation]:
    """What tshark decoded between the device at `ip` and the sink, in the shape of `expected`."""
    out: set[Observation] = set()
    for src, dst, _, host, agent, sni, ja3, client_id, mode, version, code, path, method, url, status in rows:
        if src == ip and dst == SINK:
            if host:
                out.add(("http", host, agent))
            if ja3:
                out.add(("tls", sni, ja3))
            if client_id:
                out.add(("mqtt", client_id))
            if mode == "3":
                out.add(("ntp", version))
            if code == "1":
                out.add(("coap", path))
            if method:
                out.add(("rtsp", method, url))
        elif src == SINK and dst == ip:
            if mode == "4":
                out.add(("ntp-reply",))
            if code and code != "1":
                out.add(("coap-reply", code))
            if status:
                out.add(("rtsp-reply", status))
    return out


REFUSED = {"bd-alaris-gateway-workstation"}
"""Profiles whose hello offers only suites Debian's OpenSSL 3 no longer has (RC4, DES, 3DES): nginx
refuses it with alert 40, as tests/unit/test_tls_client.py finds against `openssl s_server`."""


def speaks_tls(config: manifests.DeviceConfig) -> bool:
    return config.profile.tls is not None and bool(set(config.protocols) & {"cloud", "https"})


def completes_tls(config: manifests.DeviceConfig) -> bool:
    return speaks_tls(config) and config.device_id not in REFUSED


def handshakes(lab: iotlab.Lab) -> dict[str, set[str]]:
    """Device address -> the SNIs of the TLS sessions nginx's HTTPS server completed and logged a request in."""
    done: dict[str, set[str]] = {}
    for line in servers.lines_of(lab.directory / "internet" / "https-access.log"):
        sni = re.search(r' sni="([^"]*)"', line)
        if sni:
            done.setdefault(line.split(" ", 1)[0], set()).add(sni[1])
    return done


def mqtt_over_tls(prof: catalog.Profile) -> catalog.Profile:
    """`prof` with its MQTT inside TLS on 8883, as the real Meross plug speaks it (on its own port)."""
    assert prof.mqtt is not None
    mqtt_tls = prof.mqtt.model_copy(update={"tls": True, "port": internet.MQTT_TLS_PORT})
    return prof.model_copy(update={"name": f"{prof.name}-mqtt-tls", "mqtt": mqtt_tls})


def device_configs() -> list[manifests.DeviceConfig]:
    """One device of every shipped profile that talks to a cloud, and a Meross plug speaking MQTT over TLS."""
    library = sorted(catalog.builtin(), key=lambda p: p.name)
    configs = []
    for index, prof in enumerate([*library, mqtt_over_tls(catalog.builtin().get("meross-mss110"))]):
        mac = f"{prof.ouis[0]}:5c:00:{index + 1:02x}"
        config = manifests.DeviceConfig(
            device_id=prof.name,
            mac=mac,
            hostname=prof.hostname_for(mac),
            profile=prof,
            protocols=tuple(prof.protocols),
            traffic_interval=30,
        )
        if expected(config):
            configs.append(config)
    return configs


CONFIGS = device_configs()


@dataclasses.dataclass
class Scenario:
    lab: iotlab.Lab
    ips: dict[str, str]
    """Profile name -> the device's leased address."""
    rows: list[list[str]]
    """Every row tshark decoded (FIELDS)."""
    gateway_mac: str

    def log(self, name: str) -> str:
        return (self.lab.directory / "internet" / name).read_text(errors="replace")


def _decode_as() -> list[str]:
    """HTTP and TLS on the ports that tshark does not know as theirs (the profiles' vendor ports)."""
    ports = internet.ports()
    tls = [port for port in (*ports.tls, *ports.mqtt_tls) if port not in (443, internet.MQTT_TLS_PORT)]
    return [f"tcp.port=={port},http" for port in ports.http if port != 80] + [f"tcp.port=={port},tls" for port in tls]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    directory = tmp_path_factory.mktemp("internet")
    config = iotlab.LabConfig(name=new_lab_name(), state_dir=directory / "labs", internet=True)
    with iotlab.lab(config) as lab:
        capture = Capture(lab, f"host {SINK}", DISPLAY, FIELDS, decode_as=_decode_as())
        emulator = EngineThread(lab, CONFIGS)
        try:
            bound = emulator.wait(
                lambda: all(d.ip is not None for d in emulator.engine.devices) or None, 30, "every device to bind"
            )
            assert bound
            ips = {d.config.device_id: str(ipaddress.IPv4Address(d.ip)) for d in emulator.engine.devices if d.ip}

            def missing() -> list[str]:
                rows, done = capture.rows(), handshakes(lab)
                return [
                    c.device_id
                    for c in CONFIGS
                    if not expected(c) <= observed(rows, ips[c.device_id])
                    or (completes_tls(c) and ips[c.device_id] not in done)
                ]

            with contextlib.suppress(AssertionError):  # what is still missing then fails its own profile's test
                poll.until(lambda: not missing(), SESSION_WAIT, "every profile's sessions on the wire")
        finally:
            emulator.stop()
            capture.stop()
        gateway_mac = lab.run_in_gw("cat", f"/sys/class/net/{lab.gw_iface}/address").stdout.strip()
        yield Scenario(lab, ips, capture.rows(), gateway_mac)
    assert not netns.exists(lab.sink_netns), "the sink namespace outlived its lab"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.device_id for c in CONFIGS])
def test_each_profiles_sessions_on_the_wire_match_its_data(scenario: Scenario, config: manifests.DeviceConfig) -> None:
    ip = scenario.ips[config.device_id]
    seen = observed(scenario.rows, ip)
    wanted = expected(config)
    assert wanted <= seen, f"missing on the wire: {sorted(wanted - seen)}"
    kinds = {o[0] for o in wanted}
    assert {o for o in seen if o[0] in kinds} == wanted, "a value the profile does not have went out"


def test_devices_reach_the_sink_through_their_gateway(scenario: Scenario) -> None:
    to_sink = [r for r in scenario.rows if r[1] == SINK]
    assert to_sink and {r[2] for r in to_sink} == {scenario.gateway_mac}


def test_the_servers_run_in_the_sink_namespace_not_the_gateways(scenario: Scenario) -> None:
    lab = scenario.lab
    record = process.Proc.from_json
    procs = json.loads(lab.record_path.read_text())["processes"]
    servers = {"nginx", "mosquitto", "chronyd", "coap-server", "rtsp"}
    assert servers <= set(procs)
    in_sink = set(netns.pids(lab.sink_netns))
    assert {record(procs[s]).pid for s in servers} <= in_sink
    assert not {record(procs[s]).pid for s in servers} & set(netns.pids(lab.gw_netns))
    assert "0.0.0.0:80 " in lab.run_in_sink("ss", "-Hltn").stdout  # every address: see test_a_hard_coded_address_...
    assert ":80 " not in lab.run_in_gw("ss", "-Hltn").stdout
    routes = lab.run_in_gw("ip", "route", "show", "default").stdout
    assert f"via {wan.SINK_LINK_ADDRESS} dev {wan.WAN_IFACE}" in routes


def test_the_sinks_servers_logged_the_sessions(scenario: Scenario) -> None:
    http, tls, broker, rtsp_log = (
        scenario.log(n) for n in ("http-access.log", "tls-access.log", "mosquitto.log", "rtsp.log")
    )
    for config in CONFIGS:
        ip, prof, speaks = scenario.ips[config.device_id], config.profile, set(config.protocols)
        if prof.http and "http" in speaks:
            assert f'{ip} "{prof.http.requests[0].method} {prof.http.requests[0].path} HTTP/1.1"' in http
        if speaks_tls(config):
            assert f"{ip} sni=" in tls
        if prof.mqtt and "mqtt" in speaks:
            assert (
                f"from {ip}:" in broker
                and f" as {mqtt.fill(prof.mqtt.client_id, mqtt.placeholders(config))} (" in broker
            )
        if prof.rtsp and "rtsp" in speaks:
            assert f"{ip} DESCRIBE {rtsp.url(prof.rtsp)} " in rtsp_log


@pytest.mark.parametrize("config", [c for c in CONFIGS if speaks_tls(c)], ids=lambda c: c.device_id)
def test_each_tls_handshake_completes_with_the_sinks_nginx(scenario: Scenario, config: manifests.DeviceConfig) -> None:
    assert config.profile.tls is not None
    names = set(config.profile.tls.servers) if 0 in config.profile.tls.extensions else {""}
    done = handshakes(scenario.lab).get(scenario.ips[config.device_id], set())
    if config.device_id in REFUSED:
        assert not done, "a hello nginx cannot answer completed a handshake"
    else:
        assert done and done <= names, f"sessions completed for {sorted(done)}, the profile names {sorted(names)}"


def test_mqtt_over_tls_on_8883_with_the_lab_ca(scenario: Scenario) -> None:
    lab = scenario.lab
    ca = lab.directory / "internet" / "ca.pem"
    # --insecure skips only the host name check (the certificate names "lab"); the chain is checked against the CA.
    published = lab.run_in_gw(
        "mosquitto_pub",
        "-h",
        SINK,
        "-p",
        str(internet.MQTT_TLS_PORT),
        "--cafile",
        str(ca),
        "--insecure",
        "-i",
        "tls-probe-1",
        "-t",
        "lab/tls",
        "-m",
        "hello",
    )
    assert published.returncode == 0, published.stderr
    assert " as tls-probe-1 (" in scenario.log("mosquitto.log")
    refused = lab.run_in_gw(
        "mosquitto_pub",
        "-h",
        SINK,
        "-p",
        str(internet.MQTT_TLS_PORT),
        "--cafile",
        "/etc/ssl/certs/ca-certificates.crt",
        "--insecure",
        "-i",
        "tls-probe-2",
        "-t",
        "x",
        "-m",
        "y",
    )
    assert refused.returncode != 0, "a client that does not trust the lab CA completed the handshake"


def test_coap_server_answers_on_the_sink(scenario: Scenario) -> None:
    for address in (SINK, "192.0.2.55"):  # the name's address, and one a device could have hard-coded
        got = scenario.lab.run_in_gw("coap-client-notls", "-m", "get", f"coap://{address}/.well-known/core")
        assert got.returncode == 0 and "</time>" in got.stdout, got.stdout + got.stderr


def test_a_lab_whose_internet_fails_to_start_leaves_no_namespace(
    lab_state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise iotlab.LabError("the sink's nginx would not start")

    monkeypatch.setattr(internet, "start", fail)  # after the sink namespace and its link exist
    name = new_lab_name()
    with pytest.raises(iotlab.LabError, match="would not start"):
        iotlab.up(iotlab.LabConfig(name=name, state_dir=lab_state_dir, internet=True))
    assert [n for n in netns.names() if n.startswith(f"{name}-")] == []
    assert list(lab_state_dir.glob(f"{name}.json*")) == []


def test_a_hard_coded_address_is_answered_by_the_sink_from_that_address(scenario: Scenario) -> None:
    lab = scenario.lab
    got = lab.run_in_gw("curl", "-s", "-m", "5", "http://203.0.113.77/firmware/check")
    assert got.stdout == "ok\n", got.stderr
    assert '"GET /firmware/check HTTP/1.1" "curl/' in scenario.log("http-access.log")
    assert 'host="203.0.113.77"' in scenario.log("http-access.log")

    def ntp_query() -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.bind((str(lab.gateway_ip), 0))  # a lab address: chrony serves the lab's subnet
            sock.connect(("192.0.2.123", 123))  # connected: only a reply from that very address gets in
            sock.send(ntp.request(0x1234_5678_9ABC_DEF0))
            return sock.recv(512)

    reply = netns.call_in(lab.gw_netns, ntp_query)
    assert reply[0] & 0x07 == 4 and reply[24:32] == (0x1234_5678_9ABC_DEF0).to_bytes(8, "big")  # server, origin
