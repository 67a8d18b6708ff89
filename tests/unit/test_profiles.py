"""The shipped profile library: every file loads, names are stable, fingerprints carry sources.

A profile is only as good as its fingerprints, so besides loading, these tests hold the library to
what a reviewer needs: a source for every fingerprint value (`FINGERPRINT_FIELDS`), real
(well-formed) OUIs, distinct option-55 lists, TCP SYN shapes and TLS cipher lists across vendors,
option lists the frame builder can fill, a section for every protocol a profile lists (a service
factory builds nothing without it), host names a DHCP server and DNS accept, one vendor default per
vendor for the seed CLI, and clear `ProfileError`s for broken user files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from iot_emulator.devices import macs
from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_hello

SHIPPED_FILES = sorted(catalog.BUILTIN_DIR.glob("*.yaml"))

SEED_PROFILES = (  # the seed library's ten, by the names manifests and the UI use
    "hikvision-ds-2cd2042fwd",
    "philips-hue-bridge",
    "xiaomi-gateway",
    "sonoff-mini",
    "tplink-kasa-hs110",
    "nest-learning-thermostat",
    "amazon-echo-dot",
    "meross-mss110",
    "dahua-ipc-hdw4431c-a",
    "google-nest-mini",
)

REQUIRED_SOURCES = ("dhcp.options", "dhcp.parameter_request_list", "ouis", "ip_ttl")
FINGERPRINT_FIELDS = (
    "ouis",
    "hostname_pattern",
    "ip_ttl",
    "dhcp.options",
    "dhcp.request_options",
    "dhcp.parameter_request_list",
    "dhcp.extra_options",
    "dhcp.vendor_class_id",
    "dhcp.max_message_size",
    "dhcp.client_id",
    "dhcp.ip_ttl",
    "tcp",
    "dns_names",
    "ntp_servers",
    "http",
    "tls",
    "mqtt",
    "coap",
    "rtsp",
    "mdns",
    "ssdp",
    "lldp",
    "schedule",
    "ipv6",
)
"""Field paths whose value is something a discovery product reads (or, for `schedule`, sees in the traffic):
when a profile sets one, `sources` must say where it comes from (the path itself or a path under it)."""
LINK_LAYER = frozenset({"arp", "dhcp", "icmp"})
PROTOCOL_SECTIONS: dict[str, Callable[[catalog.Profile], bool]] = {
    "dns": lambda p: bool(p.dns_names),
    "ntp": lambda p: bool(p.ntp_servers),
    "http": lambda p: p.http is not None and bool(p.http.requests),
    "https": lambda p: p.tls is not None,
    "cloud": lambda p: p.tls is not None,
    "rtsp": lambda p: p.rtsp is not None,
    "mqtt": lambda p: p.mqtt is not None,
    "coap": lambda p: p.coap is not None and bool(p.coap.paths),
    "mdns": lambda p: p.mdns is not None and bool(p.mdns.services),
    "ssdp": lambda p: p.ssdp is not None,
    "lldp": lambda p: p.lldp is not None,
}
"""What each protocol's service factory needs in the profile (protocols.services builds nothing without it)."""
KNOWN_PROTOCOLS = LINK_LAYER | frozenset(PROTOCOL_SECTIONS)
TCP_CLIENTS = frozenset({"http", "https", "cloud", "rtsp", "mqtt"})
FILLED_BY_FIELDS = frozenset({12, 50, 51, 54, 55, 57, 60, 61, 81, 116, 145})
"""Options the DHCP frame builder fills from fields or the lease (others need `dhcp.extra_options`)."""
MIN_TCP_SHAPES = 12
MIN_TLS_CIPHER_LISTS = 6
MAX_SHARING_ONE_SYN = 3
DNS_LABEL = re.compile(r"^(?![-_])[A-Za-z0-9_-]{1,63}(?<![-_])$")
"""Option 12 as devices send it: a label, where `_` is allowed (ESP_1A2B3C, plc_1)."""


def _by_file() -> list[tuple[Path, catalog.Profile]]:
    return [(path, catalog.load_file(path)) for path in SHIPPED_FILES]


LIBRARY = _by_file()
PROFILES = [p for _, p in LIBRARY]
IDS = [p.name for p in PROFILES]


