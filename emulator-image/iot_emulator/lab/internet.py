"""The lab's internet (`iotemu lab up --internet`): the devices' cloud sessions complete against real servers.

Without it a device's cloud names do not resolve and only DNS, SSDP, ARP and DHCP reach the wire;
what passive classifiers read (HTTP User-Agent and Host, TLS ClientHello with SNI, MQTT CONNECT,
NTP, CoAP, RTSP) never does. With it the lab's DNS answers every name (dnsmasq's catch-all) with
SINK_ADDRESS (198.51.100.2), off the LAN: devices send to their default gateway, which routes to a
namespace of its own, `<lab>-sink` (`lab.wan`), where Debian's servers answer:

- nginx: HTTP on 80 and the profiles' other HTTP ports (access log: request line, User-Agent,
  Host); TLS on 443 (and every other
  port a shipped profile's TLS client uses: 2001, 5223, 50443) read by the stream
  module's `ssl_preread` (log: SNI, ALPN, version) and proxied (with the PROXY protocol, so the
  device's address is kept) to an nginx HTTPS server that logs the requests the devices send
  once their handshake completes (`https-access.log`: cipher, request, User-Agent). It has an
  ECDSA P-256 and an RSA 2048 certificate, both signed by a lab CA made here
  (`<lab dir>/internet/ca.pem`): OpenSSL picks the one the device's cipher suites can use, so
  hellos that offer only RSA key exchange (old firmware) complete too;
- mosquitto: MQTT on 1883, and MQTT over TLS on 8883 (and on any port a profile's `mqtt.tls` client
  uses: mosquitto's then, not nginx's) with the RSA certificate (mosquitto takes one per listener;
  RSA serves TLS 1.3, ECDHE-RSA and RSA key exchange) (log: CONNECT with the client id, PUBLISH);
- chrony: NTP on 123 (`local stratum 8`, never touches this machine's clock);
- libcoap's `coap-server-notls`: CoAP on 5683/udp (`/.well-known/core`; every PDU in `coap-server.out`);
- `rtsp_sink`: RTSP on 554 and the profiles' RTSP ports (Debian has no RTSP server; `rtsp.log`);
- OpenSSH's sshd on 22 and inetutils' telnetd on 23 (`login_servers`), which refuse every login
  and log each attempt with its user name (`sshd.log`, `telnet-logins.log`): brute-force scenarios'
  targets.

nginx takes request bodies up to `client_max_body_size` (32 MB, above the largest upload chunk of an
exfiltration scenario) and logs each request's declared body length (`body=`, from Content-Length: its
`return` discards bodies, so `$request_length` would not count them); the TLS front's log counts the
bytes each connection really carried (`bytes_in=`, `bytes_out=`).

With `--ipv6` too, the lab's IPv6 internet: every name has an AAAA record as well (SINK_ADDRESS6,
2001:db8:5100::2), the gateway routes IPv6 to the sink (`wan.connect_sink6`), and nginx, mosquitto and
chrony also listen on `::` (docs/ipv6.md, "Sessions over IPv6").

They listen on every address, and the sink takes every destination as its own, so a device that
sends to a hard-coded address (a cloud IP, a public NTP server) is answered too (but DNS only by
the lab's own resolver). The servers are recorded in the lab's record and stop with it; the
namespace goes with the lab. Not done: STUN (no shipped profile speaks it). `--upstream` routes the
lab to a real network instead.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from iot_emulator.lab import errors, login_servers, netns, process
from iot_emulator.profiles import catalog

READY_TIMEOUT = 10.0
ANY = ipaddress.IPv4Address("0.0.0.0")
MQTT_TLS_PORT = 8883
COAP_PORT = 5683


@dataclasses.dataclass(frozen=True)
class Ports:
    """The ports the sink serves: the standard ones and every one a shipped profile's client uses."""

    http: tuple[int, ...]
    tls: tuple[int, ...]
    """nginx's TLS ports (a port where a profile speaks MQTT over TLS is mosquitto's, never in here)."""
    mqtt: tuple[int, ...]
    mqtt_tls: tuple[int, ...]
    rtsp: tuple[int, ...]


def ports() -> Ports:
    """What the sink listens on, read from the shipped profiles so a new profile's port is served too."""
    library = list(catalog.builtin())
    http = {80} | {r.port for p in library if p.http for r in p.http.requests}
    mqtt_tls = {MQTT_TLS_PORT} | {p.mqtt.port for p in library if p.mqtt and p.mqtt.tls}
    mqtt = ({1883} | {p.mqtt.port for p in library if p.mqtt and not p.mqtt.tls}) - mqtt_tls
    tls = ({443} | {p.tls.port for p in library if p.tls}) - mqtt_tls
    rtsp = {554} | {p.rtsp.port for p in library if p.rtsp}
    return Ports(*(tuple(sorted(s)) for s in (http, tls, mqtt, mqtt_tls, rtsp)))


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
    log_format device '$remote_addr "$request" "$http_user_agent" $status host="$host" body=$content_length';
    access_log {dir}/http-access.log device;
    client_body_temp_path {dir}/tmp-body;
    client_max_body_size 32m;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    server {{
{http_listen}
        location / {{ return 200 "ok\\n"; }}
    }}
    log_format device_tls '$proxy_protocol_addr "$request" "$http_user_agent" $status host="$host" '
                          'sni="$ssl_server_name" $ssl_protocol $ssl_cipher body=$content_length';
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
    log_format hello '$remote_addr sni="$ssl_preread_server_name" alpn="$ssl_preread_alpn_protocols" version="$ssl_preread_protocol" bytes_out=$bytes_sent bytes_in=$bytes_received';
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


