"""The 802.1X supplicant of one device as a sans-IO state machine (IEEE 802.1X-2010, RFC 3748).

Like the DHCP client it reads no clock and owns no socket: `start`, `handle` and `on_timer` take
`now` and return frames; `next_deadline()` says when to call `on_timer()`; outcomes are queued as
events (`pop_events()`). The device starts DHCP only once `port_open` is true: after EAP-Success,
or after `max_start` unanswered EAPOL-Starts (802.1X: no authenticator, the port is taken as
authorized), as a real phone behind an 802.1X switch port does.

Methods: EAP-MD5 (RFC 3748 5.4), EAP-TLS (RFC 5216, `eap_tls`) and PEAPv0 with EAP-MSCHAPv2
inside (`eap_peap`, `mschapv2`). A Request for another method is
answered with a Nak proposing ours (RFC 3748 5.3.1). After EAP-Failure the supplicant is held for
`held_period` (times `held_backoff` per consecutive failure), then starts again, and keeps
sending a Start every `start_period` until answered (an authenticator that refused us is never
taken as absent: a switch may stay quiet for its own quietPeriod). Re-authentication:
on the authenticator's Request-Identity at any time, and every `reauth_period` if set.
"""

from __future__ import annotations

import enum
import hashlib
import ssl
from collections.abc import Callable
from typing import Any

from iot_emulator.profiles import dot1x
from iot_emulator.protocols.link import eap, eap_peap, eap_tls

Event = tuple[str, dict[str, Any]]
_METHODS = {"md5": eap.Method.MD5, "tls": eap.Method.TLS, "peap": eap.Method.PEAP}


class AuthState(enum.Enum):
    CONNECTING = "connecting"  # EAPOL-Start sent, no Request yet
    AUTHENTICATING = "authenticating"
    AUTHORIZED = "authorized"
    HELD = "failed"  # after EAP-Failure, silent for the held period
    UNCONTROLLED = "no-authenticator"  # nobody answered our Starts: the port is taken as open
    STOPPED = "stopped"


