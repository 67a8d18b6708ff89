"""The lab's internet (`iotemu lab up --internet`): the devices' cloud sessions complete against real servers.

Without it a device's cloud names do not resolve and only DNS, SSDP, ARP and DHCP reach the wire;
what passive classifiers read (HTTP User-Agent and Host, TLS ClientHello with SNI, MQTT CONNECT,
NTP) never does. With it the lab's DNS answers every name (dnsmasq's catch-all) with a sink
address on the gateway (the subnet's second address), where Debian's servers answer:

- nginx: HTTP on 80 (access log: request line, User-Agent, Host); TLS on 443 (and every other
  port a shipped profile's TLS client uses: 2001, 5223, 50443) read by the stream
  module's `ssl_preread` (log: SNI, ALPN, version) and proxied (with the PROXY protocol, so the
  device's address is kept) to an nginx HTTPS server that logs the requests the devices send
  once their handshake completes (`https-access.log`: cipher, request, User-Agent). It has an
  ECDSA P-256 and an RSA 2048 certificate, both signed by a lab CA made here
  (`<lab dir>/internet/ca.pem`): OpenSSL picks the one the device's cipher suites can use, so
  hellos that offer only RSA key exchange (old firmware) complete too;
- mosquitto: MQTT on 1883 (log: CONNECT with the client id, PUBLISH);
- chrony: NTP on 123 (`local stratum 8`, never touches this machine's clock).

The servers run in the gateway namespace, are recorded in the lab's record and stop with it.
Not done: MQTT over TLS (8883), CoAP, RTSP and STUN endpoints, routing to a real upstream.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from iot_emulator import profile
from iot_emulator.lab import errors, netns, process

if TYPE_CHECKING:
    from iot_emulator.lab.core import Lab

READY_TIMEOUT = 10.0


def ports() -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(HTTP, TLS, MQTT) ports the shipped profiles' clients use (80, 443, 1883 at least): the sink serves all."""
    library = list(profile.builtin())
    http = {80} | {r.port for p in library if p.http for r in p.http.requests}
    tls = {443} | {p.tls.port for p in library if p.tls}
    mqtt = {1883} | {p.mqtt.port for p in library if p.mqtt}
    return tuple(sorted(http)), tuple(sorted(tls)), tuple(sorted(mqtt))


NGINX_CONF = """\
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    log_format device '$remote_addr "$request" "$http_user_agent" $status host="$host"';
    access_log {dir}/http-access.log device;
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    server {{
{http_listen}
        location / {{ return 200 "ok\\n"; }}
    }}
    log_format device_tls '$proxy_protocol_addr "$request" "$http_user_agent" $status host="$host" '
                          'sni="$ssl_server_name" $ssl_protocol $ssl_cipher';
    server {{
        listen 127.0.0.1:8443 ssl proxy_protocol;
        access_log {dir}/https-access.log device_tls;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_certificate {dir}/rsa-cert.pem;
        ssl_certificate_key {dir}/rsa-key.pem;
        # What old device firmware still offers, not what a server should accept: TLS 1.0 and 1.1, and
        # every cipher OpenSSL 3 has (3DES, plain RSA), at security level 0. nginx 1.22 omits TLS 1.3
        # by default.
        ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
        ssl_ciphers ALL:@SECLEVEL=0;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
stream {{
    log_format hello '$remote_addr sni="$ssl_preread_server_name" alpn="$ssl_preread_alpn_protocols" version="$ssl_preread_protocol" bytes_out=$bytes_sent';
    access_log {dir}/tls-access.log hello;
    server {{
{tls_listen}
        ssl_preread on;
        proxy_protocol on;
        proxy_pass 127.0.0.1:8443;
    }}
}}
"""  # noqa: E501


MOSQUITTO_CONF = """\
user root
{listeners}
allow_anonymous true
persistence false
log_dest file {dir}/mosquitto.log
log_type all
log_timestamp false
connection_messages true
"""


CHRONY_CONF = """\
allow {subnet}
local stratum 8
bindaddress {sink}
cmdport 0
pidfile {dir}/chronyd.pid
driftfile {dir}/chrony.drift
"""


def sink_address(subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """Where every name points: the address after the gateway's (outside the DHCP pool)."""
    return subnet.network_address + 2


def make_certificates(directory: Path) -> None:
    """A lab CA and two server certificates it signs: EC P-256 (what modern hellos pick) and RSA 2048
    (for suites with RSA key exchange or RSA signatures only)."""

    def openssl(*args: str) -> None:
        run = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise errors.LabError(f"openssl {args[0]} failed: {run.stderr.strip()}")

    d = str(directory)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
            "-subj", "/CN=iotemu lab CA", "-keyout", f"{d}/ca-key.pem", "-out", f"{d}/ca.pem")  # fmt: skip
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=lab",
            "-keyout", f"{d}/key.pem", "-out", f"{d}/server.csr")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=lab",
            "-keyout", f"{d}/rsa-key.pem", "-out", f"{d}/rsa-server.csr")  # fmt: skip
    for csr, cert in (("server.csr", "cert.pem"), ("rsa-server.csr", "rsa-cert.pem")):
        openssl("x509", "-req", "-in", f"{d}/{csr}", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca-key.pem",
                "-CAcreateserial", "-days", "30", "-out", f"{d}/{cert}")  # fmt: skip


def start(lab: Lab, record: Callable[[str, process.Proc], None]) -> ipaddress.IPv4Address:
    """Add the sink address and start its servers (each `record`ed as it starts); returns the address."""
    sink = sink_address(lab.subnet)
    netns.ip(lab.gw_netns, "addr", "add", f"{sink}/{lab.subnet.prefixlen}", "dev", lab.gw_iface)
    d = lab.directory / "internet"
    d.mkdir(exist_ok=True)
    make_certificates(d)

    def listen(numbers: tuple[int, ...]) -> str:
        return "\n".join(f"        listen {sink}:{port};" for port in numbers)

    http_ports, tls_ports, mqtt_ports = ports()
    nginx = NGINX_CONF.format(dir=d, http_listen=listen(http_ports), tls_listen=listen(tls_ports))
    (d / "nginx.conf").write_text(nginx)
    listeners = "\n".join(f"listener {port} {sink}" for port in mqtt_ports)
    (d / "mosquitto.conf").write_text(MOSQUITTO_CONF.format(dir=d, listeners=listeners))
    (d / "chrony.conf").write_text(CHRONY_CONF.format(subnet=lab.subnet, sink=sink, dir=d))
    servers = [
        ("nginx", ["nginx", "-c", str(d / "nginx.conf"), "-e", str(d / "nginx-error.log")], set(),
         frozenset({*http_ports, *tls_ports, 8443})),
        ("mosquitto", ["mosquitto", "-c", str(d / "mosquitto.conf")], set(), frozenset(mqtt_ports)),
        ("chronyd", ["chronyd", "-d", "-x", "-u", "root", "-f", str(d / "chrony.conf")], {123}, frozenset()),
    ]  # fmt: skip
    for role, argv, udp, tcp in servers:
        log = d / f"{role}.out"
        proc = process.spawn(netns.exec_argv(lab.gw_netns, argv), log=log)
        record(role, proc)
        process.wait_listening(proc, udp, tcp=tcp, what=f"{role} in {lab.gw_netns}", logs=[log],
                               timeout=READY_TIMEOUT)  # fmt: skip
    return sink
