"""What a device answers when probed, as profile data: its listening TCP services and its SNMP agent.

Scanners (nmap -sV, NAC products) name a device from the exact bytes its services return: the
status line, the header order, the Server string, a banner. So a service here is mostly the text
the real firmware sends, written in the profile with its source, and the code that serves it
(`protocols.listeners`, `protocols.snmp_agent`) only fills in per-device values: placeholders
`{hostname} {ip} {mac12} {MAC12} {mac6} {MAC6} {mac_fffe} {uuid} {model} {vendor} {serial}`, and per reply
`{date}` (RFC 9110 IMF-fixdate from the device's clock), `{nonce}` (32 hex digits, new each
second), `{length}` (the body's size), `{cseq}` (the request's CSeq, RTSP). A header whose value
renders empty is left out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Answer(_Strict):
    """One reply of a text protocol (HTTP, RTSP): status line, headers in wire order, body."""

    status: Annotated[int, Field(ge=100, le=599)] = 200
    reason: str | None = Field(default=None, description="None: the standard reason phrase")
    headers: dict[str, str] | None = Field(
        default=None, description="in wire order; None: the service's `headers`. Values may use placeholders"
    )
    body: str = ""


RDN_ATTRIBUTES = ("C", "ST", "L", "O", "OU", "CN", "emailAddress", "serialNumber")


class ServerCertificate(_Strict):
    """The certificate a device's TLS server shows: the vendor's subject and issuer, with a key made at first use.

    `subject` and `issuer` are RDNs in order (C, ST, L, O, OU, CN...), values may use placeholders
    (one certificate per rendered subject, e.g. a Hue bridge's id). The key is generated once per
    profile and port in the process (never written to disk); `issuer: None` means self-signed."""

    subject: dict[str, str] = Field(min_length=1)
    issuer: dict[str, str] | None = None
    key: Literal["rsa-2048", "ec-p256"] = "rsa-2048"
    not_before: str = Field(default="2015-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    days: int = Field(default=7300, ge=1, le=36500)
    max_version: Literal["1.2", "1.3"] = Field(default="1.2", description="highest TLS version the server speaks")

    @field_validator("subject", "issuer")
    @classmethod
    def _known_attributes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        unknown = set(value or {}) - set(RDN_ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown name attributes {sorted(unknown)}; known: {', '.join(RDN_ATTRIBUTES)}")
        return value


class OnvifDevice(_Strict):
    """The ONVIF device service on an HTTP port (`protocols.onvif_server`): SOAP POSTs to `path` answer
    GetSystemDateAndTime, GetCapabilities, GetServices and GetDeviceInformation (these values, placeholders
    allowed); other operations and the other /onvif/ services answer ter:NotAuthorized."""

    path: str = Field(default="/onvif/device_service", pattern=r"^/onvif/[\w./-]+$")
    manufacturer: str
    model: str
    firmware_version: str
    serial_number: str = "{serial}"
    hardware_id: str
    version: str = Field(default="2.40", pattern=r"^\d+\.\d+$", description="ONVIF version in GetCapabilities")
    media_path: str = Field(default="/onvif/Media", pattern=r"^/onvif/[\w./-]+$")
    events_path: str = Field(default="/onvif/Events", pattern=r"^/onvif/[\w./-]+$")
    headers: dict[str, str] = Field(
        default={
            "Content-Type": "application/soap+xml; charset=utf-8",
            "Content-Length": "{length}",
            "Connection": "close",
        },
        description="the answers' headers, in order; values may use placeholders",
    )


class TextService(_Strict):
    """An HTTP or RTSP server: requests are routed by `"METHOD /path"`, `"/path"`, `"METHOD"`, then `"*"`;
    what is not a request (binary, a bad request line) by `"BAD"`, else a 400 with the default headers."""

    kind: Literal["http", "rtsp"]
    port: Port
    version: str = Field(default="HTTP/1.1", description="the status line's protocol, e.g. HTTP/1.0, RTSP/1.0")
    headers: dict[str, str] = Field(default_factory=dict, description="default headers of every answer, in order")
    separator: str = Field(default=": ", description="between a header's name and value (Chromecast writes ':')")
    routes: dict[str, Answer] = Field(min_length=1)
    tls: ServerCertificate | None = Field(default=None, description="serve inside TLS (HTTPS) with this certificate")
    onvif: OnvifDevice | None = Field(default=None, description="answer ONVIF SOAP requests under /onvif/ (HTTP)")


class BannerService(_Strict):
    """A service that speaks first (Telnet, SSH, FTP): `banner` on connect, then it waits and closes idle."""

    kind: Literal["banner"]
    port: Port
    protocol: str = Field(pattern=r"^[a-z0-9-]{1,20}$", description="the counter name, e.g. telnet, ssh")
    banner: str = Field(description="latin-1 text, escapes allowed in YAML double quotes (\\xff for IAC)")


class PrinterService(_Strict):
    """Printer ports: 9100 (raw/PJL, answers `@PJL INFO ID`), 515 (LPD, RFC 1179), 631 (IPP/1.1, RFC 8011)."""

    kind: Literal["jetdirect", "lpd", "ipp"]
    port: Port
    make_and_model: str = Field(description="IPP printer-make-and-model, PJL INFO ID")
    queue: str = Field(default="lp", description="IPP printer URI path component, LPD queue")
    server: str | None = Field(default=None, description="IPP: the HTTP Server header")


class DeviceIdentification(_Strict):
    """Modbus Read Device Identification (function 43 / MEI 14) basic objects 0-2."""

    vendor_name: str
    product_code: str
    revision: str


class ModbusService(_Strict):
    """Modbus/TCP (Modbus Messaging on TCP/IP v1.0b): reads of coils and registers answer zeros,
    Read Device Identification answers `identification` (exception 01 without it), the rest exception 01."""

    kind: Literal["modbus"]
    port: Port = 502
    identification: DeviceIdentification | None = None


class KasaService(_Strict):
    """TP-Link Smart Home protocol (TCP: 4-byte length + XOR-autokey JSON; UDP: the same JSON without length).

    `replies` maps `"module.method"` (e.g. `system.get_sysinfo`) to the JSON the device answers inside
    `{module: {method: ...}}`; string values may use placeholders. Other members get err_code -2."""

    kind: Literal["kasa"]
    port: Port = 9999
    replies: dict[str, dict[str, object]] = Field(min_length=1)


class DicomService(_Strict):
    """A DICOM Upper Layer acceptor (PS3.8): A-ASSOCIATE-AC for any called AE title, Verification SCP
    (C-ECHO, PS3.7 9.1.5), A-RELEASE-RP; other abstract syntaxes are rejected per presentation context."""

    kind: Literal["dicom"]
    port: Port = 104
    ae_title: str | None = Field(default=None, max_length=16, description="None: any called AE title is accepted")
    implementation_class_uid: str = Field(pattern=r"^[0-9]+(\.[0-9]+)+$", max_length=64)
    implementation_version: str = Field(max_length=16)


class SipService(_Strict):
    """A phone's SIP user agent (`protocols.sip_server`), in `listen_udp` and, where its call server uses TCP,
    in `listen` too: OPTIONS gets 200 with the request's dialog headers, then `headers` (User-Agent or Server,
    Allow, Accept...) in order; other requests `reject_status`."""

    kind: Literal["sip"]
    port: Port = 5060
    headers: dict[str, str] = Field(min_length=1, description="in wire order after CSeq; placeholders allowed")
    reject_status: Annotated[int, Field(ge=400, le=699)] = 403


class S7Service(_Strict):
    """S7comm on ISO-on-TCP (`protocols.s7_server`): COTP connect, Setup communication, and the SZL reads
    0x0011 (module identification) and 0x001C (component identification) answered from these values."""

    kind: Literal["s7comm"]
    port: Port = 102
    order_number: str = Field(max_length=20, description="the module's order number (MLFB), e.g. 6ES7 511-1AK02-0AB0")
    hardware_version: int = Field(default=1, ge=0, le=255)
    firmware: str = Field(pattern=r"^V\d{1,3}\.\d{1,3}\.\d{1,3}$", description="e.g. V2.9.4")
    system_name: str = Field(max_length=31, description="name of the automation system (SZL 0x001C index 1)")
    module_name: str = Field(max_length=31, description="name of the module (index 2)")
    plant_id: str = Field(default="", max_length=31, description="plant designation (index 3)")
    copyright: str = Field(default="Original Siemens Equipment", max_length=31)
    serial_number: str = Field(max_length=31, description="index 5; placeholders allowed")
    module_type: str = Field(max_length=31, description="module type name (index 7), e.g. CPU 1511-1 PN")
    pdu_size: int = Field(default=480, ge=240, le=960, description="the largest S7 PDU the CPU accepts")


Listener = Annotated[
    TextService | BannerService | PrinterService | ModbusService | KasaService | DicomService | S7Service | SipService,
    Field(discriminator="kind"),
]


class MiioService(_Strict):
    """Xiaomi miIO (UDP 54321): answers the 32-byte hello with the device id and its uptime stamp."""

    kind: Literal["miio"]
    port: Port = 54321
    device_id_from_mac: bool = Field(default=True, description="device id = the MAC's last 4 bytes")


class DiscoverydService(_Strict):
    """HID discoveryd (UDP 4070): answers `discover;013;` with `discovered;<len>;MAC;name;ip;1;model;version;date;`."""

    kind: Literal["discoveryd"]
    port: Port = 4070
    name: str = "{hostname}"
    model: str
    version: str
    date: str = Field(description="firmware date as the device writes it, MM/DD/YYYY")


class WsDiscoveryService(_Strict):
    """ONVIF WS-Discovery (UDP 3702, group 239.255.255.250): ProbeMatches with these types, scopes, XAddrs."""

    kind: Literal["ws-discovery"]
    port: Port = 3702
    types: list[str] = Field(default=["dn:NetworkVideoTransmitter", "tds:Device"], min_length=1)
    scopes: list[str] = Field(min_length=1, description="onvif:// scope URIs; placeholders allowed")
    xaddrs: str = "http://{ip}/onvif/device_service"


UdpListener = Annotated[
    KasaService | MiioService | DiscoverydService | WsDiscoveryService | SipService, Field(discriminator="kind")
]


class Snmp(_Strict):
    """An SNMP v1/v2c agent (RFC 3416) on UDP 161: MIB-II system group, ifTable row 1, plus `objects`."""

    community: str = "public"
    sys_descr: str
    sys_object_id: str = Field(pattern=r"^1\.3\.6\.1\.4\.1(\.\d+)+$", description="the vendor's enterprise OID")
    sys_contact: str = ""
    sys_name: str = "{hostname}"
    sys_location: str = ""
    if_descr: str = "eth0"
    objects: dict[str, str | int] = Field(
        default_factory=dict,
        description="more OIDs: str is an OCTET STRING (placeholders allowed), int an INTEGER, 'oid:1.3...' an OID",
    )