def test_every_shipped_file_loads_through_the_builtin_library() -> None:
    library = catalog.builtin()
    assert len(library) == len(SHIPPED_FILES), "two files share a profile name: one silently hides the other"
    assert len(library) >= 22


@pytest.mark.parametrize(("path", "prof"), LIBRARY, ids=IDS)
def test_name_is_the_file_name(path: Path, prof: catalog.Profile) -> None:
    assert prof.name == path.stem


def test_names_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


def test_the_seed_ten_are_shipped() -> None:
    library = catalog.builtin()
    missing = [name for name in SEED_PROFILES if name not in library]
    assert not missing


def test_seed_cli_vendor_hikvision_picks_the_ds_2cd2042fwd_camera() -> None:
    chosen = catalog.builtin().for_vendor("Hikvision")
    assert chosen.name == "hikvision-ds-2cd2042fwd"
    assert chosen.device_class is catalog.DeviceClass.camera


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("hikvision", "hikvision-ds-2cd2042fwd"),
        ("Philips", "philips-hue-bridge"),
        ("Xiaomi", "xiaomi-gateway"),
        ("Sonoff", "sonoff-mini"),
        ("TP-Link", "tplink-kasa-hs110"),
        ("Nest", "nest-learning-thermostat"),
        ("Amazon", "amazon-echo-dot"),
        ("Meross", "meross-mss110"),
        ("Dahua", "dahua-ipc-hdw4431c-a"),
        ("Google", "google-nest-mini"),
    ],
)
def test_seed_vendors_pick_their_seed_profile(vendor: str, expected: str) -> None:
    assert catalog.builtin().for_vendor(vendor).name == expected


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_fingerprints_carry_their_sources(prof: catalog.Profile) -> None:
    missing = [key for key in REQUIRED_SOURCES if not prof.sources.get(key, "").strip()]
    assert not missing, f"no source for {missing}"
    dhcp = prof.dhcp
    optional = {
        "dhcp.vendor_class_id": dhcp.vendor_class_id is not None,
        "dhcp.max_message_size": dhcp.max_message_size is not None,
        "listen": bool(prof.listen or prof.listen_udp),
        "snmp": prof.snmp is not None,
        "icmp_timestamp": prof.icmp_timestamp,
    }
    missing = [key for key, present in optional.items() if present and key not in prof.sources]
    assert not missing, f"value set without a source: {missing}"


def _field_exists(model: type[Any], path: list[str]) -> bool:
    fields = model.model_fields
    if path[0] not in fields:
        return False
    if len(path) == 1:
        return True
    annotation = fields[path[0]].annotation
    inner = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
    return any(hasattr(t, "model_fields") and _field_exists(t, path[1:]) for t in inner)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_source_keys_name_real_fields(prof: catalog.Profile) -> None:
    unknown = [key for key in prof.sources if not _field_exists(catalog.Profile, key.split("."))]
    assert not unknown, f"sources for fields the model does not have: {unknown}"


def _is_set(model: Any, path: list[str]) -> bool:
    """Whether the profile sets the field (explicitly, to something non-empty)."""
    if path[0] not in model.model_fields_set:
        return False
    value = getattr(model, path[0])
    if len(path) > 1:
        return _is_set(value, path[1:])
    return value is not None and value != [] and value != {}


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_every_fingerprint_field_it_sets_has_a_source(prof: catalog.Profile) -> None:
    keys = [key for key, text in prof.sources.items() if text.strip()]
    missing = [
        field
        for field in FINGERPRINT_FIELDS
        if _is_set(prof, field.split(".")) and not any(k == field or k.startswith(field + ".") for k in keys)
    ]
    assert not missing, f"fingerprint values without a source: {missing}"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_every_protocol_listed_has_its_section(prof: catalog.Profile) -> None:
    unknown = set(prof.protocols) - KNOWN_PROTOCOLS
    assert not unknown, f"no service of that name: {unknown}"
    empty = [name for name in prof.protocols if name in PROTOCOL_SECTIONS and not PROTOCOL_SECTIONS[name](prof)]
    assert not empty, f"listed without the section its factory needs: {empty}"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_every_profile_opens_tcp_so_its_syn_can_be_fingerprinted(prof: catalog.Profile) -> None:
    assert TCP_CLIENTS & set(prof.protocols), "p0f and NAC products need at least one SYN from the device"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_names_it_talks_to_are_names_it_resolves(prof: catalog.Profile) -> None:
    wanted = set(prof.tls.servers if prof.tls else [])
    wanted |= {r.host for r in prof.http.requests} if prof.http else set()
    wanted |= {_server_of(s) for s in (prof.mqtt, prof.coap, prof.rtsp) if s is not None}
    assert wanted <= set(prof.dns_names), f"not in dns_names: {wanted - set(prof.dns_names)}"


