"""Device profiles: the identity a discovery product reads from a device, as validated data.

A profile is YAML, not code. This module holds the pydantic model and the loader; the shipped
library is in `profiles/data/*.yaml`, and users add their own with `--profiles-dir`. Every value that
is a fingerprint should carry its source in the YAML (`sources:`), so a reviewer can check it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from iot_emulator.config import bounded
from iot_emulator.devices import macs
from iot_emulator.profiles import answers
from iot_emulator.profiles import dot1x as dot1x_model

_Served = TypeVar("_Served", answers.Listener, answers.UdpListener)

BUILTIN_DIR = Path(__file__).parent / "data"
NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class DeviceClass(StrEnum):
    camera = "camera"
    nvr = "nvr"
    printer = "printer"
    phone = "phone"
    speaker = "speaker"
    tv = "tv"
    thermostat = "thermostat"
    plug = "plug"
    bridge = "bridge"
    sensor = "sensor"
    gateway = "gateway"
    medical = "medical"
    industrial = "industrial"
    building = "building"
    access_point = "access_point"
    other = "other"


class ClientIdKind(StrEnum):
    """How option 61 is formed: `mac` is type 1 + hardware address (RFC 2132), `none` omits it."""

    mac = "mac"
    none = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArpProbe(_Strict):
    """RFC 5227 address check after DHCPACK. Real stacks differ: udhcpc sends one ARP and waits,
    Windows and Apple follow the RFC's probe timing; `count: 0` skips the check."""

    count: Annotated[int, Field(ge=0, le=5)] = 1
    interval: Annotated[float, Field(ge=0.0, le=5.0, description="seconds between probes")] = 0.2
    wait: Annotated[float, Field(ge=0.0, le=5.0, description="seconds after the last probe")] = 0.3


