"""Application protocols over the device TCP, against real servers in a lab's gateway namespace.

One emulator process (`iotemu run`, raw socket in the lab's device namespace) runs one device of a
test profile with DHCP, DNS, HTTP, TLS ("cloud"), RTSP and MQTT. Its names resolve through the
lab's dnsmasq to the gateway, where nginx (HTTP, and TLS through `ssl_preread`), mosquitto and an
RTSP listener answer, and tcpdump records the device's SYNs. Each test checks what a real server
logged (see tests/lab/servers.py); a request in a server's log also proves the TCP handshake
completed, since the device namespace's kernel has no address and plays no part.

The scenario is built once for the module; the tests read it in file order and the last one stops
the emulator (DISCONNECT, FIN) and checks what the broker saw.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import rdpcap

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import mqtt
from iot_emulator.protocols.transport import tls_hello
from tests import poll
from tests.conftest import LabFactory, new_lab_name
from tests.lab import servers
from tests.lab.emulator import Emulator, Message, in_lab

pytestmark = pytest.mark.lab

MAC = "44:19:b6:5a:0c:01"
MAC6 = "5a0c01"
NAMES = ("api.lab.test", "cloud.lab.test", "nvr.lab.test", "broker.lab.test")
USER_AGENT = "Labcam-Webs/1.0 (LC-1)"
RTSP_AGENT = "LabNVR RTSP/1.0"
WAIT = 15.0
PROFILE = """\
name: lab-app-camera
vendor: Labcam
model: LC-1
device_class: camera
os: "Linux 3.x (test profile)"
ouis: ["44:19:b6"]
hostname_pattern: "labcam-{mac6}"
dhcp:
  options: [53, 61, 57, 55, 60]
  parameter_request_list: [1, 3, 6, 12, 15, 28, 42]
  vendor_class_id: "udhcp 1.19.3"
  arp_probe: {count: 0}
tcp: {window: 29200, mss: 1460, options: [mss, sackok, ts, nop, wscale], window_scale: 6, timestamp_hz: 1000}
protocols: [arp, dhcp, icmp, dns, http, cloud, rtsp, mqtt]
http:
  user_agent: "Labcam-Webs/1.0 (LC-1)"
  requests:
    - {method: GET, host: api.lab.test, path: "/ISAPI/System/deviceInfo?format=json", headers: {Accept: "*/*"}}
tls:
  servers: [cloud.lab.test]
  supported_versions: [0x0304, 0x0303]
  cipher_suites: [0x1301, 0x1302, 0x1303, 0xc02f, 0xc030, 0xc02b, 0xc02c, 0x009e, 0xc027, 0x002f, 0x0035]
  extensions: [0, 11, 10, 35, 22, 23, 13, 43, 45, 51, 16]
  supported_groups: [29, 23, 24]
  alpn: [http/1.1]
rtsp: {server: nvr.lab.test, path: /Streaming/Channels/101, user_agent: "LabNVR RTSP/1.0"}
mqtt:
  broker: broker.lab.test
  client_id: "labcam-{mac6}"
  username: labcam
  keepalive: 30
  topics: ["labcam/{mac6}/state"]
schedule:
  http: {interval: 3, jitter: 0.1}
  cloud: {interval: 3, jitter: 0.1}
  rtsp: {interval: 3, jitter: 0.1}
  mqtt: {interval: 3, jitter: 0.1}
