"""The plugs, speakers, controllers and the medical gateway probed by real tools from the gateway namespace.

nmap 7.93 -sV names what its probes know (Windows CE web server, TP-Link's placeholder httpd),
its NSE scripts speak DICOM (`dicom-ping`) and HID discoveryd (`broadcast-hid-discoveryd`), and
dcmtk's `echoscu` opens a DICOM association and sends C-ECHO. Kasa and miIO have no scanner of
their own: a few lines of Python in the gateway namespace speak them as python-kasa and
python-miio do (their framing written again here, not imported from the emulator).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest

from iot_emulator import lab as iotlab

from .test_probes import devices, nmap_services, probe_lab  # noqa: F401  (fixture)

pytestmark = pytest.mark.lab

NAMES = [
    "bd-alaris-gateway-workstation",
    "tplink-kasa-hs110",
    "sonoff-mini",
    "meross-mss110",
    "amazon-echo-dot",
    "nest-learning-thermostat",
    "hid-vertx-evo-v2000",
    "xiaomi-gateway",
]
PORTS = [80, 104, 4070, 8081, 9999]
EXPECTED: dict[str, dict[int, tuple[str, str]]] = {
    # profile -> port -> (service, product) when nmap names it, else ("?", a text its fingerprint holds); others closed
    "bd-alaris-gateway-workstation": {80: ("http", "Microsoft Windows Embedded CE Web Server"), 104: ("dicom", "")},
    "tplink-kasa-hs110": {80: ("http", "TP-LINK Smart Plug fake_httpd"), 9999: ("?", "")},  # binary, no banner
    "sonoff-mini": {8081: ("?", "HTTP/1\\.1\\x20404")},  # unmatched: nmap prints the answers it got
    "meross-mss110": {80: ("?", "HTTP/1\\.1\\x20404")},
    "amazon-echo-dot": {4070: ("?", "HTTP/1\\.1\\x20404")},
    "nest-learning-thermostat": {},
    "hid-vertx-evo-v2000": {},
    "xiaomi-gateway": {},
}

UDP_CLIENT = """
import socket, sys
kind, host, port, payload, iface = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4]), sys.argv[5]
def xor(data, key=171):
    out = bytearray()
    for b in data:
        key ^= b
        out.append(key)
    return bytes(out)
def unxor(data, key=171):
    out = bytearray()
    for b in data:
        out.append(key ^ b)
        key = b
    return bytes(out)
if kind == "kasa-tcp":
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(len(payload).to_bytes(4, "big") + xor(payload))
    head = s.recv(4, socket.MSG_WAITALL)
    print(unxor(s.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL)).decode())
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.settimeout(5)
    s.sendto(xor(payload) if kind == "kasa-udp" else payload, (host, port))
    data, peer = s.recvfrom(2048)
    print(peer[0], unxor(data).decode() if kind == "kasa-udp" else data.hex())