class DhcpFingerprint(_Strict):
    """What a DHCP server (and a fingerprinting product) sees of the device's DHCP client."""

    options: list[Annotated[int, Field(ge=1, le=254)]] = Field(
        description="options present in DISCOVER/REQUEST, in this order (53 is always first)"
    )
    request_options: list[Annotated[int, Field(ge=1, le=254)]] | None = Field(
        default=None, description="options of REQUEST, in order, when they differ from DISCOVER's (lwIP, ESP8266)"
    )
    parameter_request_list: list[Annotated[int, Field(ge=1, le=254)]] = Field(description="option 55")
    extra_options: dict[Annotated[int, Field(ge=1, le=254)], str] = Field(
        default_factory=dict, description="raw values (hex) of options with no field here, e.g. 124, 125, 77"
    )
    vendor_class_id: str | None = Field(default=None, description="option 60")
    max_message_size: Annotated[int, Field(ge=576, le=65535)] | None = Field(default=None, description="option 57")
    client_id: ClientIdKind = ClientIdKind.mac
    broadcast_flag: bool = Field(default=False, description="BOOTP flags bit 15: ask for broadcast replies")
    ip_ttl: Annotated[int, Field(ge=1, le=255)] = 64
    secs: bool = Field(default=True, description="fill `secs` with the time since the exchange began")
    arp_probe: ArpProbe = ArpProbe()

    @field_validator("extra_options")
    @classmethod
    def _hex_values(cls, value: dict[int, str]) -> dict[int, str]:
        for code, raw in value.items():
            try:
                if len(bytes.fromhex(raw)) > 255:
                    raise ValueError(f"option {code}: longer than 255 bytes")
            except ValueError as exc:
                raise ValueError(f"option {code}: {raw!r} is not hex bytes ({exc})") from None
        return value

    @field_validator("options", "request_options")
    @classmethod
    def _options_well_formed(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if len(set(value)) != len(value):
            raise ValueError("an option appears twice")
        if value and value[0] != 53:
            raise ValueError("option 53 (message type) must come first")
        return value


TcpOption = Literal["mss", "sackok", "ts", "nop", "wscale", "eol"]
LINUX_SYN_OPTIONS: tuple[TcpOption, ...] = ("mss", "sackok", "ts", "nop", "wscale")
LldpCapability = Literal["other", "repeater", "bridge", "wlan-ap", "router", "telephone", "station"]
PHONE_CAPABILITIES: tuple[LldpCapability, ...] = ("telephone",)


class TcpSyn(_Strict):
    """The shape of the device's SYN, which p0f and NAC products read to guess the OS."""

    window: Annotated[int, Field(ge=0, le=65535)] = 64240
    mss: Annotated[int, Field(ge=88, le=65495)] = 1460
    options: list[TcpOption] = Field(
        default_factory=lambda: list(LINUX_SYN_OPTIONS),
        description="TCP options in wire order (p0f's olayout)",
    )
    window_scale: Annotated[int, Field(ge=0, le=14)] = 7
    dont_fragment: bool = True
    ip_id: Literal["zero", "increment", "random"] = Field(
        default="zero", description="IP ID of the device's packets: Linux sends 0 with DF, RTOS stacks count"
    )
    timestamp_hz: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    synack_window: Annotated[int, Field(ge=0, le=65535)] | None = Field(
        default=None,
        description="window of the device's SYN-ACKs (nmap -O's W); None: the SYN's, in units of the agreed MSS",
    )
    ecn: bool = Field(default=False, description="answer an ECN-setup SYN with ECE (RFC 3168 6.1.1; Linux tcp_ecn=2)")


class HttpRequest(_Strict):
    method: str = "GET"
    host: str = Field(description="a DNS name of the profile (resolved through the DHCP-given server)")
    path: str = "/"
    port: Annotated[int, Field(ge=1, le=65535)] = 80
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers, in order, after Host")
    body: str | None = None


class Http(_Strict):
    user_agent: str | None = Field(default=None, description="None: the device sends no User-Agent")
    requests: list[HttpRequest] = Field(default_factory=list)


class TlsRequest(_Strict):
    """The HTTP/1.1 request a device sends once its TLS handshake completes (Host is the SNI name)."""

    method: str = "GET"
    path: str = "/"
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers, in order, after Host")
    body: str | None = None


class TlsClientHello(_Strict):
    """What JA3/JA4 read: version, cipher suites, extensions and their order, groups, ALPN; then the request."""

    servers: list[str] = Field(min_length=1, description="SNI host names the device connects to")
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    version: Annotated[int, Field(ge=0x0301, le=0x0304)] = 0x0303
    supported_versions: list[int] = Field(default_factory=list, description="extension 43; empty: not sent")
    cipher_suites: list[Annotated[int, Field(ge=0, le=0xFFFF)]] = Field(min_length=1)
    extensions: list[Annotated[int, Field(ge=0, le=0xFFFF)]] = Field(description="extension types in wire order")
    supported_groups: list[int] = Field(default_factory=lambda: [29, 23, 24])
    ec_point_formats: list[int] = Field(default_factory=lambda: [0])
    signature_algorithms: list[int] = Field(
        default_factory=lambda: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    )
    alpn: list[str] = Field(default_factory=list)
    grease: bool = False
    request: TlsRequest = Field(
        default_factory=TlsRequest, description="sent in application data; its User-Agent is the profile's http one"
    )


class Mqtt(_Strict):
    broker: str = Field(description="DNS name of the broker")
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    tls: bool = Field(
        default=False,
        description="MQTT inside TLS (usually port 8883) with the profile's tls hello and the broker as SNI",
    )
    client_id: str = Field(default="{hostname}", description="placeholders as in hostname_pattern, plus {hostname}")
    username: str | None = None
    keepalive: Annotated[int, Field(ge=5, le=65535)] = 60
    topics: list[str] = Field(default_factory=list, description="PUBLISH topics; {mac6}/{hostname} allowed")
    payload: str = '{"state": "on"}'


class Coap(_Strict):
    server: str
    port: Annotated[int, Field(ge=1, le=65535)] = 5683
    paths: list[str] = Field(default_factory=lambda: ["/.well-known/core"])
    confirmable: bool = True


class Rtsp(_Strict):
    server: str = Field(description="DNS name of the RTSP peer (an NVR's camera, a camera's cloud relay)")
    port: Annotated[int, Field(ge=1, le=65535)] = 554
    path: str = "/Streaming/Channels/101"
    user_agent: str | None = None


class MdnsService(_Strict):
    type: str = Field(pattern=r"^_[A-Za-z0-9-]+\._(tcp|udp)$", description="e.g. _hap._tcp")
    instance: str = Field(description="instance name; placeholders as in hostname_pattern")
    port: Annotated[int, Field(ge=0, le=65535)]
    txt: dict[str, str] = Field(default_factory=dict)


class Mdns(_Strict):
    services: list[MdnsService] = Field(default_factory=list)
    announce_count: Annotated[int, Field(ge=1, le=8)] = 3
    host: str | None = Field(
        default=None,
        max_length=63,
        description="the A/AAAA record's host label (placeholders as in hostname_pattern); default: the DHCP host name",
    )


class Ssdp(_Strict):
    server: str = Field(description="SERVER header, e.g. 'Linux/3.14 UPnP/1.0 IpBridge/1.26.0'")
    device_type: str = Field(description="NT/ST, e.g. urn:schemas-upnp-org:device:Basic:1")
    location_path: str = "/description.xml"
    location_port: Annotated[int, Field(ge=1, le=65535)] = 80
    usn_prefix: str = Field(default="uuid:", description="USN = prefix + a UUID derived from the MAC")
    max_age: Annotated[int, Field(ge=60, le=86400)] = 1800


class Lldp(_Strict):
    system_name: str = Field(default="{hostname}")
    system_description: str
    capabilities: list[LldpCapability] = Field(default_factory=lambda: list(PHONE_CAPABILITIES))
    port_description: str = "eth0"
    interval: Annotated[float, Field(ge=5, le=3600)] = 30


class InterfaceId(StrEnum):
    """How a stack forms the interface identifier of its IPv6 addresses."""

    eui64 = "eui64"
    """Modified EUI-64 from the MAC (RFC 4291 appendix A): Linux's default (addr_gen_mode 0), lwIP."""
    stable_privacy = "stable-privacy"
    """Opaque per prefix, stable across reboots (RFC 7217): Windows, macOS/iOS, Android, Linux with addr_gen_mode 2."""


class DuidType(StrEnum):
    """RFC 8415 11: how the client's DUID (option 1) is formed."""

    llt = "llt"
    """Link-layer address plus time: ISC dhclient, systemd-networkd's default before v240, Windows."""
    en = "en"
    """Enterprise number plus an identifier: needs `enterprise_number`."""
    ll = "ll"
    """Link-layer address only: dnsmasq/odhcp6c-style embedded clients, no stable storage needed."""


class Dhcpv6(_Strict):
    """The DHCPv6 client (protocols.link.dhcp6): what Fingerbank reads from it is the option request
    list (ORO), the DUID type and the vendor class's enterprise number."""

    duid_type: DuidType = DuidType.llt
    option_request: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=lambda: [23, 24], max_length=32, description="option 6 (ORO), in the client's order"
    )
    enterprise_number: Annotated[int, Field(ge=0, le=0xFFFFFFFF)] | None = Field(
        default=None, description="of the vendor class (option 16) and of a DUID-EN"
    )
    vendor_class: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="option 16's data, sent with `enterprise_number`"
    )

    @model_validator(mode="after")
    def _enterprise_when_needed(self) -> Dhcpv6:
        if self.enterprise_number is None and (self.duid_type is DuidType.en or self.vendor_class is not None):
            raise ValueError("enterprise_number is required by a DUID-EN and by vendor_class")
        return self


