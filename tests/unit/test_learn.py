"""`iotemu profiles learn`: each parser on hand-made frames, the capture reader, the built profile, the CLI.

The frames are made by the emulator's own builders (dhcp_wire.ClientFrames, tls_hello, http.request_bytes,
mqtt, dns_wire, tcp_segment) from a profile's values, so each test asks: does the learner read back
exactly what the profile says? Damaged input must be skipped and counted, never raise.
"""

from __future__ import annotations

import contextlib
import random
import struct
from pathlib import Path

import pytest
import yaml

from iot_emulator import cli, learn
from iot_emulator.learn import build, cadence, capture, dhcp, dns, findings, learner, packets, tcpip, tls
from iot_emulator.learn import http as learn_http
from iot_emulator.learn import mqtt as learn_mqtt
from iot_emulator.profiles import catalog
from iot_emulator.protocols import dns_wire
from iot_emulator.protocols.clients import http, mqtt, ntp
from iot_emulator.protocols.link import dhcp_wire, wire
from iot_emulator.protocols.transport import tcp_segment, tls_hello
from iot_emulator.reporting import pcap

MAC = bytes.fromhex("4419b6a1b2c3")
GW_MAC = bytes.fromhex("020000000001")
DEV_IP, SRV_IP, DNS_IP = bytes([10, 0, 0, 5]), bytes([93, 184, 216, 34]), bytes([10, 0, 0, 1])
HIK = catalog.builtin().get("hikvision-ds-2cd2042fwd")
NEST = catalog.builtin().get("google-nest-mini")


def tcp_frame(
    sport: int,
    dport: int,
    seq: int,
    flags: int,
    payload: bytes = b"",
    *,
    options: bytes = b"",
    window: int = 14600,
    ident: int = 0,
    ttl: int = 64,
    df: bool = True,
) -> bytes:
    segment = tcp_segment.build(DEV_IP, SRV_IP, sport, dport, seq, 0, flags, window, options, payload)
    packet = wire.ipv4(DEV_IP, SRV_IP, wire.IPPROTO_TCP, segment, ttl=ttl, ident=ident, dont_fragment=df)
    return wire.ethernet(GW_MAC, MAC, wire.ETH_P_IP, packet)


def session(sport: int, dport: int, data: bytes, seq: int = 1000) -> list[bytes]:
    """A SYN with the Hikvision profile's options, then `data` in two segments (reassembled by the learner)."""
    opts = tcp_segment.syn_options(HIK.tcp.options, mss=HIK.tcp.mss, wscale=HIK.tcp.window_scale, tsval=5)
    half = len(data) // 2
    return [
        tcp_frame(sport, dport, seq, tcp_segment.SYN, options=opts, ident=sport),
        tcp_frame(sport, dport, seq + 1, tcp_segment.ACK | tcp_segment.PSH, data[:half], ident=sport + 1),
        tcp_frame(sport, dport, seq + 1 + half, tcp_segment.ACK | tcp_segment.PSH, data[half:], ident=sport + 2),
    ]


def decoded(frames: list[bytes], start: float = 100.0, step: float = 0.01) -> packets.Decoded:
    return packets.decode((capture.Frame(start + i * step, f) for i, f in enumerate(frames)), MAC)


def write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> Path:
    writer = pcap.PcapWriter(path)
    for t, f in frames:
        writer.write(f, t)
    writer.close()
    return path


# -- DHCP ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hikvision-ds-2cd2042fwd", "tplink-kasa-hs110", "google-nest-mini"])
def test_dhcp_options_order_and_values_are_read_back(name: str) -> None:
    prof = catalog.builtin().get(name)
    hostname = prof.hostname_for("44:19:b6:a1:b2:c3")
    frames = dhcp_wire.ClientFrames(MAC, hostname, prof.dhcp)
    found = dhcp.learn(decoded([frames.discover(1, 0), frames.request_selecting(1, 2, DEV_IP, DNS_IP)]), MAC)
    v = found.values
    assert dhcp.built_discover(list(v["dhcp.options"]), False) == [  # type: ignore[call-overload]
        c for c in prof.dhcp.options if c not in (50, 54, 81)
    ]
    fp = prof.dhcp
    assert v["dhcp.parameter_request_list"] == fp.parameter_request_list
    assert v.get("dhcp.vendor_class_id") == fp.vendor_class_id
    assert v.get("dhcp.max_message_size") == fp.max_message_size
    assert v["dhcp.client_id"] == fp.client_id.value
    assert v["dhcp.ip_ttl"] == fp.ip_ttl
    assert v["dhcp.broadcast_flag"] == fp.broadcast_flag
    relearned = catalog.DhcpFingerprint.model_validate(
        {k.removeprefix("dhcp."): x for k, x in v.items() if k.startswith("dhcp.") and "arp" not in k}
    )
    again = dhcp_wire.ClientFrames(MAC, hostname, relearned)
    assert again.discover(1, 0) == frames.discover(1, 0)
    assert again.request_selecting(1, 2, DEV_IP, DNS_IP) == frames.request_selecting(1, 2, DEV_IP, DNS_IP)


