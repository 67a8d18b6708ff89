"""Round trip of `iotemu profiles learn`: capture an emulated device, learn its profile, run that, compare.

One lab with the sink internet (`lab up --internet`: nginx, mosquitto, chrony answer every name). Run 1:
one emulator process runs a device of each of five shipped profiles (a camera, a plug speaking MQTT, two
phones, one with CDP, a speaker with mDNS and GREASE), with their schedules cut to seconds so the capture shows a
cadence, and writes everything it sends and receives to a pcap (`--pcap`). Each device's profile is
learned from that file with no base (`iotemu profiles learn --mac`), so all it carries is what the
capture showed. Run 2: the learned profiles, same MACs, same lab, another pcap. tshark (not our parser)
then decodes both captures, and the fingerprints are compared field by field: DHCP option order and
values, the SYN (TTL, DF, window, MSS, option kinds, scale), the HTTP User-Agent and requests, the TLS
ClientHello (JA3 as tshark computes it; suites, extensions, groups, ALPN, signature algorithms, versions
with GREASE left out: the JA4 inputs), SNI, DNS names, mDNS services, SSDP, LLDP, CDP, MQTT client id, NTP version;
and the learned schedules against the run-1 ones. IOTEMU_LEARN_REPORT=<file> keeps the comparison as JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from iot_emulator import cli
from iot_emulator import lab as iotlab
from iot_emulator.profiles import catalog
from tests.conftest import new_lab_name
from tests.lab.emulator import Emulator, in_lab
from tests.lab.fingerprint_capture import FullCapture, decode

pytestmark = pytest.mark.lab

NAMES = ("hikvision-ds-2cd2042fwd", "meross-mss110", "yealink-sip-t46s", "google-nest-mini", "cisco-cp-7841")
INTERVAL = 4.0
RUN_SECONDS = 26.0
REPORT_ENV = "IOTEMU_LEARN_REPORT"
GREASE = {0x0A0A + 0x1010 * i for i in range(16)}


def fast(prof: catalog.Profile) -> catalog.Profile:
    """The shipped profile, with every schedule cut to INTERVAL s so that a short capture shows a cadence."""
    keys = {*prof.schedule, *(p for p in prof.protocols if p in ("dns", "http", "cloud", "https", "ntp", "mqtt"))}
    keys = {"cloud" if k == "https" else k for k in keys}
    quick = {k: catalog.Schedule(interval=INTERVAL, jitter=0.1) for k in keys}
    return prof.model_copy(update={"name": f"rt-{prof.name}"[:63], "schedule": quick, "vendor_default": False})


def mac_of(index: int, prof: catalog.Profile) -> str:
    return f"{prof.ouis[0]}:7e:00:{index + 1:02x}"


def write_manifest(path: Path, names: list[str], macs: list[str]) -> Path:
    path.write_text(
        "".join(
            f"---\napiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {{name: d{i}}}\n"
            f"spec: {{profile: {name}, mac: '{mac}', trafficInterval: 30}}\n"
            for i, (name, mac) in enumerate(zip(names, macs, strict=True))
        )
    )
    return path


def run(lab: iotlab.Lab, directory: Path, tag: str, names: list[str], macs: list[str], profiles_dir: Path) -> Path:
    """One emulator process with these devices for RUN_SECONDS after they bound; returns its pcap. tshark on the
    gateway writes the same traffic as pcapng beside it (`<tag>-gw.pcapng`), as a sensor would record it."""
    pcap = directory / f"{tag}.pcap"
    sensor = FullCapture(lab, directory / f"{tag}-gw.pcapng", "pcapng")
    emulator = Emulator(
        [
            "run",
            "-f",
            str(write_manifest(directory / f"{tag}.yaml", names, macs)),
            *in_lab(lab, directory / f"state-{tag}"),
            "--profiles-dir",
            str(profiles_dir),
            "--pcap",
            str(pcap),
            "--seed",
            "7",
        ]
    )
    try:
        emulator.wait_count("dhcp_ack", len(names), 30)
        with contextlib.suppress(AssertionError):  # the capture's length is the point: nothing ends it early
            emulator.wait_for(lambda m: False, RUN_SECONDS, "the run to last")
        assert emulator.stop(timeout=15) == 0, emulator.tail()
    finally:
        emulator.kill()
        sensor.stop()
    return pcap


# -- what tshark reads of one device in one capture ------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x, 0) for x in text.split(",") if x]


def _no_grease(values: list[int]) -> list[int]:
    return [v for v in values if v not in GREASE]


def fingerprint(pcap: Path, mac: str) -> dict[str, object]:
    """Field -> value, as tshark decodes the device's frames (first of a kind, or the set over the capture)."""
    out: dict[str, object] = {}
    rows = decode(
        pcap,
        f"dhcp && eth.src == {mac}",
        [
            "dhcp.option.dhcp",
            "dhcp.option.type",
            "dhcp.option.request_list_item",
            "dhcp.option.vendor_class_id",
            "dhcp.option.hostname",
            "ip.ttl",
            "dhcp.flags.bc",
            "dhcp.option.dhcp_max_message_size",
            "dhcp.hw.mac_addr",
        ],
    )
    for kind, label in (("1", "discover"), ("3", "request")):
        row = next((r for r in rows if r[0] == kind), None)
        if row is not None:
            types = _ints(row[1])
            for end in (255, 0):  # the End option (listed or not) and the padding
                types = types[: types.index(end)] if end in types else types
            out[f"dhcp.{label}.options"] = types
            out[f"dhcp.{label}.55"], out[f"dhcp.{label}.60"], out[f"dhcp.{label}.12"] = row[2], row[3], row[4]
            out[f"dhcp.{label}.ttl"], out[f"dhcp.{label}.broadcast"], out[f"dhcp.{label}.57"] = row[5], row[6], row[7]
            out[f"dhcp.{label}.hw_addresses"] = row[8]  # chaddr, and option 61's address when it is type 1
    syn_fields = [
        "ip.ttl",
        "ip.flags.df",
        "tcp.window_size_value",
        "tcp.options.mss_val",
        "tcp.option_kind",
        "tcp.options.wscale.shift",
    ]
    syn = decode(pcap, f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && eth.src == {mac}", syn_fields)
    out["syn"] = sorted({tuple(r) for r in syn})
    ip = ",".join(sorted({r[0] for r in decode(pcap, f"eth.src == {mac} && ip.src != 0.0.0.0", ["ip.src"])}))
    http = decode(
        pcap,
        f"http.request && eth.src == {mac} && !ssdp",
        ["http.request.method", "http.host", "http.request.uri", "http.user_agent"],
    )
    out["http.requests"] = sorted({tuple(r[:3]) for r in http})
    out["http.user_agent"] = sorted({r[3] for r in http})
    hello_fields = [
        "tls.handshake.ja3",
        "tls.handshake.extensions_server_name",
        "tls.handshake.ciphersuite",
        "tls.handshake.extension.type",
        "tls.handshake.extensions_supported_group",
        "tls.handshake.extensions_alpn_str",
        "tls.handshake.sig_hash_alg",
        "tls.handshake.extensions.supported_version",
        "tcp.dstport",
    ]
    hello = decode(pcap, f"tls.handshake.type == 1 && eth.src == {mac}", hello_fields)
    out["tls.ja3"] = sorted({r[0] for r in hello})
    out["tls.sni"] = sorted({r[1] for r in hello})
    out["tls.ja4_inputs"] = sorted(
        {
            (
                tuple(_no_grease(_ints(r[2]))),
                tuple(_no_grease(_ints(r[3]))),
                tuple(_no_grease(_ints(r[4]))),
                r[5],
                r[6],
                tuple(_no_grease(_ints(r[7]))),
                r[8],
            )
            for r in hello
        }
    )
    dns = decode(pcap, f"dns.flags.response == 0 && udp.dstport == 53 && eth.src == {mac}", ["dns.qry.name"])
    out["dns.names"] = sorted({r[0] for r in dns})
    mdns = decode(
        pcap, f"mdns && dns.flags.response == 1 && eth.src == {mac}", ["dns.ptr.domain_name", "dns.srv.port", "dns.txt"]
    )
    out["mdns.ptr"] = sorted({n for r in mdns for n in r[0].split(",") if n and not n.endswith(".arpa")})
    out["mdns.srv_ports"] = sorted({p for r in mdns for p in r[1].split(",") if p})
    out["mdns.txt"] = sorted({t for r in mdns for t in r[2].split(",") if t})
    ssdp = decode(
        pcap, f'ssdp && eth.src == {mac} && http.request.method == "NOTIFY"', ["http.server", "http.unknown_header"]
    )
    out["ssdp.server"] = sorted({r[0] for r in ssdp if r[0]})
    out["ssdp.nt"] = sorted({h for r in ssdp for h in r[1].split(",") if h.startswith("NT: ") and "uuid:" not in h})
    out["mqtt.client_id"] = sorted(
        {r[0] for r in decode(pcap, f"mqtt.msgtype == 1 && eth.src == {mac}", ["mqtt.clientid"])}
    )
    out["ntp.version"] = sorted(
        {r[0] for r in decode(pcap, f"ntp.flags.mode == 3 && eth.src == {mac}", ["ntp.flags.vn"])}
    )
    lldp_fields = [
        "lldp.tlv.system.name",
        "lldp.tlv.system.desc",
        "lldp.tlv.enable_system_cap",
        "lldp.port.desc",
        "lldp.time_to_live",
    ]
    lldp = decode(pcap, f"lldp && eth.src == {mac} && lldp.time_to_live > 0", lldp_fields)
    out["lldp"] = sorted({tuple(r) for r in lldp})
    cdp = decode(
        pcap,
        f"cdp && eth.src == {mac}",
        ["cdp.deviceid", "cdp.portid", "cdp.capabilities", "cdp.software_version", "cdp.platform", "cdp.ttl"],
    )
    out["cdp"] = sorted({tuple(r) for r in cdp})
    out["_ip"] = ip
    return out


@dataclasses.dataclass
class RoundTrip:
    originals: dict[str, catalog.Profile]
    learned: dict[str, catalog.Profile]
    from_sensor: dict[str, catalog.Profile]
    """Learned from tshark's pcapng of run 1 on the gateway instead of the emulator's own pcap."""
    first: dict[str, dict[str, object]]
    second: dict[str, dict[str, object]]
    macs: dict[str, str]

    def differences(self, name: str) -> dict[str, tuple[object, object]]:
        a, b = self.first[name], self.second[name]
        return {k: (a[k], b.get(k)) for k in a if not k.startswith("_") and a[k] != b.get(k)}


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    directory = tmp_path_factory.mktemp("learn")
    originals = [fast(catalog.builtin().get(n)) for n in NAMES]
    macs = [mac_of(i, p) for i, p in enumerate(originals)]
    shipped, learned_dir = directory / "originals", directory / "learned"
    shipped.mkdir()
    learned_dir.mkdir()
    for prof in originals:
        (shipped / f"{prof.name}.yaml").write_text(yaml.safe_dump(prof.model_dump(mode="json"), sort_keys=False))
    config = iotlab.LabConfig(name=new_lab_name(), state_dir=directory / "labs", internet=True)
    with iotlab.lab(config) as lab:
        first_pcap = run(lab, directory, "run1", [p.name for p in originals], macs, shipped)
        learned_names = []
        for prof, mac in zip(originals, macs, strict=True):
            name = f"learned-{prof.name.removeprefix('rt-')}"[:63]
            assert (
                cli.main(
                    [
                        "profiles",
                        "learn",
                        str(first_pcap),
                        "--mac",
                        mac,
                        "--name",
                        name,
                        "-o",
                        str(learned_dir / f"{name}.yaml"),
                    ]
                )
                == 0
            )
            learned_names.append(name)
        second_pcap = run(lab, directory, "run2", learned_names, macs, learned_dir)
    from_sensor = {}
    for prof, mac in zip(originals, macs, strict=True):
        out = directory / f"sensor-{prof.name}.yaml"
        assert (
            cli.main(
                [
                    "profiles",
                    "learn",
                    str(directory / "run1-gw.pcapng"),
                    "--mac",
                    mac,
                    "--name",
                    "sensor",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        from_sensor[prof.name] = catalog.load_file(out)
    learned = {
        p.name: catalog.load_file(learned_dir / f"{n}.yaml") for p, n in zip(originals, learned_names, strict=True)
    }
    result = RoundTrip(
        {p.name: p for p in originals},
        learned,
        from_sensor,
        {p.name: fingerprint(first_pcap, m) for p, m in zip(originals, macs, strict=True)},
        {p.name: fingerprint(second_pcap, m) for p, m in zip(originals, macs, strict=True)},
        {p.name: m for p, m in zip(originals, macs, strict=True)},
    )
    target = os.environ.get(REPORT_ENV)
    if target:
        report = {
            n: {
                "differences": {k: [str(a), str(b)] for k, (a, b) in result.differences(n).items()},
                "compared": sorted(k for k in result.first[n] if not k.startswith("_")),
                "schedule": {
                    "run1": {k: v.model_dump() for k, v in result.originals[n].schedule.items()},
                    "learned": {k: v.model_dump() for k, v in result.learned[n].schedule.items()},
                },
            }
            for n in result.first
        }
        Path(target).write_text(json.dumps(report, indent=2) + "\n")
    yield result


IDS = [f"rt-{n}" for n in NAMES]


@pytest.mark.parametrize("name", IDS)
def test_the_learned_device_shows_the_same_fingerprints_on_the_wire(roundtrip: RoundTrip, name: str) -> None:
    first = roundtrip.first[name]
    assert first["dhcp.discover.options"] and first["syn"] and first["dns.names"], f"run 1 showed too little: {first}"
    assert roundtrip.differences(name) == {}


def profile_fields(prof: catalog.Profile, mac: str) -> dict[str, object]:
    """What a profile says of the fingerprints, with its placeholders filled for the device at `mac`."""
    from iot_emulator.config import manifests
    from iot_emulator.protocols import service_kit
    from iot_emulator.protocols.clients import mqtt
    from iot_emulator.protocols.transport import tls_hello

    config = manifests.DeviceConfig(
        device_id="d",
        mac=mac,
        hostname=prof.hostname_for(mac),
        profile=prof,
        protocols=tuple(prof.protocols),
        traffic_interval=30,
    )
    fp, tcp = prof.dhcp, prof.tcp
    out: dict[str, object] = {
        "dhcp": (
            fp.options,
            fp.request_options,
            fp.parameter_request_list,
            fp.vendor_class_id,
            fp.max_message_size,
            fp.client_id,
            fp.ip_ttl,
            fp.broadcast_flag,
            fp.extra_options,
        ),
        "hostname": config.hostname if 12 in {*fp.options, *(fp.request_options or [])} else None,
        "ip_ttl": prof.ip_ttl,
        "syn": (
            tcp.window,
            tcp.mss,
            tcp.options,
            tcp.window_scale if "wscale" in tcp.options else None,
            tcp.dont_fragment,
            tcp.ip_id,
        ),
        "dns_names": sorted(n.lower() for n in prof.dns_names),  # the resolver asks in lower case
        "ntp_version": prof.ntp_version,
    }
    if prof.tls:
        out["tls"] = (tls_hello.ja3(prof.tls), tls_hello.ja4(prof.tls), sorted(prof.tls.servers), prof.tls.port)
    if prof.http:
        requests = sorted(
            (r.method, r.host, r.path, r.port, list(r.headers.items()), r.body or "") for r in prof.http.requests
        )
        out["http"] = (prof.http.user_agent, requests)
    if prof.mdns:
        out["mdns"] = sorted(
            (
                s.type,
                service_kit.fill(s.instance, config),
                s.port,
                sorted((k, service_kit.fill(v, config)) for k, v in s.txt.items()),
            )
            for s in prof.mdns.services
        )
    if prof.ssdp:
        s = prof.ssdp
        out["ssdp"] = (s.server, s.device_type, s.location_path, s.location_port, s.max_age)
    if prof.lldp:
        s = prof.lldp
        out["lldp"] = (
            service_kit.fill(s.system_name, config),
            service_kit.fill(s.system_description, config),
            s.capabilities,
            s.port_description,
            s.interval,
        )
    if prof.cdp:
        c = prof.cdp
        out["cdp"] = (
            service_kit.fill(c.device_id, config),
            c.port_id,
            c.capabilities,
            c.software_version,
            c.platform,
            c.holdtime,
        )
    if prof.mqtt:
        out["mqtt"] = (mqtt.fill(prof.mqtt.client_id, mqtt.placeholders(config)), prof.mqtt.broker, prof.mqtt.port)
    return out


@pytest.mark.parametrize("name", IDS)
def test_the_learned_profile_says_what_the_original_says(roundtrip: RoundTrip, name: str) -> None:
    """Profile to profile, placeholders filled for the device: every fingerprint field the capture carries."""
    mac = roundtrip.macs[name]
    original = profile_fields(roundtrip.originals[name], mac)
    learned = profile_fields(roundtrip.learned[name], mac)
    assert {k: (v, learned.get(k)) for k, v in original.items() if v != learned.get(k)} == {}


@pytest.mark.parametrize("name", IDS)
def test_a_sensors_pcapng_teaches_the_same_profile(roundtrip: RoundTrip, name: str) -> None:
    """tshark's pcapng on the gateway (another writer, another format, the frames as they crossed the veth)."""
    mac = roundtrip.macs[name]
    assert profile_fields(roundtrip.from_sensor[name], mac) == profile_fields(roundtrip.learned[name], mac)


@pytest.mark.parametrize("name", IDS)
def test_each_protocol_of_the_original_is_seen_again(roundtrip: RoundTrip, name: str) -> None:
    original, learned = roundtrip.originals[name], roundtrip.learned[name]
    spoken = {"https": "cloud"}
    wanted = {spoken.get(p, p) for p in original.protocols}
    assert wanted <= {spoken.get(p, p) for p in learned.protocols}


@pytest.mark.parametrize("name", IDS)
def test_the_learned_cadence_is_the_original_schedule(roundtrip: RoundTrip, name: str) -> None:
    learned = roundtrip.learned[name]
    cadenced = {k: s for k, s in learned.schedule.items() if k in ("cloud", "http")}
    assert cadenced, f"no cadence learned: {learned.schedule}"
    for key, sched in cadenced.items():
        assert abs(sched.interval - INTERVAL) <= 1.0, (key, sched)


def test_sources_name_the_capture(roundtrip: RoundTrip) -> None:
    for learned in roundtrip.learned.values():
        assert all(text.startswith("learned from run1.pcap (sha256 ") for text in learned.sources.values())
