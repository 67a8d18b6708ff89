"""The "ssdp" service: UPnP discovery (SSDP, UPnP Device Architecture 1.0 and 1.1, section 1).

The device advertises its root device on 239.255.255.250:1900: three `NOTIFY ssdp:alive`
messages (NT upnp:rootdevice, the device's UUID, its device type), after a random 0-100 ms at
start and sent twice (UDA 1.1 1.2.2: UDP is unreliable, send more than once), then again at a
random time under half of max-age; `ssdp:byebye` for the three on stop. It answers M-SEARCH
(ssdp:all, upnp:rootdevice, its UUID, its device type at the same or an older version) with a
unicast HTTP/1.1 200 OK after a random delay under MX (capped at 5 s, UDA 1.1 1.3.3); a unicast
M-SEARCH sent to its own address is answered at once. Multicast leaves with IP TTL 4 for
"UPnP/1.0" devices (UDA 1.0 default) and 2 for "UPnP/1.1" (UDA 1.1), which also adds the
BOOTID.UPNP.ORG / CONFIGID.UPNP.ORG headers.

The UUID is stable and derived from the MAC: its last 12 hex digits are the MAC (the UUID
version-1 node field, as Hue bridges' 2f402f80-da50-11e1-9b23-<MAC> and many UPnP stacks do),
the rest a hash of the profile name. The description document at LOCATION is not served (that
needs the TCP/HTTP server side, out of scope here): control points list the device from its
NOTIFY/200 OK headers, and fetching the description fails.

Over IPv6 too when the device speaks it and its profile says its UPnP stack does (`ipv6.discovery`
lists "ssdp"; UDA 1.1 Annex A): NOTIFYs also go to [ff02::c]:1900 with `HOST: [FF02::C]:1900` from
the link-local address, M-SEARCHes over IPv6 are answered over IPv6, and there LOCATION names the
device's global (or unique local) IPv6 address in brackets, its link-local one when it has no other.
"""

from __future__ import annotations

import functools
import random
import re
import uuid

from iot_emulator.config import manifests
from iot_emulator.devices import host as host_mod
from iot_emulator.profiles import catalog
from iot_emulator.protocols import service_kit, services
from iot_emulator.protocols.link import ipv6

GROUP = bytes([239, 255, 255, 250])
GROUP6 = ipv6.SSDP_GROUP
PORT = 1900
MX_CAP = 5
HOST_HEADER = "239.255.255.250:1900"
HOST_HEADER6 = "[FF02::C]:1900"
ROOT = "upnp:rootdevice"
_VERSIONED = re.compile(r"^(urn:[^:]+:(?:device|service):[^:]+):(\d+)$", re.IGNORECASE)


def device_uuid(config: manifests.DeviceConfig) -> str:
    """Stable per device: the profile's hash for the time fields, the MAC as the node."""
    base = uuid.uuid5(uuid.NAMESPACE_URL, f"iotemu:{config.profile.name}")
    return str(base)[:24] + config.mac.replace(":", "").lower()


