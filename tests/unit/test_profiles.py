"""The shipped profile library: every file loads, names are stable, fingerprints carry sources.

A profile is only as good as its fingerprints, so besides loading, these tests hold the library to
what a reviewer needs: a source for every DHCP value, real (well-formed) OUIs, distinct option-55
lists across vendors, option lists consistent with the fields that fill them, host names a DHCP
server and DNS accept, and clear `ProfileError`s for broken user files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from iot_emulator import macs, profile

SHIPPED_FILES = sorted(profile.BUILTIN_DIR.glob("*.yaml"))

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
KNOWN_PROTOCOLS = frozenset(
    {"arp", "dhcp", "icmp", "dns", "ntp", "http", "https", "cloud", "rtsp", "mqtt", "coap", "mdns", "ssdp",
     "lldp", "tcp"}
)  # fmt: skip
DNS_LABEL = re.compile(r"^(?![-_])[A-Za-z0-9_-]{1,63}(?<![-_])$")
"""Option 12 as devices send it: a label, where `_` is allowed (ESP_1A2B3C, plc_1)."""


def _by_file() -> list[tuple[Path, profile.Profile]]:
    return [(path, profile.load_file(path)) for path in SHIPPED_FILES]


LIBRARY = _by_file()
PROFILES = [p for _, p in LIBRARY]
IDS = [p.name for p in PROFILES]


def test_every_shipped_file_loads_through_the_builtin_library() -> None:
    library = profile.builtin()
    assert len(library) == len(SHIPPED_FILES), "two files share a profile name: one silently hides the other"
    assert len(library) >= 22


@pytest.mark.parametrize(("path", "prof"), LIBRARY, ids=IDS)
def test_name_is_the_file_name(path: Path, prof: profile.Profile) -> None:
    assert prof.name == path.stem


def test_names_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


def test_the_seed_ten_are_shipped() -> None:
    library = profile.builtin()
    missing = [name for name in SEED_PROFILES if name not in library]
    assert not missing


def test_seed_cli_vendor_hikvision_picks_the_ds_2cd2042fwd_camera() -> None:
    chosen = profile.builtin().for_vendor("Hikvision")
    assert chosen.name == "hikvision-ds-2cd2042fwd"
    assert chosen.device_class is profile.DeviceClass.camera


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
    assert profile.builtin().for_vendor(vendor).name == expected


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_fingerprints_carry_their_sources(prof: profile.Profile) -> None:
    missing = [key for key in REQUIRED_SOURCES if not prof.sources.get(key, "").strip()]
    assert not missing, f"no source for {missing}"
    dhcp = prof.dhcp
    optional = {
        "dhcp.vendor_class_id": dhcp.vendor_class_id is not None,
        "dhcp.max_message_size": dhcp.max_message_size is not None,
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
def test_source_keys_name_real_fields(prof: profile.Profile) -> None:
    unknown = [key for key in prof.sources if not _field_exists(profile.Profile, key.split("."))]
    assert not unknown, f"sources for fields the model does not have: {unknown}"


def test_option_55_lists_differ_across_the_library() -> None:
    distinct = {tuple(p.dhcp.parameter_request_list) for p in PROFILES}
    assert len(distinct) >= 12, "option 55 is the first thing a fingerprinting product reads"


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_option_list_matches_the_fields_that_fill_it(prof: profile.Profile) -> None:
    dhcp = prof.dhcp
    present = set(dhcp.options)
    assert 55 in present and dhcp.parameter_request_list
    assert (61 in present) == (dhcp.client_id is profile.ClientIdKind.mac)
    assert (57 in present) == (dhcp.max_message_size is not None)
    assert (60 in present) == (dhcp.vendor_class_id is not None)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_ouis_are_distinct_and_well_formed(prof: profile.Profile) -> None:
    assert len(set(prof.ouis)) == len(prof.ouis)
    assert all(macs.OUI_RE.match(oui) for oui in prof.ouis)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_protocols_are_known_and_include_the_link_layer(prof: profile.Profile) -> None:
    assert set(prof.protocols) <= KNOWN_PROTOCOLS
    assert {"arp", "dhcp"} <= set(prof.protocols)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_arp_check_is_short_enough_for_a_lab(prof: profile.Profile) -> None:
    probe = prof.dhcp.arp_probe
    assert probe.interval <= 1.0
    assert probe.wait <= 1.0


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_generated_hostnames_are_dns_labels(prof: profile.Profile) -> None:
    mac_list = [macs.derive(oui, prof.name, i) for oui in prof.ouis for i in range(3)]
    mac_list += ["00:12:34:56:78:01", "02:00:00:ab:cd:ef"]
    for index, mac in enumerate(mac_list):
        name = prof.hostname_for(mac, index=index, name=f"{prof.name}-{index}")
        assert DNS_LABEL.match(name), f"{name!r} from {prof.hostname_pattern!r}"


# --- malformed user profiles -------------------------------------------------------------------


def _valid_document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((profile.BUILTIN_DIR / "sonoff-mini.yaml").read_text())
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
def test_malformed_profile_names_the_file_and_the_field(tmp_path: Path, breaker: Any, field: str, why: str
                                                         ) -> None:  # fmt: skip
    data = _valid_document()
    breaker(data)
    bad = tmp_path / "user-device.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(profile.ProfileError) as caught:
        profile.library(tmp_path)
    message = str(caught.value)
    assert str(bad) in message
    assert field in message
    assert why in message


def test_a_valid_user_profile_extends_the_library(tmp_path: Path) -> None:
    (tmp_path / "user-device.yaml").write_text(yaml.safe_dump(_valid_document(), sort_keys=False))
    library = profile.library(tmp_path)
    assert "user-device" in library
    assert len(library) == len(profile.builtin()) + 1


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(profile.ProfileError, match=re.escape(str(bad))):
        profile.library(tmp_path)
