"""802.1X in a lab: hostapd as the wired authenticator on the gateway's port, FreeRADIUS behind it.

A switch port doing 802.1X is an authenticator (hostapd, `driver=wired`) relaying EAP to a RADIUS
server (FreeRADIUS). Both run in the gateway namespace: hostapd on `gw0`, FreeRADIUS on the
namespace's loopback (127.0.0.1:1812), with every file (radiusd.conf, users, the lab CA's
certificates, logs) written under the lab's directory, never in /etc. FreeRADIUS runs in the
foreground with `-X`, so its log (`dot1x/freeradius.log`) shows each request's User-Name,
Calling-Station-Id (the device's MAC, from hostapd) and the EAP method; `auth = yes` adds one
"Login OK"/"Login incorrect" line per outcome.

hostapd unicasts EAPOL to each station (`use_pae_group_addr=0`), as a switch port in multi-auth
mode does for the several devices behind it. The wired driver has no port to block, so the lab
blocks it (`dot1x_gate`: nftables on the gateway's ingress, opened per MAC on hostapd's
AP-STA-CONNECTED). hostapd's MAC ACL over RADIUS (MAB) exists only for 802.11 associations, so
MAB is a list of MACs the lab lets through; a device without 802.1X sends no EAPOL (tests check
that in a capture).
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

from iot_emulator.lab import dot1x_pki, errors, handle, netns

RADIUS_PORT = 1812
READY_TIMEOUT = 20.0


@dataclasses.dataclass(frozen=True)
class User:
    """A supplicant the RADIUS server knows: EAP-MD5 and PEAP by password, EAP-TLS by certificate."""

    identity: str
    password: str | None = None
    """None for an EAP-TLS device (its certificate, CN = identity, is its credential)."""
    cert_file: str | None = None
    """EAP-TLS: the certificate's file name (without .pem) in the PKI directory, e.g. the MAC as 12 hex digits."""


@dataclasses.dataclass(frozen=True)
class Dot1x:
    """What `start` built: where the device certificates and the server logs are."""

    directory: Path
    pki_dir: Path
    radius_log: Path
    hostapd_log: Path
    radius_secret: str = dataclasses.field(repr=False, default="")
    """What hostapd shares with FreeRADIUS (a RADIUS client such as eapol_test needs it too)."""


def _quote(text: str) -> str:
    if any(c in text for c in '"\\\n\r'):
        raise errors.LabConfigError(f"802.1X user field {text!r}: quotes, backslashes and newlines are not allowed")
    return f'"{text}"'


def users_file(users: Iterable[User]) -> str:
    """FreeRADIUS `files` entries: a Cleartext-Password per MD5 user (TLS users need none)."""
    lines = []
    for user in users:
        if user.password is not None:
            lines.append(f"{_quote(user.identity)} Cleartext-Password := {_quote(user.password)}\n")
    return "".join(lines)


def radiusd_conf(directory: Path, pki: Path, secret: str) -> str:
    """A whole FreeRADIUS 3 configuration: one client (hostapd), `files`, EAP-MD5, EAP-TLS and PEAP
    (EAP-MSCHAPv2 in the `inner-tunnel` server, as FreeRADIUS's own default configuration runs it)."""
    return f"""\
prefix = /usr
localstatedir = /var
logdir = {directory}
raddbdir = {directory}
confdir = {directory}
run_dir = {directory}
libdir = /usr/lib/freeradius
pidfile = {directory}/radiusd.pid
max_request_time = 30
cleanup_delay = 2
max_requests = 65536
hostname_lookups = no
log {{
    destination = files
    file = {directory}/radius.log
    auth = yes
    auth_badpass = no
    auth_goodpass = no
}}
security {{
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
thread pool {{
    start_servers = 2
    max_servers = 8
    min_spare_servers = 1
    max_spare_servers = 4
    max_requests_per_server = 0
}}
client authenticator {{
    ipaddr = 127.0.0.1
    secret = {secret}
    require_message_authenticator = no
}}
modules {{
    files {{
        filename = {directory}/users
        acctusersfile = {directory}/users
        preproxy_usersfile = {directory}/users
    }}
    mschap {{
    }}
    eap {{
        default_eap_type = md5
        timer_expire = 60
        max_sessions = 16384
        md5 {{
        }}
        tls-config tls-common {{
            private_key_file = {pki}/server.key
            certificate_file = {pki}/server.pem
            ca_file = {pki}/ca.pem
            fragment_size = 1024
            cipher_list = "DEFAULT"
            ecdh_curve = "prime256v1"
            tls_min_version = "1.2"
            tls_max_version = "1.2"
            check_cert_cn = %{{User-Name}}
            cache {{
                enable = no
            }}
        }}
        tls {{
            tls = tls-common
        }}
        mschapv2 {{
        }}
        peap {{
            tls = tls-common
            default_eap_type = mschapv2
            virtual_server = "inner-tunnel"
        }}
    }}
}}
server inner-tunnel {{
    authorize {{
        files
        eap {{
            ok = return
        }}
    }}
    authenticate {{
        Auth-Type MS-CHAP {{
            mschap
        }}
        eap
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {RADIUS_PORT}
    }}
    authorize {{
        files
        eap
    }}
    authenticate {{
        eap
    }}
}}
"""