Ipv6Discovery = Literal["mdns", "ssdp"]


def _avahi_default() -> list[Ipv6Discovery]:
    return ["mdns"]


class Ipv6(_Strict):
    """What the device's IPv6 stack does at link-up (protocols.link.slaac): a device speaks IPv6 only
    when its manifest lists the protocol "ipv6"; this section says how its OS does it, or that the
    real device has no IPv6 at all (`enabled: false`: a manifest listing "ipv6" for it is refused)."""

    enabled: bool = Field(
        default=True, description="the real device has an IPv6 stack; false: IPv4 only, the protocol 'ipv6' is refused"
    )
    interface_id: InterfaceId = InterfaceId.eui64
    dad_transmits: Annotated[
        int, Field(ge=0, le=3, description="DAD probes per address (RFC 4862 DupAddrDetectTransmits; 0: none)")
    ] = 1
    router_solicitations: Annotated[
        int, Field(ge=0, le=5, description="RSs before giving up (RFC 4861 MAX_RTR_SOLICITATIONS)")
    ] = 3
    solicitation_interval: Annotated[float, Field(ge=1.0, le=60.0, description="seconds between RSs")] = 4.0
    hop_limit: Annotated[int, Field(ge=1, le=255, description="hop limit of the packets it originates")] = 64
    temporary_addresses: bool = Field(
        default=False,
        description="RFC 8981 temporary (privacy) addresses beside each SLAAC address, as Windows, macOS/iOS "
        "and Android do; embedded Linux leaves use_tempaddr at 0",
    )
    temporary_preferred_lifetime: Annotated[int, Field(ge=600, le=604800)] = Field(
        default=86400, description="seconds (RFC 8981 TEMP_PREFERRED_LIFETIME, 1 day; Linux temp_prefered_lft)"
    )
    temporary_valid_lifetime: Annotated[int, Field(ge=600, le=2592000)] = Field(
        default=604800, description="seconds (Linux temp_valid_lft, Windows and macOS: 7 days; RFC 8981: 2 days)"
    )
    discovery: list[Ipv6Discovery] = Field(
        default_factory=_avahi_default,
        max_length=2,
        description="discovery services that run over IPv6 too (joining ff02::fb / ff02::c): avahi's default "
        "use-ipv6=yes (avahi-daemon.conf(5)); SSDP only for UPnP stacks built with IPv6",
    )
    dhcpv6: Dhcpv6 | None = Field(
        default=None, description="its DHCPv6 client, used when an RA sets M (IA_NA) or O (information-request)"
    )
    rdnss: bool = Field(
        default=False,
        description="uses the DNS servers Router Advertisements name (RFC 8106 RDNSS), after DHCPv4's and "
        "DHCPv6's: userspace does it (ConnMan, Android, systemd-networkd, dhcpcd), a bare kernel with busybox not",
    )

    @model_validator(mode="after")
    def _no_client_without_a_stack(self) -> Ipv6:
        if not self.enabled and self.dhcpv6 is not None:
            raise ValueError("dhcpv6: a device without IPv6 (enabled: false) has no DHCPv6 client")
        return self


