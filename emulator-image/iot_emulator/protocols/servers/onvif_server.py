"""ONVIF device service (ONVIF Core Specification 8, SOAP 1.2 over HTTP): what a camera's XAddrs answers.

A WS-Discovery ProbeMatch sends video management software, NAC products and `onvif-util` to
`http://<ip>/onvif/device_service`; their first requests there are GetSystemDateAndTime (to align
WS-Security timestamps), GetCapabilities or GetServices (the other services' addresses) and
GetDeviceInformation (manufacturer, model, firmware, serial: the identity they record). The first
three need no credentials (the specification's PRE_AUTH class, 5.9.4.3); GetDeviceInformation is
answered unauthenticated as the profile's firmware does. Every other operation, on this path or on
the other `/onvif/` services, gets the fault an unauthenticated request gets (`ter:NotAuthorized`,
HTTP 400, 5.11.2.2), so nothing beyond the identity is emulated. The operation is the first element
inside the SOAP Body; the request is bounded by the HTTP server (`tcp_server.MAX_REQUEST`).
"""

from __future__ import annotations

import re
import time

from iot_emulator.profiles import answers
from iot_emulator.protocols.servers import tcp_server

SOAP = "http://www.w3.org/2003/05/soap-envelope"
_XMLNS = (
    f'xmlns:env="{SOAP}" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error"'
)
_OPERATION = re.compile(rb"<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([A-Za-z_][\w.-]{0,63})[\s/>]")
NAMESPACES = {
    "device": "http://www.onvif.org/ver10/device/wsdl",
    "media": "http://www.onvif.org/ver10/media/wsdl",
    "events": "http://www.onvif.org/ver10/events/wsdl",
}


def operation(body: bytes) -> str:
    """The local name of the first element in the SOAP Body, or "" when the body is not a SOAP envelope."""
    match = _OPERATION.search(body)
    return match.group(1).decode("ascii") if match else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _envelope(body: str) -> str:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return f"{head}<env:Envelope {_XMLNS}><env:Body>{body}</env:Body></env:Envelope>\n"


def fault(code: str, subcode: str, reason: str) -> str:
    """A SOAP 1.2 Fault with an ONVIF subcode (Core Specification 5.11.2)."""
    return _envelope(
        f"<env:Fault><env:Code><env:Value>env:{code}</env:Value><env:Subcode><env:Value>ter:{subcode}</env:Value>"
        f'</env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault>'
    )


def _date_time(clock: float) -> str:
    utc = time.gmtime(clock)
    return (
        f"<tt:Time><tt:Hour>{utc.tm_hour}</tt:Hour><tt:Minute>{utc.tm_min}</tt:Minute><tt:Second>{utc.tm_sec}"
        f"</tt:Second></tt:Time><tt:Date><tt:Year>{utc.tm_year}</tt:Year><tt:Month>{utc.tm_mon}</tt:Month>"
        f"<tt:Day>{utc.tm_mday}</tt:Day></tt:Date>"
    )


class DeviceService:
    """The ONVIF answers of one profile's HTTP service, shared by its devices."""

    def __init__(self, spec: answers.OnvifDevice) -> None:
        self.spec = spec

    def handles(self, method: str, path: str) -> bool:
        """Whether a request is ONVIF's: a POST to the device service or to another /onvif/ service."""
        return method == "POST" and (path == self.spec.path or path.startswith("/onvif/"))

    def answer(self, path: str, body: bytes, values: dict[str, str], clock: float) -> answers.Answer:
        """The HTTP answer to a SOAP request on `path`; `values` are the device's facts, `clock` its time."""
        spec = self.spec
        op = operation(body) if path == spec.path else "other service"
        base = f"http://{values['ip']}"
        major, minor = spec.version.split(".")
        text = {
            key: _escape(tcp_server.render(value, values))
            for key, value in (
                ("manufacturer", spec.manufacturer),
                ("model", spec.model),
                ("firmware", spec.firmware_version),
                ("serial", spec.serial_number),
                ("hardware", spec.hardware_id),
            )
        }
        if op == "GetSystemDateAndTime":
            stamp = _date_time(clock)
            xml = (
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>GMT0</tt:TZ></tt:TimeZone>"
                f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime><tt:LocalDateTime>{stamp}</tt:LocalDateTime>"
                "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
            )
        elif op == "GetDeviceInformation":
            xml = (
                f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{text['manufacturer']}</tds:Manufacturer>"
                f"<tds:Model>{text['model']}</tds:Model><tds:FirmwareVersion>{text['firmware']}</tds:FirmwareVersion>"
                f"<tds:SerialNumber>{text['serial']}</tds:SerialNumber><tds:HardwareId>{text['hardware']}"
                "</tds:HardwareId></tds:GetDeviceInformationResponse>"
            )
        elif op == "GetCapabilities":
            xml = (
                f"<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>{base}{spec.path}</tt:XAddr>"
                "<tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>"
                "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
                "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
                f"<tt:SupportedVersions><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor>"
                "</tt:SupportedVersions></tt:System></tt:Device>"
                f"<tt:Events><tt:XAddr>{base}{spec.events_path}</tt:XAddr>"
                "<tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>"
                "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
                "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
                "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
                f"<tt:Media><tt:XAddr>{base}{spec.media_path}</tt:XAddr><tt:StreamingCapabilities>"
                "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
                "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        elif op == "GetServices":
            paths = {"device": spec.path, "media": spec.media_path, "events": spec.events_path}
            xml = (
                "<tds:GetServicesResponse>"
                + "".join(
                    f"<tds:Service><tds:Namespace>{NAMESPACES[name]}</tds:Namespace><tds:XAddr>{base}{paths[name]}"
                    f"</tds:XAddr><tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
                    "</tds:Service>"
                    for name in NAMESPACES
                )
                + "</tds:GetServicesResponse>"
            )
        elif not op:
            return answers.Answer(
                status=400, headers=spec.headers, body=fault("Sender", "WellFormed", "Well-formed Error")
            )
        else:
            return answers.Answer(
                status=400, headers=spec.headers, body=fault("Sender", "NotAuthorized", "Sender not Authorized")
            )
        return answers.Answer(headers=spec.headers, body=_envelope(xml))
