"""One SSH password login attempt (RFC 4252 8) over the transport of `ssh_transport`.

After the key exchange: "ssh-userauth" service request, then one USERAUTH_REQUEST with method
"password"; USERAUTH_FAILURE is a rejected attempt, USERAUTH_SUCCESS an accepted one. Then
DISCONNECT and FIN, as a brute-forcer moving to its next pair does.
"""

from __future__ import annotations

from iot_emulator.protocols.clients import tcp_client
from iot_emulator.scenarios import ssh_transport, telnet
from iot_emulator.scenarios.ssh_transport import string

USERAUTH_REQUEST, USERAUTH_FAILURE, USERAUTH_SUCCESS, USERAUTH_BANNER = 50, 51, 52, 53


def password_request(user: str, password: str) -> bytes:
    return (
        bytes((USERAUTH_REQUEST,))
        + string(user.encode())
        + string(b"ssh-connection")
        + string(b"password")
        + b"\x00"
        + string(password.encode())
    )


class SshLogin(tcp_client.Session):
    """One connection, one user name and password; `result` is "rejected" or "accepted" once known."""

    def __init__(
        self,
        client: tcp_client.PeriodicClient,
        target: tcp_client.Target,
        address: bytes,
        now: float,
        user: str,
        password: str,
        ciphers: tuple[bytes, ...] = ssh_transport.CIPHERS,
    ) -> None:
        self.user = user
        self.password = password
        self.ssh = ssh_transport.SshClient(client.context.rng, ciphers=ciphers)
        self.result: str | None = None
        self._asked = False
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        self._flush(now)  # version line and KEXINIT

    def feed(self, now: float) -> None:
        self.ssh.receive(bytes(self.received))
        self.received.clear()
        if self.ssh.state == "established" and not self._asked:
            self._asked = True
            self.ssh.send(bytes((ssh_transport.SERVICE_REQUEST,)) + string(b"ssh-userauth"))
        for message in self.ssh.inbox:
            kind = message[0]
            if kind == ssh_transport.SERVICE_ACCEPT:
                self.ssh.send(password_request(self.user, self.password))
            elif kind in (USERAUTH_FAILURE, USERAUTH_SUCCESS):
                self.result = "rejected" if kind == USERAUTH_FAILURE else "accepted"
        self.ssh.inbox.clear()
        if self.result is not None:
            self.ssh.disconnect()
        self._flush(now)
        if self.result is not None:
            self.end(now, self.result)
        elif self.ssh.state in ("failed", "closed"):
            self.end(now, f"SSH: {self.ssh.failure}")

    def _flush(self, now: float) -> None:
        data = self.ssh.data_to_send()
        if data:
            self.conn.send(data, now)

    def outcome(self, reason: str) -> tuple[str, str] | None:
        return telnet.attempt_outcome(self, "ssh")