def test_dhcp_hostname_becomes_a_pattern_and_other_client_ids_are_kept_raw() -> None:
    fp = HIK.dhcp.model_copy(
        update={
            "options": [53, 61, 12, 55],
            "client_id": catalog.ClientIdKind.none,
            "extra_options": {61: "ff00112233"},
        }
    )
    frame = dhcp_wire.ClientFrames(MAC, "cam-A1B2C3", fp).discover(7, 0)
    v = dhcp.learn(decoded([frame]), MAC).values
    assert v["hostname_pattern"] == "cam-{MAC6}"
    assert v["dhcp.client_id"] == "none" and v["dhcp.extra_options"] == {61: "ff00112233"}


def test_option_orders_split_when_request_differs() -> None:
    assert dhcp.option_orders([53, 61, 57, 55, 60], [53, 61, 50, 54, 57, 55, 60]) == (
        [53, 61, 50, 54, 57, 55, 60],
        None,
    )
    assert dhcp.option_orders([53, 55, 61], [53, 61, 55, 50, 54]) == ([53, 55, 61], [53, 61, 55, 50, 54])


# -- TCP/IP -------------------------------------------------------------------------------------------


def test_syn_shape_ip_id_and_timestamp_rate() -> None:
    frames = []
    for i in range(3):
        opts = tcp_segment.syn_options(HIK.tcp.options, mss=1400, wscale=4, tsval=1000 + 2000 * i)
        frames.append(tcp_frame(40000 + i, 443, 1, tcp_segment.SYN, options=opts, ident=500 + i, ttl=63))
    opts_late = tcp_segment.timestamp_option(1000 + 3000, 0)  # 3000 ticks in 3 s of one connection
    frames.append(tcp_frame(40000, 443, 2, tcp_segment.ACK, options=opts_late, ident=503, ttl=63))
    found = tcpip.learn(decoded(frames, step=1.0))
    v = found.values
    assert (v["ip_ttl"], v["tcp.window"], v["tcp.mss"], v["tcp.window_scale"]) == (63, 14600, 1400, 4)
    assert v["tcp.options"] == list(HIK.tcp.options) and v["tcp.dont_fragment"] is True
    assert v["tcp.ip_id"] == "increment"
    assert v["tcp.timestamp_hz"] == 1000


def test_layout_with_an_unknown_option_is_not_learned() -> None:
    assert tcpip.layout(b"\x02\x04\x05\xb4\x1e\x04\x00\x00") is None  # kind 30 (MPTCP)
    assert tcpip.layout(b"\x02\x04\x05\xb4\x01\x03\x03\x07") == ["mss", "nop", "wscale"]


# -- TLS, HTTP, MQTT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hikvision-ds-2cd2042fwd", "google-nest-mini", "amazon-echo-dot"])
def test_client_hello_is_parsed_back_to_the_profile(name: str) -> None:
    tls_profile = catalog.builtin().get(name).tls
    assert tls_profile is not None
    record = tls_hello.client_hello(tls_profile, tls_profile.servers[0], random.Random(1))
    hello = tls.parse_client_hello(record)
    assert hello is not None
    assert hello.server_name == tls_profile.servers[0]
    assert hello.cipher_suites == tls_profile.cipher_suites and hello.extensions == tls_profile.extensions
    assert hello.grease == tls_profile.grease and hello.version == tls_profile.version
    if tls_hello.EXT_GROUPS in tls_profile.extensions:
        assert hello.supported_groups == tls_profile.supported_groups
    relearned = tls_profile.model_copy(
        update={"alpn": hello.alpn or [], "supported_versions": hello.supported_versions or []}
    )
    assert tls_hello.ja3(relearned) == tls_hello.ja3(hello.profile())
    assert tls_hello.ja4(relearned) == tls_hello.ja4(hello.profile())


