"""`lab up --internet`: shipped profiles' cloud sessions reach the lab's sink servers, checked on the wire by tshark.

Two devices (a Google Nest Mini: HTTP, TLS, NTP; a Meross plug: MQTT, TLS) run their profiles'
own protocols with no name mapped by the test: every name resolves through the lab's catch-all to
the sink address, where the lab started nginx, mosquitto and chrony. tshark in the gateway
namespace decodes what crosses the link; per profile the HTTP User-Agent and Host, the TLS SNI
and JA3, the MQTT client id and the NTP version must be the profile's. The TLS handshakes
complete: nginx's HTTPS server logs the request the Nest Mini sends inside TLS 1.3.
"""

from __future__ import annotations

import ipaddress
import re

import pytest

from iot_emulator import lab as iotlab
from iot_emulator import manifests, profile
from iot_emulator.lab import internet
from iot_emulator.protocols import mqtt, ntp, tls_hello

from ..conftest import LabFactory
from . import servers
from .udp_servers import Capture, EngineThread

pytestmark = pytest.mark.lab

FIELDS = ("ip.src", "ip.dst", "http.user_agent", "http.host", "tls.handshake.extensions_server_name",
          "tls.handshake.ja3", "mqtt.clientid", "ntp.flags.vn")  # fmt: skip
DISPLAY = "http.request || tls.handshake.type == 1 || mqtt.msgtype == 1 || (ntp && ntp.flags.mode == 3)"
PROFILES = ("google-nest-mini", "meross-mss110")


def configs() -> list[manifests.DeviceConfig]:
    out = []
    for index, name in enumerate(PROFILES):
        prof = profile.builtin().get(name)
        mac = f"{prof.ouis[0]}:5b:00:{index + 1:02x}"
        out.append(manifests.DeviceConfig(device_id=name, mac=mac, hostname=prof.hostname_for(mac), profile=prof,
                                          protocols=tuple(prof.protocols), traffic_interval=60))  # fmt: skip
    return out


def test_cloud_sessions_reach_the_sink_with_each_profiles_fingerprints(lab_factory: LabFactory) -> None:
    lab: iotlab.Lab = lab_factory(internet=True)
    sink = str(internet.sink_address(lab.subnet))
    capture = Capture(lab, f"host {sink}", DISPLAY, FIELDS)
    devices = configs()
    nest, plug = (d.profile for d in devices)
    assert nest.http is not None and nest.tls is not None and plug.mqtt is not None and plug.tls is not None
    emulator = EngineThread(lab, devices)
    try:
        emulator.wait(lambda: all(d.ip is not None for d in emulator.engine.devices) or None, 20, "the devices to bind")
        ips = [str(ipaddress.IPv4Address(d.ip)) for d in emulator.engine.devices if d.ip is not None]

        def sent(ip: str, column: int, value: str) -> list[list[str]]:
            return capture.wait_rows(lambda r: r[0] == ip and r[1] == sink and value in r[column].split(","), 1, 40)

        [get] = sent(ips[0], 3, nest.http.requests[0].host)[:1]
        assert get[2] == nest.http.user_agent
        for ip, prof in ((ips[0], nest), (ips[1], plug)):
            assert prof.tls is not None
            [hello] = sent(ip, 4, prof.tls.servers[0])[:1]
            assert hello[5] == tls_hello.ja3_md5(prof.tls)
        client_id = mqtt.fill(plug.mqtt.client_id, mqtt.placeholders(devices[1]))
        sent(ips[1], 6, client_id)
        [request] = sent(ips[0], 7, str(ntp.VERSION))[:1]
        assert request[1] == sink
        # the handshake completed: nginx's HTTPS server logged the request sent inside it
        https = servers.wait_for_line(lab.directory / "internet" / "https-access.log", re.escape(ips[0]), 30)
        agent, sni = nest.http.user_agent, nest.tls.servers[0]
        assert https.string.startswith(f'{ips[0]} "GET / HTTP/1.1" "{agent}" 200 host="{sni}" sni="{sni}" TLSv1.3 ')
    finally:
        emulator.stop()
        capture.stop()
    access = (lab.directory / "internet" / "http-access.log").read_text()
    assert f'{ips[0]} "GET {nest.http.requests[0].path} HTTP/1.1" "{nest.http.user_agent}" 200' in access, access
    assert f'{ips[0]} sni="{nest.tls.servers[0]}"' in (lab.directory / "internet" / "tls-access.log").read_text()
    assert f" as {client_id} (" in (lab.directory / "internet" / "mosquitto.log").read_text()