sources: {all: "test profile for tests/lab/test_app_protocols.py"}
"""
MANIFEST = f"""\
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {{name: labcam-1}}
spec: {{profile: lab-app-camera, mac: "{MAC}", trafficInterval: 5}}
"""


@dataclasses.dataclass
class Scenario:
    lab: iotlab.Lab
    directory: Path
    emulator: Emulator
    rtsp: servers.RtspListener
    device_ip: str

    def logged(self, pattern: str, timeout: float = WAIT) -> Message:
        """A `log` message of the emulator matching `pattern` (already printed, or the next ones)."""

        def match(m: Message) -> bool:
            return m["type"] == "log" and re.search(pattern, m["message"]) is not None

        earlier = [m for m in self.emulator.messages if match(m)]
        if earlier:
            return earlier[0]
        try:
            return self.emulator.wait_for(match, timeout, f"log {pattern!r}")
        except AssertionError as exc:
            logs = [m["message"] for m in self.emulator.messages if m["type"] == "log"][-15:]
            raise AssertionError(f"{exc}\nlast log messages:\n" + "\n".join(logs)) from None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    directory = tmp_path_factory.mktemp("app-protocols")
    names = dict.fromkeys(NAMES, str(iotlab.DEFAULT_SUBNET.network_address + 1))  # the gateway
    config = iotlab.LabConfig(name=new_lab_name(), state_dir=directory / "labs", dns_names=names)
    lab = iotlab.up(config)
    started: list[Any] = []
    try:
        started.append(servers.start_syn_capture(lab, directory / "syn.pcap"))
        started.append(servers.start_nginx(lab, directory / "nginx"))
        started.append(servers.start_mosquitto(lab, directory / "mosquitto"))
        rtsp = servers.RtspListener(lab)
        started.append(rtsp)
        profiles = directory / "profiles"
        profiles.mkdir()
        (profiles / "lab-app-camera.yaml").write_text(PROFILE)
        (directory / "device.yaml").write_text(MANIFEST)
        emulator = Emulator(
            [
                "run",
                "-f",
                str(directory / "device.yaml"),
                "--profiles-dir",
                str(profiles),
                *in_lab(lab, directory / "state"),
                "--log-level",
                "debug",
            ]
        )
        started.append(emulator)
        ack = emulator.wait_for(lambda m: m["type"] == "dhcp_ack", WAIT, "dhcp_ack")
        yield Scenario(lab, directory, emulator, rtsp, ack["assigned_ip"])
    finally:
        for thing in reversed(started):
            if isinstance(thing, Emulator):
                if thing.proc.poll() is None:
                    thing.stop()
            elif isinstance(thing, servers.RtspListener):
                thing.close()
            else:
                thing.stop()
        iotlab.down(lab.name, config.state_dir)


def test_http_server_logged_the_request_line_and_user_agent(scenario: Scenario) -> None:
    line = servers.wait_for_line(scenario.directory / "nginx" / "http-access.log", r"GET /ISAPI", WAIT)
    request = '"GET /ISAPI/System/deviceInfo?format=json HTTP/1.1"'
    assert line.string == f'{scenario.device_ip} {request} "{USER_AGENT}" 200 host="api.lab.test" body=-'
    scenario.logged(r"^http: GET api\.lab\.test/ISAPI/System/deviceInfo\?format=json -> 200 OK")


def test_tls_server_saw_the_client_hello_with_its_sni(scenario: Scenario) -> None:
    line = servers.wait_for_line(scenario.directory / "nginx" / "tls-access.log", r"sni=", WAIT)
    assert line.string.startswith(f'{scenario.device_ip} sni="cloud.lab.test" alpn="http/1.1" version="TLSv1.3"')
    # nginx's OpenSSL completed the handshake and answered the request sent inside it
    scenario.logged(r"^cloud: TLS cloud\.lab\.test:443: TLS 1\.3 TLS_\w+, GET / -> 200 OK")
    line = servers.wait_for_line(scenario.directory / "nginx" / "https-access.log", r"GET / ", WAIT)
    assert line.string.startswith(f'{scenario.device_ip} "GET / HTTP/1.1" "{USER_AGENT}" 200 host="cloud.lab.test"')


def test_mosquitto_received_connect_and_publish(scenario: Scenario) -> None:
    log = scenario.directory / "mosquitto" / "mosquitto.log"
    servers.wait_for_line(
        log,
        rf"New client connected from {re.escape(scenario.device_ip)}:\d+ as labcam-{MAC6} "
        r"\(p2, c1, k30, u'labcam'\)",
        WAIT,
    )
    servers.wait_for_line(log, rf"Received PUBLISH from labcam-{MAC6} \(d0, q0, r0, m0, 'labcam/{MAC6}/state'", WAIT)
    scenario.logged(rf"^mqtt: connected to broker\.lab\.test:1883 as labcam-{MAC6}$")


def test_rtsp_listener_got_options_then_describe(scenario: Scenario) -> None:
    poll.until(lambda: scenario.rtsp.methods()[:2] == ["OPTIONS", "DESCRIBE"], WAIT, "OPTIONS, DESCRIBE")
    (_, url1, h1), (_, url2, h2) = scenario.rtsp.requests[:2]
    assert url1 == url2 == "rtsp://nvr.lab.test/Streaming/Channels/101"
    assert (h1["cseq"], h1["user-agent"]) == ("1", RTSP_AGENT)
    assert (h2["cseq"], h2["user-agent"], h2["accept"]) == ("2", RTSP_AGENT, "application/sdp")
    scenario.logged(r"^rtsp: rtsp://nvr\.lab\.test/Streaming/Channels/101: OPTIONS 200, DESCRIBE 200$")


def test_syns_on_the_wire_have_the_profile_shape_and_one_clock(scenario: Scenario) -> None:
    scenario.logged(r"^mqtt: connected")
    scenario.logged(r"^rtsp: rtsp://")
    pcap = scenario.directory / "syn.pcap"
    poll.until(lambda: len([p for p in rdpcap(str(pcap)) if TCP in p]) >= 4, WAIT, "four SYNs in the capture")
    syns = [p for p in rdpcap(str(pcap)) if TCP in p and p[IP].src == scenario.device_ip]
    assert {p[TCP].dport for p in syns} >= {80, 443, 554, 1883}
    for syn in syns:
        assert syn[IP].ttl == 64 and syn[IP].flags == "DF" and syn[TCP].window == 29200
        assert [name for name, _ in syn[TCP].options] == ["MSS", "SAckOK", "Timestamp", "NOP", "WScale"]
        assert dict(syn[TCP].options)["MSS"] == 1460 and dict(syn[TCP].options)["WScale"] == 6
    first, last = syns[0], syns[-1]
    ticks = (dict(last[TCP].options)["Timestamp"][0] - dict(first[TCP].options)["Timestamp"][0]) % 2**32
    elapsed_ms = (float(last.time) - float(first.time)) * 1000
    assert abs(ticks - elapsed_ms) < 50, (ticks, elapsed_ms)  # one 1 kHz clock for all the device's connections


def test_ja3_of_the_test_profile_is_what_the_hello_carries(scenario: Scenario) -> None:
    prof = catalog.load_file(scenario.directory / "profiles" / "lab-app-camera.yaml")
    assert prof.tls is not None
    assert tls_hello.ja3(prof.tls) == (
        "771,4865-4866-4867-49199-49200-49195-49196-158-49191-47-53,0-11-10-35-22-23-13-43-45-51-16,29-23-24,0"
    )
    assert tls_hello.ja3_md5(prof.tls) == "2d78fecd3b11d5c468ddda70271af40e"
    assert tls_hello.ja4(prof.tls).startswith("t13d1111h1_")


def server_cipher_suites() -> set[int]:
    """The cipher suites the lab's TLS server can choose (Debian's OpenSSL 3 has no RC4, DES or 3DES)."""
    out = subprocess.run(["openssl", "ciphers", "-V", "ALL:@SECLEVEL=0"], capture_output=True, text=True, check=True)
    return {int(hi + lo, 16) for hi, lo in re.findall(r"0x([0-9A-F]{2}),0x([0-9A-F]{2})", out.stdout)}


TCP_PROTOCOLS = ("dns", "http", "https", "cloud", "mqtt", "rtsp")
OPTION_DNS = 6


Checks = dict[str, Callable[[], bool]]


def shipped_expectations(
    configs: list[manifests.DeviceConfig],
    ips: dict[str, str],
    *,
    nginx: Path,
    mqtt_log: Path,
    device_logs: Path,
    rtsp: dict[int, servers.RtspListener],
) -> Checks:
    """What each real server (and each device, in `device_logs/<id>.log`) must have logged, by description."""
    served = server_cipher_suites()
    http_log, tls_log, https_log = nginx / "http-access.log", nginx / "tls-access.log", nginx / "https-access.log"

    def logged(path: Path, *parts: str) -> Callable[[], bool]:
        return lambda: any(all(part in line for part in parts) for line in servers.lines_of(path))

    checks: Checks = {}
    for config in configs:
        prof, ip, device_log = config.profile, ips[config.device_id], device_logs / f"{config.device_id}.log"
        if prof.http is not None:
            for req in prof.http.requests:
                named = {k.lower(): v for k, v in req.headers.items()}
                agent = named.get("user-agent", prof.http.user_agent) or "-"
                request = f'{ip} "{req.method} {req.path} HTTP/1.1" "{agent}" 200'
                checks[f"{prof.name}: nginx logged {request}"] = logged(http_log, request)
        if prof.tls is not None:
            sni = f'sni="{prof.tls.servers[0]}"' if tls_hello.EXT_SNI in prof.tls.extensions else 'sni=""'
            checks[f"{prof.name}: nginx read the hello ({sni})"] = logged(tls_log, f"{ip} {sni}")
            if set(prof.tls.cipher_suites) & served:
                agent = f'"{prof.http.user_agent}"' if prof.http and prof.http.user_agent else '"-"'
                request = f'{ip} "{prof.tls.request.method} {prof.tls.request.path} HTTP/1.1" {agent} 200'
                checks[f"{prof.name}: nginx logged {request} over TLS"] = logged(https_log, request)
                checks[f"{prof.name}: the device read the answer over TLS"] = logged(device_log, " -> 200 OK")
            else:
                checks[f"{prof.name}: the server refused the hello"] = logged(device_log, "failed: alert 40")
        if prof.mqtt is not None and OPTION_DNS not in prof.dhcp.parameter_request_list:
            # Without option 6 in its request list the device gets no DNS server (dnsmasq, like most
            # servers, sends only what is asked for): the broker's name cannot resolve.
            unresolved = f"mqtt: {prof.mqtt.broker} does not resolve"
            checks[f"{prof.name}: no DNS server from DHCP, logged {unresolved!r}"] = logged(device_log, unresolved)
        elif prof.mqtt is not None:
            values = mqtt.placeholders(config)
            client, topic = mqtt.fill(prof.mqtt.client_id, values), mqtt.fill(prof.mqtt.topics[0], values)
            checks[f"{prof.name}: mosquitto got CONNECT from {client}"] = logged(mqtt_log, f"{ip}", f" as {client} (")
            checks[f"{prof.name}: mosquitto got PUBLISH on {topic}"] = logged(
                mqtt_log, f"PUBLISH from {client} ", topic
            )
        if prof.rtsp is not None:
            listener, rtsp_agent = rtsp[prof.rtsp.port], prof.rtsp.user_agent

            def described(listener: servers.RtspListener = listener, agent: str | None = rtsp_agent) -> bool:
                heard = [(m, h.get("user-agent")) for m, _, h in list(listener.requests)]
                return ("OPTIONS", agent) in heard and ("DESCRIBE", agent) in heard

            checks[f"{prof.name}: RTSP OPTIONS and DESCRIBE with User-Agent {rtsp_agent!r}"] = described
    return checks


def test_every_shipped_profile_speaks_to_real_servers(lab_factory: LabFactory, tmp_path: Path) -> None:
    """One device per shipped profile that has HTTP, TLS, MQTT or RTSP, each speaking to a real server:
    nginx logs every request line and User-Agent and reads every ClientHello's SNI (its OpenSSL answers
    with a ServerHello when it has one of the hello's cipher suites, else with handshake_failure, as any
    current server does to a Windows CE hello offering only RC4 and 3DES), mosquitto logs every CONNECT
    and PUBLISH, the RTSP listener gets OPTIONS and DESCRIBE."""
    profiles = [p for p in catalog.builtin() if p.http or p.tls or p.mqtt or p.rtsp]
    lab = lab_factory(dns_names={"*": str(iotlab.DEFAULT_SUBNET.network_address + 1)})

    def document(p: catalog.Profile) -> str:
        protocols = ", ".join(["arp", "dhcp", "icmp", *(x for x in p.protocols if x in TCP_PROTOCOLS)])
        return (
            f"---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {{name: {p.name}}}\n"
            f"spec: {{profile: {p.name}, protocols: [{protocols}]}}\n"
        )

    manifest = "".join(document(p) for p in profiles)
    (tmp_path / "fleet.yaml").write_text(manifest)
    configs = manifests.expand(manifests.parse_documents(manifest), catalog.builtin())
    device_logs = tmp_path / "device-logs"
    device_logs.mkdir()
    with contextlib.ExitStack() as running:
        http_ports = {80} | {r.port for p in profiles if p.http for r in p.http.requests}
        tls_ports = {p.tls.port for p in profiles if p.tls} or {443}
        nginx = servers.start_nginx(
            lab, tmp_path / "nginx", tls_ports=tuple(sorted(tls_ports)), http_ports=tuple(sorted(http_ports))
        )
        running.callback(nginx.stop)
        mqtt_ports = tuple(sorted({p.mqtt.port for p in profiles if p.mqtt} or {1883}))
        running.callback(servers.start_mosquitto(lab, tmp_path / "mosquitto", ports=mqtt_ports).stop)
        rtsp = {}
        for port in {p.rtsp.port for p in profiles if p.rtsp}:
            rtsp[port] = listener = servers.RtspListener(lab, port)
            running.callback(listener.close)
        emu = running.enter_context(
            Emulator(
                [
                    "run",
                    "-f",
                    str(tmp_path / "fleet.yaml"),
                    *in_lab(lab, tmp_path / "state"),
                    "--log-level",
                    "debug",
                ]
            )
        )
        ips = {m["device_id"]: m["assigned_ip"] for m in emu.wait_count("dhcp_ack", len(configs), WAIT)}
        checks = shipped_expectations(
            configs,
            ips,
            nginx=tmp_path / "nginx",
            rtsp=rtsp,
            device_logs=device_logs,
            mqtt_log=tmp_path / "mosquitto" / "mosquitto.log",
        )
        deadline = time.monotonic() + 30
        while (pending := [what for what, check in checks.items() if not check()]) and time.monotonic() < deadline:
            assert emu.proc.poll() is None, f"the emulator exited: {emu.tail()}"
            with contextlib.suppress(AssertionError):  # nothing logged within 0.2 s
                m = emu.wait_for(lambda m: m["type"] == "log", 0.2)  # file each device's log lines
                with (device_logs / f"{m['device_id']}.log").open("a") as out:
                    out.write(m["message"] + "\n")
        assert not pending, "\n".join(pending)
        assert emu.stop() == 0


def test_stop_disconnects_from_the_broker(scenario: Scenario) -> None:
    scenario.logged(r"^mqtt: connected")
    assert scenario.emulator.stop() == 0
    log = scenario.directory / "mosquitto" / "mosquitto.log"
    servers.wait_for_line(log, rf"Received DISCONNECT from labcam-{MAC6}", 5)
    servers.wait_for_line(log, rf"Client labcam-{MAC6} disconnected\.", 5)