def test_tls_learner_names_servers_and_takes_the_port() -> None:
    assert NEST.tls is not None
    record = tls_hello.client_hello(NEST.tls, NEST.tls.servers[0], random.Random(2))
    found = tls.learn(decoded(session(41000, 443, record)), dns.Resolved([], {}))
    section = found.values["tls"]
    assert isinstance(section, dict)
    assert section["servers"] == [NEST.tls.servers[0]] and section["port"] == 443
    assert section["cipher_suites"] == NEST.tls.cipher_suites and found.protocols == ["cloud"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x16\x03\x01\x00\x05\x01\x00",
        b"\x16\x03\x01\xff\xff" + b"\x01" * 40,
        b"\x17\x03\x03\x00\x01\x00",
        bytes(range(256)),
    ],
)
def test_damaged_hellos_are_none(data: bytes) -> None:
    assert tls.parse_client_hello(data) is None


def test_http_request_headers_and_user_agent() -> None:
    request = catalog.HttpRequest(
        method="POST",
        host="api.example.com",
        path="/v1/x",
        port=8080,
        headers={"Accept": "*/*", "X-Dev": "1"},
        body='{"a": 1}',
    )
    data = http.request_bytes(request, "Dev/1.0")
    found = learn_http.learn(decoded(session(42000, 8080, data)))
    section = found.values["http"]
    assert section == {"user_agent": "Dev/1.0", "requests": [request.model_dump()]}


def test_mqtt_connect_client_id_and_topics_get_placeholders() -> None:
    data = mqtt.connect_packet("plug-a1b2c3", 45, "user") + mqtt.publish_packet("dev/a1b2c3/state", b'{"on":1}')
    found = learn_mqtt.learn(
        decoded(session(43000, 1883, data)),
        dns.Resolved([], {SRV_IP: [(0.0, "other.example.com"), (50.0, "broker.example.com")]}),
        MAC,
        None,
    )
    section = found.values["mqtt"]
    assert isinstance(section, dict)
    assert section["client_id"] == "plug-{mac6}" and section["topics"] == ["dev/{mac6}/state"]
    assert (section["broker"], section["keepalive"], section["username"]) == ("broker.example.com", 45, "user")


# -- names, cadence, capture files --------------------------------------------------------------------


def udp_out(dport: int, payload: bytes, dst: bytes = DNS_IP) -> bytes:
    return wire.udp_frame(MAC, GW_MAC, DEV_IP, dst, 40000, dport, payload)


def test_dns_names_and_ntp_version() -> None:
    frames = [
        udp_out(53, dns_wire.query(1, "a.example.com")),
        udp_out(53, dns_wire.query(2, "b.example.com")),
        udp_out(123, ntp.request(0, 3), SRV_IP),
    ]
    d = decoded(frames)
    names = dns.resolved(d)
    assert names.names == ["a.example.com", "b.example.com"]
    ntp_found, servers = dns.learn_ntp(d)
    assert ntp_found.values["ntp_version"] == 3 and [s for _, s in servers] == [SRV_IP]


def test_cadence_from_session_times() -> None:
    times = [0.0, 0.5, 60.0, 60.5, 121.0, 121.5, 180.0, 180.5]
    assert cadence.schedule(times) == {"interval": 59.5, "jitter": 0.02, "burst": 2, "burst_spacing": 0.5}
    assert cadence.schedule([0.0, 60.0]) is None


def test_placeholders_escape_braces() -> None:
    marked = findings.mac_placeholders("x{A1B2C3}", MAC)
    assert findings.as_format(marked) == "x{{{MAC6}}}"


def test_pcap_and_pcapng_read_and_damage_is_counted(tmp_path: Path) -> None:
    frame = udp_out(53, dns_wire.query(1, "a.example.com"))
    path = write_pcap(tmp_path / "a.pcap", [(1.5, frame), (2.5, frame)])
    counts = capture.Counts()
    assert [f.time for f in capture.read(path, counts)] == [1.5, 2.5] and counts.frames == 2
    path.write_bytes(path.read_bytes()[:-10])
    counts = capture.Counts()
    assert len(list(capture.read(path, counts))) == 1 and counts.damaged == 1
    ng = tmp_path / "a.pcapng"
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    pad = (-len(frame)) % 4
    epb_len = 32 + len(frame) + pad
    epb = struct.pack("<IIIIIII", 6, epb_len, 0, 0, 3_000_000, len(frame), len(frame)) + frame + bytes(pad)
    ng.write_bytes(shb + idb + epb + struct.pack("<I", epb_len))
    assert [(f.time, f.data) for f in capture.read(ng)] == [(3.0, frame)]
    (tmp_path / "x").write_bytes(b"nope")
    with pytest.raises(capture.CaptureError, match="neither pcap nor pcapng"):
        list(capture.read(tmp_path / "x"))


