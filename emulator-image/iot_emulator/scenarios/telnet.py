"""One telnet login attempt as Mirai's scanner makes it (RFC 854 option negotiation, then a login dialogue).

Mirai (`scanner.c`, `consume_iacs`) answers the server's option negotiation the crude way: DO
NAWS gets WILL NAWS and an 80x24 window size, any other DO a WONT, any WILL a DO. Then it waits
for a prompt ending in ':' (login:, Username:), sends the user name and CR LF, waits for
"assword", sends the password, and reads what comes back: a failure text or a new login prompt
is a rejected attempt, a shell prompt (# $ > %) an accepted one. One attempt per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iot_emulator.protocols.clients import tcp_client

if TYPE_CHECKING:
    from iot_emulator.protocols.transport import tcp

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
NAWS = 31
WINDOW_SIZE = bytes((IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE))
MAX_TEXT = 4096
"""Server text kept at most (prompts are short; a server that floods is cut off)."""
FAILED = (b"incorrect", b"failed", b"denied", b"invalid", b"login:", b"bad password")
SHELL = (b"#", b"$", b">", b"%")


def answer(command: int, option: int) -> bytes:
    """Mirai's reply to one negotiation: WILL NAWS (+ 80x24) to DO NAWS, WONT to DO, DO to WILL."""
    if command == DO and option == NAWS:
        return bytes((IAC, WILL, NAWS)) + WINDOW_SIZE
    if command == DO:
        return bytes((IAC, WONT, option))
    if command == WILL:
        return bytes((IAC, DO, option))
    return b""


def split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(text, replies to send, incomplete tail to keep) of what the server sent."""
    text, replies = bytearray(), bytearray()
    i = 0
    while i < len(data):
        if data[i] != IAC:
            text.append(data[i])
            i += 1
            continue
        if i + 1 >= len(data):
            break
        command = data[i + 1]
        if command == IAC:
            text.append(IAC)
            i += 2
        elif command in (DO, DONT, WILL, WONT):
            if i + 2 >= len(data):
                break
            replies += answer(command, data[i + 2])
            i += 3
        elif command == SB:
            end = data.find(bytes((IAC, SE)), i + 2)
            if end < 0:
                break
            i = end + 2
        else:  # NOP, GA, AYT...: two bytes, nothing to answer
            i += 2
    return bytes(text), bytes(replies), data[i:]


class TelnetLogin(tcp_client.Session):
    """One connection, one user name and password; `result` is "rejected" or "accepted" once known."""

    def __init__(
        self,
        client: tcp_client.PeriodicClient,
        target: tcp_client.Target,
        address: bytes,
        now: float,
        user: str,
        password: str,
    ) -> None:
        self.user = user
        self.password = password
        self.step = "login"
        self.text = bytearray()
        self.result: str | None = None
        self._tail = b""
        super().__init__(client, target, address, now)

    def begin(self, now: float) -> None:
        """The server speaks first (negotiation, then its prompt)."""

    def feed(self, now: float) -> None:
        text, replies, self._tail = split(self._tail + bytes(self.received))
        self.received.clear()
        if replies:
            self.conn.send(replies, now)
        self.text += text
        if len(self.text) > MAX_TEXT or len(self._tail) > MAX_TEXT:
            self.end(now, "server text too long")
            return
        shown = bytes(self.text).rstrip().lower()
        if self.step == "login" and shown.endswith(b":"):
            self._say(self.user, "password", now)
        elif self.step == "password" and b"assword" in shown:
            self._say(self.password, "result", now)
        elif self.step == "result" and any(word in shown for word in FAILED):
            self.result = "rejected"
            self.end(now, "rejected")
        elif self.step == "result" and shown.endswith(SHELL):
            self.result = "accepted"
            self.end(now, "accepted")

    def _say(self, line: str, step: str, now: float) -> None:
        self.conn.send(line.encode() + b"\r\n", now)
        self.step = step
        self.text.clear()

    def on_closed(self, conn: tcp.Connection, reason: str, now: float) -> None:
        if not self.finished and self.step == "result" and self.result is None:
            self.result = "rejected"  # a server that hangs up after a wrong password (BusyBox login does)
        super().on_closed(conn, reason, now)

    def outcome(self, reason: str) -> tuple[str, str] | None:
        return attempt_outcome(self, "telnet")


def attempt_outcome(session: TelnetLogin | tcp_client.Session, service: str) -> tuple[str, str] | None:
    """The log line of a finished attempt (None when the server never answered it: the client notes that)."""
    result = getattr(session, "result", None)
    if result is None:
        return None
    user, password = getattr(session, "user", ""), getattr(session, "password", "")
    peer = f"{session.target.host}:{session.target.port}"
    level = "warning" if result == "accepted" else "info"
    return level, f"{session.client.name}: {service} {user}/{password or '(none)'} at {peer}: {result}"