class Cdp(_Strict):
    """Cisco Discovery Protocol v2 (protocols.cdp), as Cisco phones send it from link-up."""

    device_id: str = Field(default="{hostname}", description="a Cisco phone's is its host name, SEP<MAC>")
    port_id: str = "Port 1"
    capabilities: int = Field(
        default=0x490, ge=0, le=0xFFFFFFFF, description="bits: 0x10 host, 0x80 relay, 0x400 phone"
    )
    software_version: str
    platform: str
    interval: Annotated[float, Field(ge=5, le=900)] = 60
    holdtime: Annotated[int, Field(ge=10, le=255)] = 180


class Schedule(_Strict):
    """When a protocol speaks: every `interval` s (x the device's traffic interval when `relative`)."""

    interval: Annotated[float, Field(gt=0, le=86400)] = 60
    jitter: Annotated[float, Field(ge=0, le=1)] = Field(default=0.2, description="+/- fraction of the interval")
    burst: Annotated[int, Field(ge=1, le=1000)] = Field(default=1, description="sessions per occurrence")
    burst_spacing: Annotated[float, Field(ge=0, le=60)] = 0.1
    relative: bool = Field(default=False, description="interval is a multiple of spec.trafficInterval")


class Profile(_Strict):
    """One device model: its vendor, its class and the fingerprints it carries."""

    name: Annotated[str, Field(pattern=NAME_RE, description="stable id used by manifests")]
    vendor: str
    model: str
    device_class: DeviceClass
    os: str = Field(description="the device's OS or network stack, e.g. 'Linux 3.x (BusyBox udhcpc)'")
    ouis: list[str] = Field(min_length=1, description="vendor OUIs; generated MACs use the first")
    hostname_pattern: str = Field(
        default="{vendor}-{mac6}",
        description="placeholders: {vendor} {model} {mac6}/{MAC6} (last 6 hex digits) {mac12}/{MAC12} {index} {name}",
    )
    vendor_default: bool = Field(default=False, description="the profile `--vendor <vendor>` picks")
    ip_ttl: Annotated[int, Field(ge=1, le=255)] = 64
    dhcp: DhcpFingerprint
    protocols: list[str] = Field(default_factory=lambda: ["arp", "dhcp", "icmp"])
    tcp: TcpSyn = TcpSyn()
    dns_names: list[str] = Field(default_factory=list, description="names the device resolves (its clouds)")
    ntp_servers: list[str] = Field(default_factory=list, description="used when DHCP option 42 is absent")
    ntp_version: Annotated[int, Field(ge=1, le=4)] = Field(
        default=4, description="version number of the device's NTP client requests (RFC 5905; SNTP clients send 3 or 4)"
    )
    http: Http | None = None
    tls: TlsClientHello | None = None
    mqtt: Mqtt | None = None
    coap: Coap | None = None
    rtsp: Rtsp | None = None
    mdns: Mdns | None = None
    ssdp: Ssdp | None = None
    lldp: Lldp | None = None
    cdp: Cdp | None = None
    ipv6: Ipv6 | None = Field(default=None, description="the OS's IPv6 behaviour; defaults apply when absent")
    dot1x: dot1x_model.Dot1x | None = Field(default=None, description="the 802.1X supplicant; None: silent, MAB")
    icmp_timestamp: bool = Field(
        default=False, description="answers ICMP Timestamp requests (RFC 792) as Linux does; lwIP, Windows do not"
    )
    listen: list[answers.Listener] = Field(
        default_factory=list, description="TCP services the real device runs (profiles.answers), answered always"
    )
    listen_udp: list[answers.UdpListener] = Field(
        default_factory=list, description="UDP services the real device runs (besides SNMP), answered always"
    )
    snmp: answers.Snmp | None = Field(default=None, description="the device's SNMP agent, if it has one")
    schedule: dict[str, Schedule] = Field(default_factory=dict, description="protocol -> when it speaks")
    sources: dict[str, str] = Field(default_factory=dict, description="fingerprint -> where it comes from")

    @field_validator("listen", "listen_udp")
    @classmethod
    def _ports_unique(cls, value: list[_Served]) -> list[_Served]:
        ports = [service.port for service in value]
        if len(set(ports)) != len(ports):
            raise ValueError("two services listen on the same port")
        return value

    @field_validator("ouis")
    @classmethod
    def _ouis_valid(cls, value: list[str]) -> list[str]:
        for oui in value:
            if not macs.OUI_RE.match(oui):
                raise ValueError(f"{oui!r} is not an OUI (three hex pairs like 44:19:b6)")
        return [oui.lower() for oui in value]

    @model_validator(mode="after")
    def _ipv6_listed_only_with_a_stack(self) -> Profile:
        if "ipv6" in self.protocols and not self.speaks_ipv6:
            raise ValueError("protocols: lists ipv6, but ipv6.enabled is false (the real device has no IPv6)")
        return self

    @property
    def speaks_ipv6(self) -> bool:
        """The real device has an IPv6 stack (a profile without an `ipv6` section gets Linux's defaults)."""
        return self.ipv6 is None or self.ipv6.enabled

    @model_validator(mode="after")
    def _mqtt_tls_has_a_hello(self) -> Profile:
        if self.mqtt is not None and self.mqtt.tls and self.tls is None:
            raise ValueError("mqtt.tls needs a tls section: its ClientHello is the one MQTT over TLS sends")
        return self

    def hostname_for(self, mac: str, index: int = 0, name: str = "") -> str:
        """The host name a device of this profile announces in option 12."""
        mac12 = mac.replace(":", "")
        mac6 = mac12[-6:]
        raw = self.hostname_pattern.format(
            vendor=self.vendor,
            model=self.model,
            mac6=mac6.lower(),
            MAC6=mac6.upper(),
            mac12=mac12.lower(),
            MAC12=mac12.upper(),
            index=index,
            name=name,
        )
        cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", raw)[:63].strip("-_")  # `_` is kept: ESP_1A2B3C, plc_1
        return cleaned or "device"