class Supplicant:
    """One device's supplicant PAE: Start, Identity, the method, Success/Failure, held, re-auth."""

    __slots__ = (
        "_authenticator",
        "_began",
        "_deadline",
        "_events",
        "_failures",
        "_heard",
        "_last",
        "_s",
        "_starts",
        "_tls",
        "_tls_context",
        "identity",
        "mac",
        "method",
        "state",
    )

    def __init__(
        self,
        *,
        mac: bytes,
        settings: dot1x.Dot1x,
        identity: str,
        tls_context: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self.mac = mac
        self.identity = identity
        self.method = _METHODS[settings.method]
        self.state = AuthState.CONNECTING
        self._s = settings
        self._tls_context = tls_context
        self._tls: eap_tls.TlsPeer | None = None
        self._authenticator = eap.PAE_GROUP
        self._deadline: float | None = None
        self._starts = 0
        self._failures = 0
        self._heard = False  # an authenticator has spoken: never take the port as uncontrolled then
        self._began = 0.0
        self._last: tuple[int, bytes, bytes] | None = None  # (id, request data, our response frame)
        self._events: list[Event] = []

    # -- entry points -------------------------------------------------------------------------

    @property
    def port_open(self) -> bool:
        """Frames beyond EAPOL may flow: authorized, or no authenticator on the link."""
        return self.state in (AuthState.AUTHORIZED, AuthState.UNCONTROLLED)

    def auth_state(self) -> str:
        """The state's name as the stats show it (`authorized`, `failed`, ...)."""
        return self.state.value

    def start(self, now: float) -> list[bytes]:
        self._starts = 0
        self._began = now
        return self._send_start(now)

    def handle(self, frame: bytes, now: float) -> list[bytes]:
        parsed = eap.parse(frame)
        if parsed is None or self.state is AuthState.STOPPED:
            return []
        _kind, packet = parsed
        if packet is None or packet.code == eap.Code.RESPONSE:
            return []
        if self.state is AuthState.HELD:
            return []  # 802.1X HELD: the supplicant ignores everything until heldWhile expires
        self._authenticator = frame[6:12]
        self._heard = True
        if packet.code == eap.Code.SUCCESS:
            return self._on_success(now)
        if packet.code == eap.Code.FAILURE:
            return self._on_failure(now)
        if packet.code != eap.Code.REQUEST or packet.type is None:
            return []
        if self._last is not None and self._last[:2] == (packet.identifier, packet.data) and packet.type != 1:
            return [self._last[2]]  # the authenticator retransmitted: so do we
        return self._on_request(packet, now)

    def on_timer(self, now: float) -> list[bytes]:
        if self._deadline is None or now < self._deadline or self.state is AuthState.STOPPED:
            return []
        self._deadline = None
        if self.state is AuthState.CONNECTING:
            if self._starts >= self._s.max_start and not self._heard:
                self._set_state(AuthState.UNCONTROLLED)
                self._emit("dot1x_timeout", identity=self.identity, starts=self._starts)
                return []
            return self._send_start(now)
        if self.state is AuthState.AUTHENTICATING:
            self._log("info", "802.1X: no Request within the auth period, starting again")
            self._set_state(AuthState.CONNECTING)
            self._starts = 0
            return self._send_start(now)
        # HELD over, or AUTHORIZED's re-authentication time
        self._starts = 0
        self._began = now
        if self.state is AuthState.HELD:
            self._set_state(AuthState.CONNECTING)
        return self._send_start(now)

    def next_deadline(self) -> float | None:
        return None if self.state is AuthState.STOPPED else self._deadline

    def stop(self, now: float) -> list[bytes]:
        """EAPOL-Logoff if the port was authorized (as a phone shutting down says), then silence."""
        out = []
        if self.state is AuthState.AUTHORIZED:
            out.append(eap.eapol(self.mac, self._authenticator, eap.EapolType.LOGOFF, version=self._s.eapol_version))
        self._set_state(AuthState.STOPPED)
        self._deadline = None
        return out

    def pop_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # -- exchange ------------------------------------------------------------------------------

    def _send_start(self, now: float) -> list[bytes]:
        self._starts += 1
        self._deadline = now + self._s.start_period
        self._emit("dot1x_start", identity=self.identity, attempt=self._starts)
        return [eap.eapol(self.mac, eap.PAE_GROUP, eap.EapolType.START, version=self._s.eapol_version)]

    def _on_request(self, packet: eap.Eap, now: float) -> list[bytes]:
        self._deadline = now + self._s.auth_period
        if self.state is not AuthState.AUTHORIZED:
            self._set_state(AuthState.AUTHENTICATING)
        if packet.type == eap.Method.IDENTITY:
            self._tls = None
            if self.state is AuthState.AUTHORIZED:
                self._began = now
            return self._respond(packet, eap.Method.IDENTITY, self.identity.encode())
        if packet.type == eap.Method.NOTIFICATION:
            return self._respond(packet, eap.Method.NOTIFICATION, b"")
        if packet.type != self.method:
            self._log("info", f"802.1X: server offered EAP type {packet.type}, proposing {self.method.name}")
            return self._respond(packet, eap.Method.NAK, bytes([self.method]))
        if self.method == eap.Method.MD5:
            return self._respond(packet, eap.Method.MD5, md5_response(packet.identifier, self._s.password, packet.data))
        return self._tls_step(packet)

    def _tls_step(self, packet: eap.Eap) -> list[bytes]:
        if self._tls is None:
            if self._tls_context is None:
                self._log("error", "802.1X: EAP-TLS without certificates (dot1x.pki_dir)")
                return []
            inner = eap_peap.PeapInner(self.identity, self._s.password) if self.method == eap.Method.PEAP else None
            self._tls = eap_tls.TlsPeer(self._tls_context(), fragment_size=self._s.fragment_size, tunnel=inner)
        try:
            data = self._tls.respond(packet.data)
        except eap_tls.TlsError as exc:
            self._log("warning", f"802.1X: EAP-TLS: {exc}")
            self._tls = None
            return []
        return self._respond(packet, self.method, data)

    def _respond(self, request: eap.Eap, type_: int, data: bytes) -> list[bytes]:
        body = eap.eap(eap.Code.RESPONSE, request.identifier, type_, data)
        frame = eap.eapol(self.mac, self._authenticator, eap.EapolType.EAP_PACKET, body, version=self._s.eapol_version)
        self._last = (request.identifier, request.data, frame)
        return [frame]

    def _on_success(self, now: float) -> list[bytes]:
        if self.state not in (AuthState.AUTHENTICATING, AuthState.AUTHORIZED, AuthState.CONNECTING):
            return []
        first = self.state is not AuthState.AUTHORIZED
        self._set_state(AuthState.AUTHORIZED)
        self._failures = 0
        self._last = None
        self._deadline = now + self._s.reauth_period if self._s.reauth_period else None
        self._emit(
            "dot1x_success",
            identity=self.identity,
            method=self.method.name.lower(),
            seconds=round(now - self._began, 3),
            reauthentication=not first,
        )
        return []

    def _on_failure(self, now: float) -> list[bytes]:
        if self.state not in (AuthState.AUTHENTICATING, AuthState.AUTHORIZED, AuthState.CONNECTING):
            return []
        held = min(self._s.held_period * self._s.held_backoff**self._failures, self._s.held_max)
        self._failures += 1
        self._set_state(AuthState.HELD)
        self._last = None
        self._tls = None
        self._deadline = now + held
        self._emit(
            "dot1x_failure",
            identity=self.identity,
            method=self.method.name.lower(),
            failures=self._failures,
            retry_in=round(held, 3),
        )
        return []

    # -- bookkeeping ---------------------------------------------------------------------------

    def _set_state(self, new: AuthState) -> None:
        old, self.state = self.state, new
        if old is not new:
            self._log("debug", f"802.1X state {old.name} -> {new.name}")

    def _emit(self, type_: str, **fields: Any) -> None:
        self._events.append((type_, fields))

    def _log(self, level: str, message: str) -> None:
        self._events.append(("log", {"level": level, "message": message}))


def md5_response(identifier: int, password: str, request: bytes) -> bytes:
    """EAP-MD5 Response type-data: Value-Size 16, MD5(id || secret || challenge) (RFC 1994 4.1)."""
    size = request[0] if request else 0
    challenge = request[1 : 1 + size]
    digest = hashlib.md5(bytes([identifier]) + password.encode() + challenge, usedforsecurity=False).digest()
    return bytes([16]) + digest


def identity_of(template: str, *, hostname: str, mac: bytes, model: str) -> str:
    """The profile's identity template filled for one device."""
    mac12 = mac.hex()
    return template.format(
        hostname=hostname, mac=":".join(f"{b:02x}" for b in mac), mac12=mac12, MAC12=mac12.upper(), model=model
    )
