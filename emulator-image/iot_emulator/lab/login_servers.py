"""The sink's login servers: OpenSSH's sshd and inetutils' telnetd, for brute-force scenarios to knock on.

A product that watches for brute force reads real sessions (SSH key exchange then failed
user-auth, telnet negotiation then a login dialogue), and a user checks what the lab's servers
logged. Neither server may ever let anyone in, nor use this machine's accounts or configuration:

- sshd runs from its own config and host key in the lab directory (`sshd -f`, `-h`), on port 22,
  password authentication on, PAM off, and `AllowUsers` naming an account that does not exist,
  so every password fails whatever the user name; it logs each failure with the user name to
  `sshd.log` (`-E`). Its privilege-separation directory (/run/sshd, compiled in) is created if
  missing, as the Debian service does. Its log level (DEBUG1) also names the cipher each session chose.
- telnetd runs under inetutils' inetd with a config in the lab directory, on port 23, and execs the
  lab's `telnet-login` (`telnetd -E`) instead of /bin/login: it prompts like login, writes each
  attempt (time, client, user name) to `telnet-logins.log`, and always answers "Login incorrect".
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from iot_emulator.lab import errors

SSH_PORT = 22
TELNET_PORT = 23
NOBODY = "iotemu-lab-nobody"
"""The only user sshd would accept: no such account exists, so no login ever succeeds."""

PROGRAMS = {
    "/usr/sbin/sshd": "openssh-server",
    "/usr/sbin/telnetd": "inetutils-telnetd",
    "/usr/sbin/inetutils-inetd": "inetutils-inetd",
}
"""The Debian packages that install them (APT_PACKAGES in the Makefile)."""

SSHD_CONFIG = """\
Port {port}
ListenAddress {address}
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication no
UsePAM no
PermitRootLogin yes
AllowUsers {nobody}
MaxStartups 100:30:200
LoginGraceTime 10
LogLevel DEBUG1
"""

INETD_CONF = "{address}:{port} stream tcp nowait root /bin/sh sh {telnetd}\n"
TELNETD = """\
#!/bin/sh
# inetd splits its arguments on spaces: telnetd's login command line (%h: the client) is given here.
exec /usr/sbin/telnetd -h -E "{login} %h"
"""

TELNET_LOGIN = """\
#!/bin/sh
# The lab's telnet login (telnetd -E): asks like /bin/login, never lets anyone in, logs each attempt.
printf 'sink login: '
IFS= read -r user || exit 0
printf 'Password: '
stty -echo 2>/dev/null
IFS= read -r pass
stty echo 2>/dev/null
user=$(printf '%s' "$user" | tr -d '\\r\\000')
printf '%s FAILED LOGIN from %s FOR %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$user" >> {log}
printf '\\r\\nLogin incorrect\\r\\n'
"""


def prepare(directory: Path, address: ipaddress.IPv4Address) -> list[tuple[str, list[str], frozenset[int]]]:
    """Write both servers' files to `directory`; (role, argv, TCP ports it listens on) for each."""
    d = directory
    missing = [package for program, package in PROGRAMS.items() if not Path(program).exists()]
    if missing:
        raise errors.LabError(f"the sink's login servers need {', '.join(missing)} (apt-get install, or make setup)")
    key = d / "ssh_host_ed25519_key"
    if not key.exists():
        made = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "iotemu-lab", "-f", str(key)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise errors.LabError(f"ssh-keygen failed: {made.stderr.strip()}")
    (d / "sshd_config").write_text(SSHD_CONFIG.format(port=SSH_PORT, address=address, dir=d, nobody=NOBODY))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    login = d / "telnet-login"
    login.write_text(TELNET_LOGIN.format(log=d / "telnet-logins.log"))
    login.chmod(0o755)
    (d / "telnet-logins.log").touch()
    (d / "telnetd").write_text(TELNETD.format(login=login))
    (d / "inetd.conf").write_text(INETD_CONF.format(address=address, port=TELNET_PORT, telnetd=d / "telnetd"))
    return [
        (
            "sshd",
            ["/usr/sbin/sshd", "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
            frozenset({SSH_PORT}),
        ),
        (
            "telnetd",
            ["/usr/sbin/inetutils-inetd", "-d", "-p", str(d / "inetd.pid"), str(d / "inetd.conf")],
            frozenset({TELNET_PORT}),
        ),
    ]