def _server_of(section: Any) -> str:
    return str(getattr(section, "broker", None) or getattr(section, "server", ""))


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_every_dhcp_option_listed_can_be_filled(prof: catalog.Profile) -> None:
    dhcp = prof.dhcp
    listed = set(dhcp.options) | set(dhcp.request_options or [])
    unfilled = listed - FILLED_BY_FIELDS - {53} - set(dhcp.extra_options)
    assert not unfilled, f"options the frame builder would silently leave out: {sorted(unfilled)}"
    assert not set(dhcp.extra_options) - listed, "extra options that no list places"
    if dhcp.request_options is not None:
        assert {50, 54} <= set(dhcp.request_options), "a SELECTING REQUEST carries 50 and 54 (RFC 2131 table 5)"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_syn_options_agree_with_the_window_scale(prof: catalog.Profile) -> None:
    tcp = prof.tcp
    assert ("wscale" in tcp.options) or tcp.window_scale == 0
    if "ts" in tcp.options and "sackok" in tcp.options:  # a Linux-family SYN
        assert tcp.ip_id == "random" and tcp.dont_fragment, "Linux SYNs carry DF and a per-connection IP ID"


def _syn_shape(prof: catalog.Profile) -> tuple[object, ...]:
    tcp = prof.tcp
    return (prof.ip_ttl, tcp.window, tcp.mss, tuple(tcp.options), tcp.window_scale, tcp.dont_fragment, tcp.ip_id)


def test_tcp_syn_shapes_differ_across_the_library() -> None:
    shapes = Counter(_syn_shape(p) for p in PROFILES)
    assert len(shapes) >= MIN_TCP_SHAPES, "devices must not all share one generic stack"
    shape, count = shapes.most_common(1)[0]
    assert count <= MAX_SHARING_ONE_SYN, f"{count} profiles share the SYN {shape}"


def test_tls_cipher_lists_differ_across_the_library() -> None:
    lists = {tuple(p.tls.cipher_suites) for p in PROFILES if p.tls is not None}
    assert len(lists) >= MIN_TLS_CIPHER_LISTS, "each TLS library offers its own suites"


@pytest.mark.parametrize(
    "prof", [p for p in PROFILES if p.tls and "JA4 t" in p.sources.get("tls", "")], ids=lambda p: p.name
)
def test_a_ja4_cited_from_satori_is_the_one_the_hello_yields(prof: catalog.Profile) -> None:
    cited = re.search(r"JA4 (t\w+)", prof.sources["tls"])
    assert cited is not None and prof.tls is not None
    assert tls_hello.ja4(prof.tls) == cited.group(1)


MDNS_PLACEHOLDERS = {
    "vendor": "v",
    "model": "m",
    "mac6": "a1b2c3",
    "MAC6": "A1B2C3",
    "index": 0,
    "name": "n",
    "hostname": "h",
}
MQTT_PLACEHOLDERS = ("hostname", "mac6", "MAC6", "vendor", "model", "index", "name")


@pytest.mark.parametrize("prof", [p for p in PROFILES if p.mdns or p.mqtt], ids=lambda p: p.name)
def test_placeholders_are_those_the_protocols_fill(prof: catalog.Profile) -> None:
    for service in prof.mdns.services if prof.mdns else []:
        for text in (service.instance, *service.txt.values()):
            text.format(**MDNS_PLACEHOLDERS)  # mdns_records.fill: an unknown one is published verbatim
    if prof.mqtt:
        for text in (prof.mqtt.client_id, *prof.mqtt.topics):
            for key in MQTT_PLACEHOLDERS:
                text = text.replace("{" + key + "}", "x")
            assert "{" not in text, f"{text!r}: mqtt fills only {MQTT_PLACEHOLDERS}"


