"""MQTT over TLS (`mqtt.tls`) to a real mosquitto with a TLS-only listener: the device's own TLS client
completes the handshake with its profile's hello, then CONNECT and PUBLISH run inside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iot_emulator import lab as iotlab
from iot_emulator.config import manifests
from iot_emulator.lab import internet
from iot_emulator.profiles import catalog
from iot_emulator.protocols.clients import mqtt

from ..conftest import LabFactory
from . import servers
from .udp_servers import EngineThread

pytestmark = pytest.mark.lab

BROKER = "mqtt.lab.test"


def test_a_plug_connects_and_publishes_inside_tls(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(dns_names={BROKER: str(iotlab.DEFAULT_SUBNET.network_address + 1)})  # the gateway
    internet.make_certificates(tmp_path)
    listener = internet.MOSQUITTO_TLS_LISTENER.format(port=8883, address=lab.gateway_ip, dir=tmp_path)  # TLS only
    (tmp_path / "mosquitto.conf").write_text(internet.MOSQUITTO_CONF.format(listeners=listener, dir=tmp_path))
    broker = servers.GwProcess(lab, ["mosquitto", "-c", str(tmp_path / "mosquitto.conf")], tmp_path / "mosquitto.out")
    servers.wait_tcp_listening(lab, {8883}, broker, "mosquitto (TLS)")
    meross = catalog.builtin().get("meross-mss110")
    assert meross.mqtt is not None and meross.tls is not None
    over_tls = meross.mqtt.model_copy(update={"broker": BROKER, "tls": True, "port": 8883})
    prof = meross.model_copy(update={"mqtt": over_tls, "dns_names": [BROKER]})
    mac = f"{prof.ouis[0]}:7a:00:01"
    config = manifests.DeviceConfig(
        device_id="plug",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=("arp", "dhcp", "dns", "mqtt"),
        traffic_interval=60,
    )
    client_id = mqtt.fill(over_tls.client_id, mqtt.placeholders(config))
    emulator = EngineThread(lab, [config])
    try:
        log = tmp_path / "mosquitto.log"
        connected = servers.wait_for_line(log, rf"New client connected from [\d.]+:\d+ as {re.escape(client_id)} ", 30)
        topic = mqtt.fill(over_tls.topics[0], mqtt.placeholders(config))
        servers.wait_for_line(log, rf"Received PUBLISH from {re.escape(client_id)} .*'{re.escape(topic)}'", 30)
        assert "(p2, c1, k30" in connected.string  # MQTT 3.1.1, clean session, the profile's keep-alive
    finally:
        emulator.stop()
        broker.stop()
    # only a TLS listener exists: a session that reached CONNECT completed its handshake with mosquitto
