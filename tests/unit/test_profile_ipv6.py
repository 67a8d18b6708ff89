"""Every shipped profile says, as data with a source, whether its real device speaks IPv6, how its stack
forms addresses and, where its OS has one, what its DHCPv6 client sends; an IPv4-only device listed
with "ipv6" is refused with the field named, in manifests, fleets, profiles and the seed CLI."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pydantic import ValidationError
from scapy.layers.dhcp6 import DHCP6_Solicit, DHCP6OptClientId, DHCP6OptOptReq, DHCP6OptVendorClass
from scapy.layers.l2 import Ether

from iot_emulator.config import manifests
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp6, ipv6

from .test_cli import SEED, iotemu, replace

PROFILES = list(catalog.builtin())
IDS = [p.name for p in PROFILES]
MAC = bytes.fromhex("001bd4123456")
LINK_LOCAL = ipv6.LINK_LOCAL_PREFIX + ipv6.eui64(MAC)
IPV4_ONLY = sorted(p.name for p in PROFILES if p.ipv6 is not None and not p.ipv6.enabled)
WITH_DHCPV6 = sorted(p.name for p in PROFILES if p.ipv6 is not None and p.ipv6.dhcpv6 is not None)


@pytest.mark.parametrize("prof", PROFILES, ids=IDS)
def test_every_profile_declares_its_ipv6_with_a_source(prof: catalog.Profile) -> None:
    assert prof.ipv6 is not None, "no ipv6 section: say how its OS does IPv6, or enabled: false"
    assert len(prof.sources.get("ipv6", "").strip()) > 40, "no source for ipv6"
    if not prof.ipv6.enabled:
        assert "ipv6" not in prof.protocols and prof.ipv6.dhcpv6 is None
        assert prof.ipv6.model_fields_set == {"enabled"}, "an IPv4-only device has no stack settings to source"
        return
    assert prof.ipv6.hop_limit in (64, 128, 255), "an OS default hop limit"
    if prof.ipv6.dhcpv6 is not None:
        assert len(prof.sources.get("ipv6.dhcpv6", "").strip()) > 40, "no source for ipv6.dhcpv6"


@pytest.mark.parametrize("name", WITH_DHCPV6)
def test_a_dhcpv6_profile_solicits_with_its_duid_oro_and_vendor_class(name: str) -> None:
    """The SOLICIT its client builds, read back by Scapy, carries exactly the profile's fingerprint."""
    prof = catalog.builtin().get(name)
    assert prof.ipv6 is not None and prof.ipv6.dhcpv6 is not None
    settings = prof.ipv6.dhcpv6
    client = dhcp6.Dhcp6Client(MAC, settings, random.Random(1))
    client.start_stateful(0.0)
    frames = client.on_timer(5.0, LINK_LOCAL)
    assert frames, "no SOLICIT within its 1 s initial delay"
    solicit = Ether(frames[0])[DHCP6_Solicit]
    duid_codes = {catalog.DuidType.llt: 1, catalog.DuidType.en: 2, catalog.DuidType.ll: 3}
    assert solicit[DHCP6OptClientId].duid.type == duid_codes[settings.duid_type]
    assert list(solicit[DHCP6OptOptReq].reqopts) == settings.option_request
    if settings.vendor_class is None:
        assert DHCP6OptVendorClass not in solicit
    else:
        vendor = solicit[DHCP6OptVendorClass]
        assert vendor.enterprisenum == settings.enterprise_number
        assert vendor.vcdata[0].data == settings.vendor_class.encode()


def test_the_library_holds_both_kinds_and_distinct_dhcpv6_fingerprints() -> None:
    assert len(IPV4_ONLY) >= 5 and len(WITH_DHCPV6) >= 3, (IPV4_ONLY, WITH_DHCPV6)
    fingerprints = set()
    for name in WITH_DHCPV6:
        d = catalog.builtin().get(name).ipv6.dhcpv6  # type: ignore[union-attr]
        assert d is not None
        fingerprints.add((d.duid_type, tuple(d.option_request), d.enterprise_number, d.vendor_class))
    assert len(fingerprints) >= 3, fingerprints  # Fingerbank could tell at least three clients apart


def test_a_client_without_a_stack_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="dhcpv6: a device without IPv6"):
        catalog.Ipv6.model_validate({"enabled": False, "dhcpv6": {"duid_type": "ll"}})


def test_a_profile_listing_ipv6_without_a_stack_is_refused() -> None:
    data = catalog.builtin().get(IPV4_ONLY[0]).model_dump()
    data["protocols"] = [*data["protocols"], "ipv6"]
    with pytest.raises(ValidationError, match=r"protocols: lists ipv6, but ipv6\.enabled is false"):
        catalog.Profile.model_validate(data)


DEVICE = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTDevice
metadata: {{name: plug}}
spec: {{profile: {profile}, protocols: [arp, dhcp, ipv6]}}
"""
FLEET = """\
apiVersion: iotemu.io/v1alpha1
kind: IoTFleet
metadata: {{name: plugs}}
spec: {{replicas: 2, template: {{profile: {profile}, protocols: [arp, dhcp, ipv6]}}}}
"""


@pytest.mark.parametrize(
    ("template", "where"),
    [(DEVICE, "IoTDevice/plug: spec.protocols"), (FLEET, "IoTFleet/plugs: spec.template.protocols")],
)
def test_a_manifest_asking_ipv6_of_an_ipv4_only_device_is_refused(template: str, where: str) -> None:
    profile = IPV4_ONLY[0]
    docs = manifests.parse_documents(template.format(profile=profile), "test.yaml")
    with pytest.raises(manifests.ManifestError) as err:
        manifests.expand(docs, catalog.builtin())
    assert f"{where}: profile {profile!r} has no IPv6" in str(err.value)


def test_a_manifest_asking_ipv6_of_a_dual_stack_device_expands() -> None:
    docs = manifests.parse_documents(DEVICE.format(profile=WITH_DHCPV6[0]), "test.yaml")
    [dev] = manifests.expand(docs, catalog.builtin())
    assert "ipv6" in dev.protocols


def test_seed_cli_refuses_ipv6_for_an_ipv4_only_vendor(profiles_dir: Path) -> None:
    args = replace(replace(SEED, "--vendor", "sonoff-mini"), "--protocols", "arp,dhcp,ipv6")
    result = iotemu(*args, profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert "--protocols: profile 'sonoff-mini' has no IPv6" in result.stderr
    assert result.stdout == ""  # nothing started, nothing sent