# -- the whole: file -> profile -> CLI ----------------------------------------------------------------


def device_capture(tmp_path: Path) -> Path:
    frames_ = dhcp_wire.ClientFrames(MAC, HIK.hostname_for("44:19:b6:a1:b2:c3"), HIK.dhcp)
    assert HIK.tls is not None
    hello = tls_hello.client_hello(HIK.tls, HIK.tls.servers[0], random.Random(3))
    raw = [
        frames_.discover(1, 0),
        frames_.request_selecting(1, 1, DEV_IP, DNS_IP),
        b"\x00" * 10,
        *session(40001, 443, hello),
        udp_out(53, dns_wire.query(3, "api.hik-connect.com")),
    ]
    return write_pcap(tmp_path / "cam.pcap", [(10.0 + i, f) for i, f in enumerate(raw)])


def test_learned_profile_validates_and_keeps_the_rest_from_the_base(tmp_path: Path) -> None:
    base = catalog.builtin().get("axis-p3224-lv")
    learned = learn.learn_file(device_capture(tmp_path), "44:19:b6:a1:b2:c3", base, "cam-learned")
    prof = learned.profile
    assert prof.dhcp.parameter_request_list == HIK.dhcp.parameter_request_list
    assert prof.tls is not None and HIK.tls is not None
    assert tls_hello.ja3(prof.tls) == tls_hello.ja3(HIK.tls)
    assert prof.listen == base.listen and prof.ouis[0] == "44:19:b6"
    assert prof.sources["dhcp.options"].startswith("learned from cam.pcap (sha256 ")
    assert "(from base profile axis-p3224-lv)" in prof.sources["listen"]
    assert learned.result.skipped["short frame"] == 1
    again = catalog.Profile.model_validate(yaml.safe_load(learned.yaml))
    assert again == prof


def test_cli_learn_writes_yaml_and_names_bad_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = device_capture(tmp_path)
    out = tmp_path / "out.yaml"
    assert cli.main(["profiles", "learn", str(path), "--mac", "44:19:B6:A1:B2:C3", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Written by iotemu: learned from cam.pcap") and "name: learned-a1b2c3" in text
    assert catalog.load_file(out).name == "learned-a1b2c3"
    assert cli.main(["profiles", "learn", str(path), "--mac", "nope"]) == 2
    assert "--mac:" in capsys.readouterr().err
    assert cli.main(["profiles", "learn", str(path), "--mac", "02:00:00:00:00:09"]) == 2
    assert "no frame from or to 02:00:00:00:00:09" in capsys.readouterr().err
    assert cli.main(["profiles", "learn", str(path), "--mac", "44:19:b6:a1:b2:c3", "--name", "Bad Name"]) == 2
    assert "--name:" in capsys.readouterr().err
    assert cli.main(["profiles", "learn", str(path), "--mac", "44:19:b6:a1:b2:c3", "--base", "nope"]) == 2
    assert "--base: unknown profile" in capsys.readouterr().err


@pytest.mark.parametrize("seed", range(10))
def test_damaged_frames_never_crash_the_learner(tmp_path: Path, seed: int) -> None:
    """Every frame of a device's capture cut short or with flipped bytes: learned or skipped, never an exception."""
    good = [f for _, f in _frames_of(device_capture(tmp_path)) if len(f) > 20]
    assert NEST.tls is not None
    good += session(45000, 443, tls_hello.client_hello(NEST.tls, "a.example.com", random.Random(4)))
    good += session(45001, 1883, mqtt.connect_packet("x", 30) + mqtt.publish_packet("t", b"p"))
    rng = random.Random(seed)
    damaged = []
    for frame in good:
        damaged.append(frame[: rng.randrange(len(frame))])
        flipped = bytearray(frame)
        for _ in range(8):
            flipped[rng.randrange(14, len(flipped))] = rng.randrange(256)
        damaged.append(bytes(flipped))
    for _ in range(200):
        damaged.append(MAC + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))))
        damaged.append(GW_MAC + MAC + b"\x08\x00" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400))))
    result = learner.learn((capture.Frame(float(i), f) for i, f in enumerate(good + damaged)), MAC)
    assert result.frames > len(good)
    build.build(result.found, None, build.Identity("fuzzed", "44:19:b6:a1:b2:c3"))