def hostapd_conf(iface: str, secret: str, *, reauth_period: int = 0, ctrl: Path | None = None) -> str:
    control = f"ctrl_interface={ctrl}\n" if ctrl is not None else ""
    return f"""\
{control}interface={iface}
driver=wired
logger_stdout=-1
logger_stdout_level=1
ieee8021x=1
eapol_version=2
eap_server=0
use_pae_group_addr=0
eap_reauth_period={reauth_period}
own_ip_addr=127.0.0.1
nas_identifier=iotemu-lab-switch
auth_server_addr=127.0.0.1
auth_server_port={RADIUS_PORT}
auth_server_shared_secret={secret}
"""


def start(
    lab: handle.Lab,
    users: Iterable[User],
    *,
    reauth_period: int = 0,
    debug: bool = True,
    enforce: bool = True,
    mab: Iterable[str] = (),
) -> Dot1x:
    """Write the CA, FreeRADIUS and hostapd configurations; start both; return once hostapd runs.

    Both are recorded in the lab's record, so `down()` stops them whatever happens to the caller.
    `debug=False` runs FreeRADIUS without `-X` (benchmarks): its log then has only the
    "Login OK"/"Login incorrect" lines. `enforce` closes the port as a switch does
    (`dot1x_gate`): only EAPOL passes from a device until hostapd authorizes it, except the MACs
    of `mab` (MAC Authentication Bypass, decided up front)."""
    for tool, package in (("freeradius", "freeradius"), ("hostapd", "hostapd")):
        if netns.tool(tool) is None:
            raise errors.LabError(f"not found: {tool}; install {package} (sudo make setup)")
    users = list(users)
    directory = lab.directory / "dot1x"
    pki = directory / "pki"
    dot1x_pki.make(pki, [(u.cert_file, u.identity) for u in users if u.cert_file is not None])
    secret = secrets.token_hex(16)
    (directory / "radiusd.conf").write_text(radiusd_conf(directory, pki, secret))
    (directory / "users").write_text(users_file(users))
    ctrl = directory / "ctrl"
    conf = hostapd_conf(lab.gw_iface, secret, reauth_period=reauth_period, ctrl=ctrl if enforce else None)
    (directory / "hostapd.conf").write_text(conf)
    radius_log, hostapd_log = directory / "freeradius.log", directory / "hostapd.log"
    flags = ["-X"] if debug else ["-f", "-l", "stdout"]
    handle.serve(
        lab,
        "freeradius",
        ["freeradius", *flags, "-d", str(directory)],
        radius_log,
        ports={RADIUS_PORT},
        started=lambda _pid: "Ready to process requests" in _text(radius_log),
    )
    handle.serve(
        lab,
        "hostapd",
        ["hostapd", str(directory / "hostapd.conf")],
        hostapd_log,
        started=lambda _pid: "ENABLED" in _text(hostapd_log),
    )
    if enforce:
        gate_log = directory / "gate.log"
        argv = [
            sys.executable,
            "-m",
            "iot_emulator.lab.dot1x_gate",
            "--ctrl",
            str(ctrl / lab.gw_iface),
            "--iface",
            lab.gw_iface,
            "--mab",
            *mab,
        ]
        handle.serve(lab, "dot1x-gate", argv, gate_log, started=lambda _pid: "attached" in _text(gate_log))
    return Dot1x(directory=directory, pki_dir=pki, radius_log=radius_log, hostapd_log=hostapd_log, radius_secret=secret)


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