class ProfileError(ValueError):
    """A profile file that does not load, with the file and the field named."""


class Library:
    """The profiles known to a process: the built-in ones plus a user directory."""

    def __init__(self, profiles: Iterable[Profile]) -> None:
        self._by_name: dict[str, Profile] = {}
        for profile in profiles:
            self._by_name[profile.name] = profile

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Profile]:
        return iter(sorted(self._by_name.values(), key=lambda p: p.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Profile:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise ProfileError(f"unknown profile {name!r}; known profiles: {known}") from None

    def for_vendor(self, vendor: str) -> Profile:
        """The default profile of a vendor, for the seed CLI's `--vendor` (case-insensitive)."""
        wanted = vendor.strip().lower()
        matches = [p for p in self if p.name == wanted]
        matches = matches or sorted(
            (p for p in self if p.vendor.lower() == wanted), key=lambda p: (not p.vendor_default, p.name)
        )
        if not matches:
            matches = [p for p in self if p.vendor.lower().startswith(wanted) or wanted in p.name]
        if not matches:
            vendors = ", ".join(sorted({p.vendor for p in self}))
            raise ProfileError(f"unknown vendor {vendor!r}; known vendors: {vendors}")
        return matches[0]


def load_file(path: Path) -> Profile:
    try:
        data = bounded.load(bounded.read_text(path))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    except (OSError, bounded.BadInput) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from exc
    try:
        profile: Profile = Profile.model_validate(data)
        return profile
    except ValidationError as exc:
        raise ProfileError(f"{path}: {format_validation_error(exc)}") from exc


def load_dir(path: Path) -> list[Profile]:
    if not path.is_dir():
        raise ProfileError(f"profiles directory {path} does not exist")
    return [load_file(p) for p in sorted(path.glob("*.yaml"))]


@functools.cache
def builtin() -> Library:
    return Library(load_dir(BUILTIN_DIR))


def library(user_dir: Path | None = None) -> Library:
    """Built-in profiles, overridden or extended by the user's directory."""
    if user_dir is None:
        return builtin()
    return Library([*builtin(), *load_dir(user_dir)])


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path: `spec.mac: not a MAC address`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