def _frames_of(path: Path) -> list[tuple[float, bytes]]:
    return [(f.time, f.data) for f in capture.read(path)]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_damaged_capture_files_end_the_reading_with_a_count(tmp_path: Path, kind: str) -> None:
    path = device_capture(tmp_path)
    data = path.read_bytes()
    if kind == "pcapng":
        frames = _frames_of(path)
        blocks = [
            struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28),
            struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20),
        ]
        for t, f in frames:
            pad = (-len(f)) % 4
            size = 32 + len(f) + pad
            stamp = int(t * 1e6)
            blocks.append(
                struct.pack("<IIIIIII", 6, size, 0, stamp >> 32, stamp & 0xFFFFFFFF, len(f), len(f))
                + f
                + bytes(pad)
                + struct.pack("<I", size)
            )
        data = b"".join(blocks)
        path.write_bytes(data)
        assert [f.data for f in capture.read(path)] == [f for _, f in frames]
    rng = random.Random(1)
    for _ in range(200):
        broken = bytearray(data[: rng.randrange(4, len(data))])
        for _ in range(rng.randrange(0, 6)):
            broken[rng.randrange(4, len(broken))] = rng.randrange(256)
        path.write_bytes(bytes(broken))
        counts = capture.Counts()
        with contextlib.suppress(capture.CaptureError):
            learner.learn(capture.read(path, counts), MAC)
        assert counts.frames <= len(data)


def test_lldp_and_cdp_identity() -> None:
    from iot_emulator.learn import link
    from iot_emulator.protocols.discovery import cdp, lldp

    tlvs = [
        lldp.tlv(lldp.TLV_CHASSIS_ID, b"\x04" + MAC),
        lldp.tlv(lldp.TLV_TTL, struct.pack("!H", 120)),
        lldp.tlv(lldp.TLV_PORT_DESCRIPTION, b"WAN PORT"),
        lldp.tlv(lldp.TLV_SYSTEM_NAME, b"SIP-T46S-a1b2c3"),
        lldp.tlv(lldp.TLV_SYSTEM_DESCRIPTION, b"SIP-T46S 66.86.0.15"),
        lldp.tlv(lldp.TLV_CAPABILITIES, struct.pack("!HH", 0x24, 0x24)),
    ]
    shutdown = [lldp.tlv(lldp.TLV_CHASSIS_ID, b"\x04" + MAC), lldp.tlv(lldp.TLV_TTL, b"\x00\x00")]
    pdu = cdp.packet(
        [
            cdp.tlv(cdp.DEVICE_ID, b"SEP4419B6A1B2C3"),
            cdp.tlv(cdp.PORT_ID, b"Port 1"),
            cdp.tlv(cdp.CAPABILITIES, struct.pack("!I", 0x490)),
            cdp.tlv(cdp.SOFTWARE, b"sip78xx.14"),
            cdp.tlv(cdp.PLATFORM, b"Cisco IP Phone 7841"),
        ],
        180,
    )
    frames = [lldp.lldpdu(MAC, shutdown), lldp.lldpdu(MAC, tlvs), cdp.frame(MAC, pdu), cdp.frame(MAC, pdu)]
    found = link.learn(decoded(frames, step=60.0), MAC, None)
    assert found.values["lldp"] == {
        "system_description": "SIP-T46S 66.86.0.15",
        "system_name": "SIP-T46S-{mac6}",
        "capabilities": ["bridge", "telephone"],
        "port_description": "WAN PORT",
        "interval": 30.0,
    }
    assert found.values["cdp"] == {
        "device_id": "SEP4419B6{MAC6}",
        "port_id": "Port 1",
        "software_version": "sip78xx.14",
        "platform": "Cisco IP Phone 7841",
        "holdtime": 180,
        "capabilities": 0x490,
        "interval": 60.0,
    }
    assert found.protocols == ["lldp"]