def test_one_vendor_default_per_vendor_and_the_seed_cli_picks_it() -> None:
    library = catalog.builtin()
    by_vendor: dict[str, list[catalog.Profile]] = {}
    for prof in PROFILES:
        by_vendor.setdefault(prof.vendor, []).append(prof)
    for vendor, profs in by_vendor.items():
        defaults = [p.name for p in profs if p.vendor_default]
        if len(profs) > 1:
            assert len(defaults) == 1, f"{vendor}: vendor defaults {defaults}"
        assert len(defaults) <= 1
        expected = defaults[0] if defaults else profs[0].name
        assert library.for_vendor(vendor).name == expected
        assert library.for_vendor(vendor.upper()).name == expected


def test_the_seed_ten_are_their_vendors_defaults() -> None:
    library = catalog.builtin()
    assert all(library.get(name).vendor_default for name in SEED_PROFILES)


def test_option_55_lists_differ_across_the_library() -> None:
    distinct = {tuple(p.dhcp.parameter_request_list) for p in PROFILES}
    assert len(distinct) >= 12, "option 55 is the first thing a fingerprinting product reads"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_option_list_matches_the_fields_that_fill_it(prof: catalog.Profile) -> None:
    dhcp = prof.dhcp
    present = set(dhcp.options) | set(dhcp.request_options or [])
    assert 55 in present and dhcp.parameter_request_list
    assert (61 in present) == (dhcp.client_id is catalog.ClientIdKind.mac)
    assert (57 in present) == (dhcp.max_message_size is not None)
    assert (60 in present) == (dhcp.vendor_class_id is not None)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_ouis_are_distinct_and_well_formed(prof: catalog.Profile) -> None:
    assert len(set(prof.ouis)) == len(prof.ouis)
    assert all(macs.OUI_RE.match(oui) for oui in prof.ouis)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_protocols_include_the_link_layer(prof: catalog.Profile) -> None:
    assert {"arp", "dhcp"} <= set(prof.protocols)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_arp_check_is_short_enough_for_a_lab(prof: catalog.Profile) -> None:
    probe = prof.dhcp.arp_probe
    assert probe.interval <= 1.0
    assert probe.wait <= 1.0


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_generated_hostnames_are_dns_labels(prof: catalog.Profile) -> None:
    mac_list = [macs.derive(oui, prof.name, i) for oui in prof.ouis for i in range(3)]
    mac_list += ["00:12:34:56:78:01", "02:00:00:ab:cd:ef"]
    for index, mac in enumerate(mac_list):
        name = prof.hostname_for(mac, index=index, name=f"{prof.name}-{index}")
        assert DNS_LABEL.match(name), f"{name!r} from {prof.hostname_pattern!r}"


# --- malformed user profiles -------------------------------------------------------------------


def _valid_document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((catalog.BUILTIN_DIR / "sonoff-mini.yaml").read_text())
    data["name"] = "user-device"
    return data


def _break_oui(data: dict[str, Any]) -> None:
    data["ouis"] = ["84:f3:zz"]


def _break_first_option(data: dict[str, Any]) -> None:
    data["dhcp"]["options"] = [57, 53, 55]


def _duplicate_option(data: dict[str, Any]) -> None:
    data["dhcp"]["options"] = [53, 57, 55, 57]


@pytest.mark.parametrize(
    ("breaker", "field", "why"),
    [
        (_break_oui, "ouis", "not an OUI"),
        (_break_first_option, "dhcp.options", "option 53"),
        (_duplicate_option, "dhcp.options", "twice"),
    ],
    ids=["bad-oui", "53-not-first", "duplicate-option"],
)
def test_malformed_profile_names_the_file_and_the_field(tmp_path: Path, breaker: Any, field: str, why: str) -> None:
    data = _valid_document()
    breaker(data)
    bad = tmp_path / "user-device.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(catalog.ProfileError) as caught:
        catalog.library(tmp_path)
    message = str(caught.value)
    assert str(bad) in message
    assert field in message
    assert why in message


def test_a_valid_user_profile_extends_the_library(tmp_path: Path) -> None:
    (tmp_path / "user-device.yaml").write_text(yaml.safe_dump(_valid_document(), sort_keys=False))
    library = catalog.library(tmp_path)
    assert "user-device" in library
    assert len(library) == len(catalog.builtin()) + 1


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(catalog.ProfileError, match=re.escape(str(bad))):
        catalog.library(tmp_path)
