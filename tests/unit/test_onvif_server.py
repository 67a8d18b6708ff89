"""The ONVIF device service on a device's HTTP port, driven through its TCP stack on a virtual clock.

Requests are the SOAP 1.2 envelopes ONVIF clients send (the shape of ONVIF Device Manager's and
onvif-zeep's GetDeviceInformation); answers are parsed as XML, as those clients do.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from typing import Any

from iot_emulator.protocols.servers import onvif_server
from tests.unit.test_tcp_server import exchange, setup

TDS = "{http://www.onvif.org/ver10/device/wsdl}"
TT = "{http://www.onvif.org/ver10/schema}"
ENV = "{http://www.w3.org/2003/05/soap-envelope}"
ONVIF_HTTP: dict[str, Any] = {
    "kind": "http",
    "port": 80,
    "headers": {"Content-Length": "{length}"},
    "routes": {"*": {"status": 404}},
    "onvif": {
        "manufacturer": "ACME",
        "model": "{model}",
        "firmware_version": "V1.2 build 3",
        "serial_number": "SN{MAC6}",
        "hardware_id": "88",
        "media_path": "/onvif/media_service",
    },
}


def soap(operation: str, header: str = "") -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f'<s:Header>{header}</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<{operation} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'
    ).encode()
    return (
        b"POST /onvif/device_service HTTP/1.1\r\nHost: 10.77.0.10\r\n"
        b'Content-Type: application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/'
        + operation.encode()
        + b'"\r\nContent-Length: '
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def ask(request: bytes, sport: int = 40000) -> tuple[str, ET.Element]:
    status, root, _ = ask_at(request, sport)
    return status, root


def ask_at(request: bytes, sport: int = 40000) -> tuple[str, ET.Element, time.struct_time]:
    """(status line, parsed body, the device's UTC clock when it answered)."""
    env, peer = setup([ONVIF_HTTP])
    env.advance(3600 * 26 + 61.5)
    data, _ = exchange(env, peer, 80, request, sport)
    head, _, body = data.partition(b"\r\n\r\n")
    assert int(dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])["Content-Length"]) == len(body)
    return head.decode().split("\r\n")[0], ET.fromstring(body), time.gmtime(env.host.unix_time(env.now))


def test_get_device_information_names_vendor_model_firmware_serial() -> None:
    status, root = ask(soap("GetDeviceInformation"))
    info = root.find(f"{ENV}Body/{TDS}GetDeviceInformationResponse")
    assert status == "HTTP/1.1 200 OK" and info is not None
    assert [(child.tag.removeprefix(TDS), child.text) for child in info] == [
        ("Manufacturer", "ACME"),
        ("Model", "Widget 2"),
        ("FirmwareVersion", "V1.2 build 3"),
        ("SerialNumber", "SN0A0B0C"),
        ("HardwareId", "88"),
    ]


def test_get_system_date_and_time_gives_the_device_clock_in_utc() -> None:
    status, root, clock = ask_at(soap("GetSystemDateAndTime"))
    utc = root.find(f"{ENV}Body/{TDS}GetSystemDateAndTimeResponse/{TDS}SystemDateAndTime/{TT}UTCDateTime")
    assert status == "HTTP/1.1 200 OK" and utc is not None
    fields = {child.tag.removeprefix(TT): child.text for part in utc for child in part}
    assert clock.tm_mday == 2 and clock.tm_hour == 2  # a day and two hours after 1970-01-01 00:00
    assert fields == {
        "Hour": str(clock.tm_hour),
        "Minute": str(clock.tm_min),
        "Second": str(clock.tm_sec),
        "Year": "1970",
        "Month": "1",
        "Day": "2",
    }


def test_capabilities_and_services_give_the_xaddrs_of_the_device() -> None:
    _, caps = ask(soap("GetCapabilities"))
    xaddrs = [e.text for e in caps.iter(f"{TT}XAddr")]
    assert xaddrs == [
        "http://10.77.0.10/onvif/device_service",
        "http://10.77.0.10/onvif/Events",
        "http://10.77.0.10/onvif/media_service",
    ]
    _, services = ask(soap("GetServices"))
    namespaces = [e.text for e in services.iter(f"{TDS}Namespace")]
    assert namespaces == list(onvif_server.NAMESPACES.values())


def test_other_operations_and_services_are_not_authorized_and_non_soap_is_not_well_formed() -> None:
    token = "<Security><UsernameToken><Username>admin</Username></UsernameToken></Security>"
    for request in (soap("GetUsers", token), soap("GetProfiles").replace(b"device_service", b"media_service")):
        status, root = ask(request)
        assert status == "HTTP/1.1 400 Bad Request"
        assert root.findtext(f"{ENV}Body/{ENV}Fault/{ENV}Code/{ENV}Subcode/{ENV}Value") == "ter:NotAuthorized"
    status, root = ask(b"POST /onvif/device_service HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert root.findtext(f"{ENV}Body/{ENV}Fault/{ENV}Code/{ENV}Subcode/{ENV}Value") == "ter:WellFormed"


def test_get_requests_still_follow_the_routes() -> None:
    env, peer = setup([ONVIF_HTTP])
    data, _ = exchange(env, peer, 80, b"GET /onvif/device_service HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 404 Not Found\r\n")