"""


def client(lab: iotlab.Lab, kind: str, host: str, port: int, payload: bytes) -> str:
    run = lab.run_in_gw(
        sys.executable, "-c", UDP_CLIENT, kind, host, str(port), payload.hex(), lab.gw_iface, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_nmap_names_the_services_and_the_rest_is_closed(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, NAMES) as addresses:
        found = nmap_services(probe_lab, list(addresses.values()), PORTS, "--script", "dicom-ping")
    problems = []
    for name, ports in EXPECTED.items():
        for port in PORTS:
            state, service, product, _, fingerprint = found[(addresses[name], port)]
            want = ports.get(port)
            if want is None:
                if state != "closed":  # a RST, also from a device whose stack has never been used
                    problems.append(f"{name}:{port} is {state}, expected closed")
            elif want[0] == "?":
                if state != "open" or want[1] not in fingerprint:
                    problems.append(f"{name}:{port}: nmap says {(state, service, fingerprint[:120])}, expected {want}")
            elif state != "open" or service != want[0] or (want[1] and product != want[1]):
                problems.append(f"{name}:{port}: nmap says {(state, service, product)}, expected open {want}")
    assert not problems, "\n".join(problems)


def test_dicom_association_and_c_echo_with_dcmtk_and_nmap(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, ["bd-alaris-gateway-workstation"]) as addresses:
        address = addresses["bd-alaris-gateway-workstation"]
        echo = probe_lab.run_in_gw("echoscu", "-v", "-to", "5", "-aec", "ANY-SCP", address, "104", timeout=30)
        ping = probe_lab.run_in_gw("nmap", "-Pn", "-n", "-p", "104", "--script", "dicom-ping", address, timeout=60)
    assert echo.returncode == 0, echo.stdout + echo.stderr
    log = echo.stdout + echo.stderr
    assert "Association Accepted" in log and "Received Echo Response (Success)" in log, log
    assert "DICOM Service Provider discovered!" in ping.stdout and "Any AET is accepted" in ping.stdout, ping.stdout


def test_hid_discoveryd_broadcast_finds_the_vertx(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    with devices(probe_lab, ["hid-vertx-evo-v2000"]) as addresses:
        address = addresses["hid-vertx-evo-v2000"]
        run = probe_lab.run_in_gw(
            "nmap",
            "-n",
            "-e",
            probe_lab.gw_iface,
            "--script",
            "broadcast-hid-discoveryd",
            "--script-args",
            "broadcast-hid-discoveryd.timeout=3s",
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    mac = "00:06:8E:5A:00:01"
    assert (
        f"MAC: {mac}; Name: VertX-5A0001; IP Address: {address}; Model: V2000; Version: 2.2.7.568 (03/05/2015)"
        in run.stdout
    ), run.stdout


def test_kasa_answers_get_sysinfo_over_tcp_and_udp_broadcast(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    request = b'{"system":{"get_sysinfo":{}}}'
    with devices(probe_lab, ["tplink-kasa-hs110"]) as addresses:
        address = addresses["tplink-kasa-hs110"]
        tcp = json.loads(client(probe_lab, "kasa-tcp", address, 9999, request))
        peer, udp = client(probe_lab, "kasa-udp", "255.255.255.255", 9999, request).split(" ", 1)
    info = tcp["system"]["get_sysinfo"]
    assert info["model"] == "HS110(EU)" and info["mac"] == "50:C7:BF:5A:00:01" and info["alias"] == "HS110"
    assert peer == address and json.loads(udp) == tcp


def test_miio_hello_answers_with_the_device_id(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    hello = bytes.fromhex("21310020") + b"\xff" * 28
    with devices(probe_lab, ["xiaomi-gateway"]) as addresses:
        address = addresses["xiaomi-gateway"]
        peer, answer = client(probe_lab, "miio", "255.255.255.255", 54321, hello).split(" ")
    data = bytes.fromhex(answer)
    assert peer == address and len(data) == 32 and data[:8] == bytes.fromhex("2131002000000000")
    assert data[8:12] == bytes.fromhex("8c5a0001") and data[16:] == b"\xff" * 16


def test_curl_reaches_the_local_apis_of_sonoff_meross_and_echo(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    names = ["sonoff-mini", "meross-mss110", "amazon-echo-dot"]
    with devices(probe_lab, names) as addresses:

        def curl(url: str, *args: str) -> dict[str, object]:
            run = probe_lab.run_in_gw("curl", "-sS", "--fail", "--max-time", "10", *args, url, timeout=30)
            assert run.returncode == 0, run.stderr
            answer: dict[str, object] = json.loads(run.stdout)
            return answer

        sonoff = curl(f"http://{addresses['sonoff-mini']}:8081/zeroconf/info", "-d", '{"deviceid":"","data":{}}')
        meross = curl(f"http://{addresses['meross-mss110']}/config", "-d", '{"header":{},"payload":{}}')
        echo = curl(f"http://{addresses['amazon-echo-dot']}:4070/zc?action=getInfo")
    assert sonoff["error"] == 0 and sonoff["data"]["deviceid"] == "10005a0001"  # type: ignore[index]
    assert meross["payload"] == {"error": {"code": 5001, "detail": "sign error"}}
    assert echo["brandDisplayName"] == "Amazon" and echo["remoteName"] == "amazon-5a0003"


def test_nmap_timestamp_ping_finds_the_linux_device_only(probe_lab: iotlab.Lab) -> None:  # noqa: F811
    names = ["hikvision-ds-2cd2042fwd", "meross-mss110"]  # Linux answers ICMP timestamp requests, lwIP does not
    with devices(probe_lab, names) as addresses:
        run = probe_lab.run_in_gw(
            "nmap", "-sn", "-PP", "--disable-arp-ping", "-n", "--reason", "-oX", "-", *addresses.values(), timeout=60
        )
    assert run.returncode == 0, run.stderr
    status = {}
    for host in ET.fromstring(run.stdout).iter("host"):
        address, state = host.find("address"), host.find("status")
        assert address is not None and state is not None
        status[address.attrib["addr"]] = (state.attrib["state"], state.attrib["reason"])
    assert status.get(addresses["hikvision-ds-2cd2042fwd"]) == ("up", "timestamp-reply"), run.stdout
    assert addresses["meross-mss110"] not in status or status[addresses["meross-mss110"]][0] == "down", run.stdout