def parse_request(data: bytes) -> tuple[str, dict[str, str]]:
    """(start line, headers with upper-case names) of an HTTPU message (SSDP is HTTP over UDP)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    headers = {}
    for line in lines[1:]:
        if not line.strip():
            break
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().upper()] = value.strip()
    return lines[0].strip(), headers


def _message(first: str, headers: list[tuple[str, str]]) -> bytes:
    return (first + "\r\n" + "".join(f"{k}: {v}\r\n" if v else f"{k}:\r\n" for k, v in headers) + "\r\n").encode()


class SsdpDevice:
    name = "ssdp"

    def __init__(self, context: services.Context, settings: catalog.Ssdp) -> None:
        self.host = context.host
        self.rng: random.Random = context.rng
        self.settings = settings
        self.uuid = device_uuid(context.config)
        self.usn = settings.usn_prefix + self.uuid
        self.upnp_11 = "UPnP/1.1" in settings.server
        self.multicast_ttl = 2 if self.upnp_11 else 4
        self.timers = service_kit.Timers()
        self.searches_answered = 0
        self.dual = False
        """It runs over IPv6 too (the profile's `ipv6.discovery`)."""
        self._running = False

    # -- what is advertised -------------------------------------------------------------------------

    @property
    def location(self) -> str:
        ip = ".".join(str(b) for b in self.host.address or b"\x00" * 4)
        return f"http://{ip}:{self.settings.location_port}{self.settings.location_path}"

    @property
    def location6(self) -> str:
        """LOCATION over IPv6: a wider-scope address before the link-local one (UDA 1.1 Annex A)."""
        addresses = self.host.ipv6_addresses()  # link-local first
        ip = ipv6.text(addresses[-1]) if addresses else "::"
        return f"http://[{ip}]:{self.settings.location_port}{self.settings.location_path}"

    def targets(self) -> list[tuple[str, str]]:
        """(NT or ST, USN) of the three advertisements of a root device without embedded ones."""
        kind = self.settings.device_type
        return [(ROOT, f"{self.usn}::{ROOT}"), (self.usn, self.usn), (kind, f"{self.usn}::{kind}")]

    def _versions(self) -> list[tuple[str, str]]:
        return [("BOOTID.UPNP.ORG", "1"), ("CONFIGID.UPNP.ORG", "1")] if self.upnp_11 else []

    def alive(self, nt: str, usn: str, *, v6: bool = False) -> bytes:
        return _message(
            "NOTIFY * HTTP/1.1",
            [
                ("HOST", HOST_HEADER6 if v6 else HOST_HEADER),
                ("CACHE-CONTROL", f"max-age={self.settings.max_age}"),
                ("LOCATION", self.location6 if v6 else self.location),
                ("NT", nt),
                ("NTS", "ssdp:alive"),
                ("SERVER", self.settings.server),
                ("USN", usn),
                *self._versions(),
            ],
        )

    def byebye(self, nt: str, usn: str, *, v6: bool = False) -> bytes:
        return _message(
            "NOTIFY * HTTP/1.1",
            [
                ("HOST", HOST_HEADER6 if v6 else HOST_HEADER),
                ("NT", nt),
                ("NTS", "ssdp:byebye"),
                ("USN", usn),
                *self._versions(),
            ],
        )

    def search_response(self, st: str, usn: str, *, v6: bool = False) -> bytes:
        return _message(
            "HTTP/1.1 200 OK",
            [
                ("CACHE-CONTROL", f"max-age={self.settings.max_age}"),
                ("EXT", ""),
                ("LOCATION", self.location6 if v6 else self.location),
                ("SERVER", self.settings.server),
                ("ST", st),
                ("USN", usn),
                *self._versions(),
            ],
        )

    def matches(self, st: str) -> list[tuple[str, str]]:
        """What answers a search target: all three, one of them, or the device type asked at an older version."""
        if st == "ssdp:all":
            return self.targets()
        if st == ROOT:
            return self.targets()[:1]
        if st.lower() == self.usn.lower():
            return [self.targets()[1]]
        asked, ours = _VERSIONED.match(st), _VERSIONED.match(self.settings.device_type)
        if st == self.settings.device_type or (
            asked and ours and asked[1].lower() == ours[1].lower() and int(asked[2]) <= int(ours[2])
        ):
            return [(st, f"{self.usn}::{st}")]
        return []

    # -- host.Service -------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        self._running = True
        self.dual = self.host.speaks_ipv6("ssdp")
        self.host.join(GROUP)
        self.host.bind_udp(PORT, self._on_datagram, ipv6=self.dual)
        if self.dual:
            self.host.watch_addresses(self._addresses_changed)
        first = now + self.rng.uniform(0.0, 0.1)
        self.timers.at(first, self._advertise)
        self.timers.at(first + self.rng.uniform(0.1, 0.5), lambda t: self._advertise(t, again=False))

    def on_timer(self, now: float) -> None:
        self.timers.run(now)

    def next_deadline(self) -> float | None:
        return self.timers.next_deadline()

    def stop(self, now: float) -> None:
        if self._running:
            for nt, usn in self.targets():
                self._multicast(self.byebye(nt, usn), self.byebye(nt, usn, v6=True))
        self._running = False
        self.timers.clear()
        self.host.unwatch_addresses(self._addresses_changed)
        self.host.unbind_udp(PORT)
        self.host.leave(GROUP)

    # -- internals ----------------------------------------------------------------------------------

    def _advertise(self, now: float, again: bool = True) -> None:
        for nt, usn in self.targets():
            self._multicast(self.alive(nt, usn), self.alive(nt, usn, v6=True) if self.dual else b"")
        if again:
            half = self.settings.max_age / 2
            self.timers.at(now + self.rng.uniform(0.8 * half, half), self._advertise)

    def _addresses_changed(self, now: float) -> None:
        """IPv6 addresses came or went (the link-local one is often not ready when DHCPv4 binds): advertise
        over IPv6 again, with the LOCATION now true, as a UPnP stack does when an address changes."""
        if self._running and self.host.ipv6_addresses():
            for nt, usn in self.targets():
                self.host.send_udp("ssdp", GROUP6, PORT, PORT, self.alive(nt, usn, v6=True), ttl=self.multicast_ttl)

    def _multicast(self, payload: bytes, payload6: bytes) -> None:
        """To 239.255.255.250, and `payload6` to ff02::c when it runs over IPv6."""
        self.host.send_udp("ssdp", GROUP, PORT, PORT, payload, ttl=self.multicast_ttl)
        if self.dual and payload6:
            self.host.send_udp("ssdp", GROUP6, PORT, PORT, payload6, ttl=self.multicast_ttl)

    def _on_datagram(self, src: bytes, sport: int, dst: bytes, data: bytes, now: float) -> None:
        if src == self.host.address or not self._running:
            return
        line, headers = parse_request(data)
        if not line.upper().startswith("M-SEARCH * HTTP/1.1") or headers.get("MAN", "").strip('"') != "ssdp:discover":
            return
        answers = self.matches(headers.get("ST", ""))
        if not answers:
            return
        unicast_search = dst == self.host.address or (len(dst) == 16 and dst[0] != 0xFF)
        try:
            mx = min(int(headers.get("MX", "")), MX_CAP)
        except ValueError:
            if not unicast_search:
                return  # UDA 1.1 1.3.3: a multicast M-SEARCH without a valid MX is ignored
            mx = 0
        self.searches_answered += 1
        for st, usn in answers:
            payload = self.search_response(st, usn, v6=len(src) == 16)
            if unicast_search or mx <= 0:
                self._reply(payload, src, sport, now)
            else:
                self.timers.at(now + self.rng.uniform(0.0, mx), functools.partial(self._reply, payload, src, sport))

    def _reply(self, payload: bytes, dst: bytes, dport: int, now: float) -> None:
        if self._running:
            self.host.send_udp("ssdp", dst, PORT, dport, payload)


@services.register("ssdp")
def _ssdp(context: services.Context) -> host_mod.Service | None:
    settings = context.config.profile.ssdp
    return SsdpDevice(context, settings) if settings is not None else None