def test_mdns_services_from_the_devices_responses() -> None:
    host = "Nest-a1b2c3.local"
    instance = "Nest-a1b2c3._googlecast._tcp.local"
    records = [
        dns_wire.Record("_googlecast._tcp.local", dns_wire.TYPE_PTR, 120, instance),
        dns_wire.Record("_services._dns-sd._udp.local", dns_wire.TYPE_PTR, 120, "_googlecast._tcp.local"),
        dns_wire.Record("5.0.0.10.in-addr.arpa", dns_wire.TYPE_PTR, 120, host),
    ]
    extra = [
        dns_wire.Record(instance, dns_wire.TYPE_SRV, 120, dns_wire.Srv(0, 0, 8009, host)),
        dns_wire.Record(instance, dns_wire.TYPE_TXT, 120, (b"id=ffa1b2c3", b"fn=Kitchen")),
    ]
    response = dns_wire.encode(dns_wire.Message(flags=dns_wire.FLAG_RESPONSE, answers=records, additional=extra))
    query = dns_wire.encode(dns_wire.Message(questions=[dns_wire.Question("_x._tcp.local", dns_wire.TYPE_PTR)]))
    frames = [wire.udp_frame(MAC, GW_MAC, DEV_IP, bytes([224, 0, 0, 251]), 5353, 5353, p) for p in (query, response)]
    found = dns.learn_mdns(decoded(frames), MAC, "Nest-a1b2c3")
    assert found.values["mdns.services"] == [
        {
            "type": "_googlecast._tcp",
            "instance": "Nest-{mac6}",
            "port": 8009,
            "txt": {"id": "ff{mac6}", "fn": "Kitchen"},
        }
    ]


def test_ssdp_notify_server_type_location() -> None:
    from iot_emulator.learn import ssdp as learn_ssdp

    def notify(nt: str) -> bytes:
        return (
            f"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
            f"LOCATION: http://10.0.0.5:49152/upnpdevicedesc.xml\r\nNT: {nt}\r\nNTS: ssdp:alive\r\n"
            f"SERVER: Linux/3.0.8, UPnP/1.0, Portable SDK for UPnP devices/1.6.6\r\nUSN: uuid:x::{nt}\r\n\r\n"
        ).encode()

    nts = ["upnp:rootdevice", "uuid:1234", "urn:schemas-upnp-org:device:Basic:1"]
    frames = [wire.udp_frame(MAC, GW_MAC, DEV_IP, bytes([239, 255, 255, 250]), 1900, 1900, notify(nt)) for nt in nts]
    found = learn_ssdp.learn(decoded(frames))
    assert found.values["ssdp"] == {
        "server": "Linux/3.0.8, UPnP/1.0, Portable SDK for UPnP devices/1.6.6",
        "device_type": "urn:schemas-upnp-org:device:Basic:1",
        "location_path": "/upnpdevicedesc.xml",
        "location_port": 49152,
        "max_age": 1800,
    }


def test_linux_cooked_captures_are_read_by_address(tmp_path: Path) -> None:
    """`tcpdump -i any` (SLL): no destination MAC, so frames to the device are known by its IP address."""

    def cooked(frame: bytes, kind: int) -> bytes:
        return (
            struct.pack("!HHH8sH", kind, 1, 6, frame[6:12] + b"\0\0", int.from_bytes(frame[12:14], "big")) + frame[14:]
        )

    record = dns_wire.Record("api.example.com", dns_wire.TYPE_A, 60, SRV_IP)
    question = dns_wire.Question("api.example.com", dns_wire.TYPE_A)
    message = dns_wire.Message(id=3, flags=dns_wire.FLAG_RESPONSE, questions=[question], answers=[record])
    answer = dns_wire.encode(message)
    to_device = wire.udp_frame(GW_MAC, MAC, DNS_IP, DEV_IP, 53, 40000, answer)
    other = wire.udp_frame(GW_MAC, GW_MAC, DNS_IP, bytes([10, 0, 0, 9]), 53, 40000, answer)
    frames = [cooked(udp_out(53, dns_wire.query(3, "api.example.com")), 4), cooked(to_device, 0), cooked(other, 0)]
    path = tmp_path / "any.pcap"
    records = b"".join(struct.pack("<IIII", 1 + i, 0, len(f), len(f)) + f for i, f in enumerate(frames))
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, capture.LINKTYPE_LINUX_SLL) + records)
    read = list(capture.read(path))
    assert read[0].data[:12] == capture.UNKNOWN_MAC + MAC
    d = packets.decode(read, MAC)
    assert len(d.packets) == 2  # the query and its answer; the answer to 10.0.0.9 is not the device's
    assert dns.resolved(d).name_for(SRV_IP, 10.0) == "api.example.com"