MOSQUITTO_TLS_LISTENER = """\
listener {port} {address}
cafile {dir}/ca.pem
certfile {dir}/rsa-cert.pem
keyfile {dir}/rsa-key.pem
"""


def make_certificates(directory: Path) -> None:
    """A lab CA and two server certificates it signs: EC P-256 (what modern hellos pick) and RSA 2048
    (for suites with RSA key exchange or RSA signatures only)."""

    def openssl(*args: str) -> None:
        run = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise errors.LabError(f"openssl {args[0]} failed: {run.stderr.strip()}")

    d = str(directory)
    openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=iotemu lab CA",
        "-keyout",
        f"{d}/ca-key.pem",
        "-out",
        f"{d}/ca.pem",
    )
    openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=lab",
        "-keyout",
        f"{d}/key.pem",
        "-out",
        f"{d}/server.csr",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=lab",
        "-keyout",
        f"{d}/rsa-key.pem",
        "-out",
        f"{d}/rsa-server.csr",
    )
    for csr, cert in (("server.csr", "cert.pem"), ("rsa-server.csr", "rsa-cert.pem")):
        openssl(
            "x509",
            "-req",
            "-in",
            f"{d}/{csr}",
            "-CA",
            f"{d}/ca.pem",
            "-CAkey",
            f"{d}/ca-key.pem",
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            f"{d}/{cert}",
        )


def start(
    sink_ns: str,
    directory: Path,
    clients: ipaddress.IPv4Network,
    record: Callable[[str, process.Proc], None],
    address: ipaddress.IPv4Address = ANY,
    ipv6: ipaddress.IPv6Network | None = None,
) -> None:
    """Start the sink's servers in `sink_ns` on `address` (each `record`ed as it starts), once each listens.

    `clients` is the network the servers accept NTP from (the lab's subnet). Files go to `directory`.
    By default they listen on every address: the sink namespace takes any destination as its own
    (`wan.connect_sink`), and the UDP servers (chrony, libcoap) answer from the address asked.
    With `ipv6` (the lab LAN's IPv6 prefix: `--ipv6 --internet`), nginx, mosquitto and chrony listen on
    `::` too (IPv6-only sockets beside the IPv4 ones) and chrony serves that prefix.
    """
    d = directory
    d.mkdir(exist_ok=True)
    make_certificates(d)

    both = ipv6 is not None and address == ANY
    binds = [str(address), "::"] if both else [str(address)]

    def listen(numbers: tuple[int, ...]) -> str:
        hosts = [h if h != "::" else "[::]" for h in binds]
        return "\n".join(f"        listen {host}:{port};" for port in numbers for host in hosts)

    p = ports()
    nginx = NGINX_CONF.format(dir=d, http_listen=listen(p.http), tls_listen=listen(p.tls))
    (d / "nginx.conf").write_text(nginx)
    listeners = "\n".join(f"listener {port} {host}" for port in p.mqtt for host in binds)
    listeners += "".join(
        "\n" + MOSQUITTO_TLS_LISTENER.format(port=port, address=host, dir=d) for port in p.mqtt_tls for host in binds
    )
    (d / "mosquitto.conf").write_text(MOSQUITTO_CONF.format(dir=d, listeners=listeners))
    chrony = CHRONY_CONF.format(subnet=clients, sink=address, dir=d)
    if both:
        chrony += f"allow {ipv6}\nbindaddress ::\n"
    (d / "chrony.conf").write_text(chrony)
    rtsp = [sys.executable, "-m", "iot_emulator.lab.rtsp_sink", "--address", str(address), "--log", str(d / "rtsp.log")]
    rtsp += [arg for port in p.rtsp for arg in ("--port", str(port))]
    servers = [
        (
            "nginx",
            ["nginx", "-c", str(d / "nginx.conf"), "-e", str(d / "nginx-error.log")],
            set(),
            frozenset({*p.http, *p.tls, 8443}),
        ),
        ("mosquitto", ["mosquitto", "-c", str(d / "mosquitto.conf")], set(), frozenset({*p.mqtt, *p.mqtt_tls})),
        ("chronyd", ["chronyd", "-d", "-x", "-u", "root", "-f", str(d / "chrony.conf")], {123}, frozenset()),
        (
            "coap-server",
            ["coap-server-notls", "-A", str(address), "-p", str(COAP_PORT), "-v", "7"],
            {COAP_PORT},
            frozenset(),
        ),
        ("rtsp", rtsp, set(), frozenset(p.rtsp)),
        *((role, argv, set(), tcp) for role, argv, tcp in login_servers.prepare(d, address)),
    ]
    for role, argv, udp, tcp in servers:
        log = d / f"{role}.out"
        proc = process.spawn(netns.exec_argv(sink_ns, argv), log=log)
        record(role, proc)
        process.wait_listening(proc, udp, tcp=tcp, what=f"{role} in {sink_ns}", logs=[log], timeout=READY_TIMEOUT)
