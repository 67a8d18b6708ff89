"""The lab's WAN side without a lab: upstream settings, DNS forwarding, the sink's ports and RTSP answers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from iot_emulator import cli
from iot_emulator.lab import commands, config, dnsmasq, errors, internet, rtsp_sink
from iot_emulator.profiles import catalog


def lab_config(*args: str) -> config.LabConfig:
    return commands._lab_config(cli.command_parser().parse_args(["lab", "up", *args]))


def test_upstream_from_the_command_line_round_trips_through_the_record() -> None:
    made = lab_config(
        "--upstream", "eth1", "--upstream-address", "192.168.1.250/24", "--upstream-gateway", "192.168.1.1"
    )
    assert made.upstream == config.Upstream(
        "eth1", ipaddress.IPv4Interface("192.168.1.250/24"), ipaddress.IPv4Address("192.168.1.1")
    )
    assert made.upstream.resolvers == (ipaddress.IPv4Address("192.168.1.1"),)  # the router, unless told
    assert not made.internet
    assert config.LabConfig.from_json(made.to_json()) == made


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "eth1"], "needs --upstream-address and --upstream-gateway"),
        (["--upstream-address", "192.168.1.250/24"], "without --upstream IFACE"),
        (
            ["--upstream", "eth1", "--upstream-address", "192.168.1.250", "--upstream-gateway", "192.168.1.1"],
            "must be another address",
        ),  # a /32: the router is not on it
        (
            ["--upstream", "eth1", "--upstream-address", "192.168.1.250/24", "--upstream-gateway", "router"],
            "--upstream",
        ),
        (
            [
                "--internet",
                "--upstream",
                "eth1",
                "--upstream-address",
                "192.168.1.250/24",
                "--upstream-gateway",
                "192.168.1.1",
            ],
            "not both",
        ),
    ],
)
def test_bad_upstream_settings_are_refused(args: list[str], message: str) -> None:
    with pytest.raises(errors.LabConfigError, match=message):
        lab_config(*args)


def test_dns_forwards_to_the_upstream_resolvers_instead_of_answering_nxdomain() -> None:
    closed = dnsmasq.argv(iface="gw0", pid_file=Path("/x.pid"), dns_names={}, dhcp_range=None)
    forwarding = dnsmasq.argv(
        iface="gw0", pid_file=Path("/x.pid"), dns_names={}, dhcp_range=None, servers=["192.0.2.53"]
    )
    assert "--local=/#/" in closed and "--server=192.0.2.53" not in closed
    assert "--local=/#/" not in forwarding and "--server=192.0.2.53" in forwarding
    assert "--no-resolv" in forwarding  # never the host's resolv.conf
    assert "--local=/test/invalid/example/localhost/lab/" in forwarding  # scenario targets are never forwarded


def test_rtsp_sink_answers_options_describe_and_setup() -> None:
    reply, method, url, agent = rtsp_sink.answer("OPTIONS rtsp://cam/a RTSP/1.0\r\nCSeq: 7\r\nUser-Agent: NVR/1")
    assert (method, url, agent) == ("OPTIONS", "rtsp://cam/a", "NVR/1")
    assert reply.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n") and b"Public: OPTIONS, DESCRIBE" in reply
    reply, *_ = rtsp_sink.answer("DESCRIBE rtsp://cam/a RTSP/1.0\r\nCSeq: 8\r\nAccept: application/sdp")
    head, body = reply.split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/sdp" in head and f"Content-Length: {len(body)}".encode() in head
    assert body.startswith(b"v=0\r\n") and b"m=video" in body
    reply, *_ = rtsp_sink.answer(
        "SETUP rtsp://cam/a/trackID=1 RTSP/1.0\r\nCSeq: 9\r\nTransport: RTP/AVP;unicast;client_port=5000-5001"
    )
    assert b"Transport: RTP/AVP;unicast;client_port=5000-5001\r\n" in reply and b"Session: " in reply


def test_the_sink_serves_every_port_the_shipped_profiles_use() -> None:
    ports = internet.ports()
    library = list(catalog.builtin())
    assert {r.port for p in library if p.http for r in p.http.requests} | {80} == set(ports.http)
    assert {p.tls.port for p in library if p.tls} | {443} == set(ports.tls)
    assert (set(ports.mqtt), set(ports.mqtt_tls), set(ports.rtsp)) == ({1883}, {8883}, {554})


def test_a_port_where_a_profile_speaks_mqtt_over_tls_is_mosquittos_not_nginxs(monkeypatch: pytest.MonkeyPatch) -> None:
    meross = catalog.builtin().get("meross-mss110")
    assert meross.mqtt is not None and meross.tls is not None
    real = meross.model_copy(update={"mqtt": meross.mqtt.model_copy(update={"tls": True, "port": meross.tls.port})})
    monkeypatch.setattr(internet.catalog, "builtin", lambda: [real])
    ports = internet.ports()
    assert meross.tls.port in ports.mqtt_tls and meross.tls.port not in ports.tls
