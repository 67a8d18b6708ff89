"""The devices' cloud sessions over IPv6, against the lab's real IPv6 internet (`lab up --ipv6 --internet`).

radvd advertises the lab's global-looking prefix (2001:db8:1ab:6::/64), the lab's dnsmasq answers every
name with an A and an AAAA record (198.51.100.2, 2001:db8:5100::2), the gateway routes IPv6 to the sink,
whose nginx and mosquitto listen on both families. Checked in the servers' own logs and on the wire:

- a real Linux client on the lab LAN (the kernel's SLAAC, glibc's getaddrinfo, curl) picks the AAAA;
- a dual-stack Hikvision camera asks A and AAAA (dnsmasq's query log), and its HTTP request (nginx's
  access log), its TLS hello (nginx's stream log, tshark on the gateway: IPv6 source, SNI), its NTP
  request (tshark: chrony answers it over IPv6) and, in a
  variant given an MQTT client, its broker session (mosquitto's log) come from its SLAAC address;
- an IPv4-only profile (roku-express: `ipv6.enabled: false`) in the same lab asks A only and stays on IPv4;
- in a lab without `--ipv6`, the same dual-stack camera asks A only and its sessions go over IPv4.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import config as labconfig
from iot_emulator.lab import ipv6 as lab_ipv6
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import ipv6
from tests import poll
from tests.conftest import LabFactory
from tests.lab import servers
from tests.lab.fingerprint_capture import P0f
from tests.lab.udp_servers import Capture, EngineThread

pytestmark = pytest.mark.lab

SINK6 = str(labconfig.SINK_ADDRESS6)
SINK4 = str(labconfig.SINK_ADDRESS)
FAST = {name: catalog.Schedule(interval=5, jitter=0) for name in ("http", "cloud", "dns", "mqtt", "ntp")}
"""Sessions every 5 s: the first ones may leave before the SLAAC address exists (over IPv4, rightly)."""
CAMERA = "hikvision-ds-2cd2042fwd"
MQTT_ID = "S7-1500-{MAC6}"


def config(name: str, index: int, *, ipv6_on: bool = True, mqtt: bool = False) -> manifests.DeviceConfig:
    """A device of profile `name` on a fast schedule; `mqtt`: with the Siemens PLC's MQTT client added."""
    prof = catalog.builtin().get(name)
    update: dict[str, object] = {"schedule": {**prof.schedule, **FAST}}
    protocols = [p for p in prof.protocols if p not in ("ssdp", "mdns")]
    if mqtt:
        update["mqtt"] = catalog.builtin().get("siemens-s7-1500").mqtt
        update["name"] = f"{name}-mqtt"
        protocols.append("mqtt")
    if ipv6_on:
        protocols.append("ipv6")
    prof = prof.model_copy(update=update)
    mac = f"{prof.ouis[0]}:6e:00:{index + 1:02x}"
    return manifests.DeviceConfig(
        device_id=f"{name}-{index}",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=tuple(protocols),
        traffic_interval=30,
    )


def global_address(emulator: EngineThread, index: int) -> str | None:
    dev = emulator.engine.devices[index]
    if dev.ipv6 is None:
        return None
    found = [a for a in dev.ipv6.slaac.usable() if ipaddress.IPv6Address(a) in lab_ipv6.INTERNET_PREFIX]
    return ipv6.text(found[0]) if found and dev.ip is not None else None


def ipv4_of(emulator: EngineThread, index: int) -> str | None:
    ip = emulator.engine.devices[index].ip
    return str(ipaddress.IPv4Address(ip)) if ip is not None else None


def log_of(lab: iotlab.Lab, name: str) -> Path:
    return lab.directory / "internet" / name


def dns_log(lab: iotlab.Lab) -> list[str]:
    return (lab.directory / "dnsmasq.log").read_text(errors="replace").splitlines()


@pytest.fixture
def v6_lab(lab_factory: LabFactory) -> iotlab.Lab:
    return lab_factory(ipv6="slaac", internet=True, dnsmasq_extra=("--log-queries",))


@pytest.fixture
def engine(v6_lab: iotlab.Lab) -> Iterator[EngineThread]:
    emulator = EngineThread(
        v6_lab, [config(CAMERA, 0), config(CAMERA, 1, mqtt=True), config("roku-express", 2, ipv6_on=False)]
    )
    try:
        yield emulator
    finally:
        emulator.stop()


def test_a_real_linux_client_on_the_lab_lan_prefers_ipv6(v6_lab: iotlab.Lab, tmp_path: Path) -> None:
    """The kernel's SLAAC address from radvd, then glibc's getaddrinfo and curl, in a mount namespace whose
    /etc/resolv.conf names the lab's DNS (the host's file is left alone)."""
    lab = v6_lab
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {lab.gateway_ip}\n")
    lab.run_in_dev("sysctl", "-qw", f"net.ipv6.conf.{lab.dev_iface}.disable_ipv6=0")
    lab.run_in_dev(
        "ip", "addr", "add", f"{lab.subnet.network_address + 5}/{lab.subnet.prefixlen}", "dev", lab.dev_iface
    )
    lab.run_in_dev("ip", "route", "add", "default", "via", str(lab.gateway_ip))

    def slaac() -> bool:
        shown = lab.run_in_dev("ip", "-6", "addr", "show", "dev", lab.dev_iface, "scope", "global").stdout
        return "2001:db8:1ab:6:" in shown and "tentative" not in shown

    poll.until(slaac, 20, "the namespace's kernel to form its SLAAC address")
    script = (
        f"mount --bind {resolv} /etc/resolv.conf && getent ahosts api.example.com && "
        "curl -sv --max-time 5 http://api.example.com/probe"
    )
    run = subprocess.run(
        ["ip", "netns", "exec", lab.dev_netns, "unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0].split()
    assert first[0] == SINK6, run.stdout  # getaddrinfo's first answer: the AAAA
    assert SINK4 in run.stdout
    assert f"Connected to api.example.com ({SINK6}) port 80" in run.stderr
    servers.wait_for_line(log_of(lab, "http-access.log"), r'^2001:db8:1ab:6:\S+ "GET /probe HTTP/1.1"', 5)


def test_dual_stack_device_sessions_reach_the_sink_over_ipv6(
    v6_lab: iotlab.Lab, engine: EngineThread, tmp_path: Path
) -> None:
    lab = v6_lab
    p0f = P0f(lab, tmp_path / "p0f.log")
    tls = Capture(
        lab,
        "ip6 and (tcp port 443 or udp port 123)",
        "tls.handshake.type == 1 || ntp",
        ("ipv6.src", "ipv6.dst", "tls.handshake.extensions_server_name", "ntp.flags.mode"),
    )
    try:
        camera = engine.wait(lambda: global_address(engine, 0), 30, "the camera's DHCPv4 lease and SLAAC address")
        mqtt_dev = engine.wait(lambda: global_address(engine, 1), 30, "the MQTT variant's SLAAC address")
        roku_ip = engine.wait(lambda: ipv4_of(engine, 2), 30, "the Roku's lease")
        camera_ip = ipv4_of(engine, 0)
        # HTTP (nginx's access log) and TLS (nginx's stream log: source, SNI) from the SLAAC address
        servers.wait_for_line(log_of(lab, "http-access.log"), rf'^{re.escape(camera)} "GET / HTTP/1.1"', 30)
        servers.wait_for_line(log_of(lab, "tls-access.log"), rf'^{re.escape(camera)} sni="litedev.hik-connect.com"', 30)
        rows = tls.wait_rows(lambda r: r[0] == camera and r[2] != "", timeout=15)
        assert rows[0][1:] == [SINK6, "litedev.hik-connect.com", ""]
        # NTP over IPv6 too: the request from the SLAAC address, chrony's server-mode answer back to it
        tls.wait_rows(lambda r: r == [camera, SINK6, "", "3"], timeout=15)
        tls.wait_rows(lambda r: r == [SINK6, camera, "", "4"], timeout=15)
        # the camera asked both record types at the lab's DNS
        asked = dns_log(lab)
        mine = [line for line in asked if line.endswith(f"from {camera_ip}")]
        assert any("query[AAAA] api.hik-connect.com" in line for line in mine), mine
        assert any("query[A] api.hik-connect.com" in line for line in mine)
        # MQTT: a session opened before the SLAAC address went over IPv4 (rightly); the broker drops it, the
        # device reconnects, now over IPv6
        mosquitto = log_of(lab, "mosquitto.log")
        servers.wait_for_line(mosquitto, r"New client connected from \S+ as S7-1500-", 30)
        if not re.search(rf"New client connected from {re.escape(mqtt_dev)}", mosquitto.read_text()):
            lab.run_in_sink("ss", "-K", "-t", "sport", "=", ":1883")
        servers.wait_for_line(mosquitto, rf"New client connected from {re.escape(mqtt_dev)}:\d+ as S7-1500-", 30)
        # the IPv4-only Roku: A queries only, sessions from its IPv4 address
        servers.wait_for_line(log_of(lab, "tls-access.log"), rf"^{re.escape(roku_ip)} ", 30)
        asked = dns_log(lab)
        assert any("query[A] " in line and line.endswith(f"from {roku_ip}") for line in asked)
        assert not any("query[AAAA]" in line and line.endswith(f"from {roku_ip}") for line in asked)
        # p0f reads the camera's IPv6 SYNs as Linux: MSS 1440 on this Ethernet link (1460 over IPv4), window
        # 10 x MSS as its IPv4 SYNs have (p0f's `mss*10`)
        [syn, *_] = poll.until(lambda: p0f.syns().get(camera), 30, "p0f to read a SYN of the camera over IPv6")
        assert syn.os.startswith("Linux"), syn
        version, _ttl, _olen, mss, window, *_ = syn.raw_sig.split(":")
        assert (version, mss, window) == ("6", "1440", "mss*10,4"), syn.raw_sig
    finally:
        tls.stop()
        p0f.stop()


def test_without_ipv6_in_the_lab_the_dual_stack_camera_uses_ipv4(lab_factory: LabFactory) -> None:
    lab = lab_factory(internet=True, dnsmasq_extra=("--log-queries",))
    emulator = EngineThread(lab, [config(CAMERA, 0)])
    try:
        camera_ip = emulator.wait(lambda: ipv4_of(emulator, 0), 30, "the camera's lease")
        servers.wait_for_line(log_of(lab, "http-access.log"), rf'^{re.escape(camera_ip)} "GET / HTTP/1.1"', 30)
        servers.wait_for_line(log_of(lab, "tls-access.log"), rf'^{re.escape(camera_ip)} sni="litedev', 30)
        asked = [line for line in dns_log(lab) if line.endswith(f"from {camera_ip}")]
        assert any("query[A] api.hik-connect.com" in line for line in asked)
        assert not any("query[AAAA]" in line for line in asked)
        assert not any(":" in line.split(" ", 1)[0] for line in log_of(lab, "http-access.log").read_text().splitlines())
    finally:
        emulator.stop()


def test_the_dns_server_dhcpv6_names_is_asked_over_ipv6(lab_factory: LabFactory) -> None:
    """kea-stateless: radvd's O flag, Kea answers the TV's INFORMATION-REQUEST with the gateway's IPv6 address as
    DNS server; the DHCPv4 lease names a silent one (10.77.0.3), so after 1 s the resolver asks Kea's, over IPv6
    (dnsmasq listens there with --bind-dynamic), and the TV's TLS session follows the AAAA."""
    silent = "10.77.0.3"
    lab = lab_factory(ipv6="kea-stateless", internet=True, dnsmasq_extra=("--log-queries", f"--dhcp-option=6,{silent}"))
    emulator = EngineThread(lab, [config("samsung-tizen-tv", 0)])
    try:
        tv = emulator.wait(lambda: global_address(emulator, 0), 30, "the TV's lease and SLAAC address")
        logged = emulator.wait(
            lambda: [m for m in emulator.messages if "DHCPv6 information REPLY: DNS" in str(m.get("message"))] or None,
            30,
            "the TV's stateless DHCPv6 REPLY",
        )
        assert str(lab_ipv6.gateway_of(lab.ipv6_prefix)) in str(logged[0]["message"])

        def asked_over_ipv6() -> list[str] | None:
            return [line for line in dns_log(lab) if "query[AAAA]" in line and line.endswith(f"from {tv}")] or None

        poll.until(asked_over_ipv6, 30, f"dnsmasq to log an AAAA query from {tv}")
        servers.wait_for_line(log_of(lab, "tls-access.log"), rf"^{re.escape(tv)} sni=", 30)
    finally:
        emulator.stop()


def test_the_dns_server_the_ra_names_is_asked_by_a_profile_that_reads_rdnss(lab_factory: LabFactory) -> None:
    """radvd's RDNSS option names the gateway's IPv6 address; the DHCPv4 lease names a silent server, so the
    Samsung TV (ConnMan reads RDNSS) asks the RA's server over IPv6 and its TLS session follows the AAAA,
    while the Hikvision camera (busybox: no RDNSS) never asks over IPv6."""
    silent = "10.77.0.3"
    lab = lab_factory(ipv6="slaac", internet=True, dnsmasq_extra=("--log-queries", f"--dhcp-option=6,{silent}"))
    emulator = EngineThread(lab, [config("samsung-tizen-tv", 0), config(CAMERA, 1)])
    try:
        tv = emulator.wait(lambda: global_address(emulator, 0), 30, "the TV's lease and SLAAC address")
        camera = emulator.wait(lambda: global_address(emulator, 1), 30, "the camera's lease and SLAAC address")

        def asked_from(address: str) -> list[str]:
            return [line for line in dns_log(lab) if line.endswith(f"from {address}")]

        poll.until(lambda: asked_from(tv), 30, f"dnsmasq to log a query from the TV's {tv}")
        servers.wait_for_line(log_of(lab, "tls-access.log"), rf"^{re.escape(tv)} sni=", 30)
        assert not asked_from(camera), asked_from(camera)
    finally:
        emulator.stop()
