"""The lab's IPv6 router without a lab: `--ipv6` parsed and checked, the record round trip, radvd's,
dnsmasq's and kea-dhcp6's configuration, Kea's lease file read back (tests/lab/test_ipv6_lab.py and
test_ipv6_kea.py run them for real, with devices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator import cli
from iot_emulator.lab import commands, config, errors, kea6
from iot_emulator.lab import ipv6 as lab_ipv6


def lab_config(*args: str) -> config.LabConfig:
    return commands._lab_config(cli.command_parser().parse_args(["lab", "up", *args]))


@pytest.mark.parametrize(
    ("args", "mode"),
    [
        ([], None),
        (["--ipv6"], "slaac"),
        (["--ipv6", "dhcpv6"], "dhcpv6"),
        (["--ipv6", "kea"], "kea"),
        (["--ipv6", "kea-stateless"], "kea-stateless"),
    ],
)
def test_ipv6_from_the_command_line_round_trips_through_the_record(args: list[str], mode: str | None) -> None:
    made = lab_config(*args)
    assert made.ipv6 == mode
    assert config.LabConfig.from_json(made.to_json()) == made


def test_an_unknown_mode_is_refused_naming_the_field() -> None:
    with pytest.raises(errors.LabConfigError, match=r"ipv6: 'stateful' is not one of slaac, dhcpv6"):
        config.LabConfig(name="x", ipv6="stateful")  # type: ignore[arg-type]
    with pytest.raises(SystemExit):  # argparse names the flag and its choices
        lab_config("--ipv6", "stateful")


def test_radvd_advertises_the_prefix_for_slaac_answering_solicitations_by_multicast(tmp_path: Path) -> None:
    argv, pid = lab_ipv6.radvd_argv("gw0", tmp_path)
    assert argv[0] == "radvd" and "-n" in argv and str(pid) in argv
    conf = (tmp_path / "radvd.conf").read_text()
    assert "interface gw0" in conf and f"prefix {lab_ipv6.PREFIX}" in conf
    assert "AdvAutonomous on" in conf and "AdvRASolicitedUnicast off" in conf


def test_dnsmasq_sends_managed_adverts_and_leases_from_the_prefix(tmp_path: Path) -> None:
    argv = lab_ipv6.dnsmasq_argv("gw0", tmp_path, lease_time=600)
    first, last = lab_ipv6.DHCPV6_RANGE
    assert "--enable-ra" in argv and "--port=0" in argv and "--interface=gw0" in argv
    assert f"--dhcp-range={first},{last},64,600" in argv
    assert first in lab_ipv6.PREFIX and last in lab_ipv6.PREFIX and not first <= lab_ipv6.GATEWAY <= last


@pytest.mark.parametrize(
    ("mode", "managed", "other", "autonomous"),
    [("slaac", "off", "off", "on"), ("kea", "on", "on", "off"), ("kea-stateless", "off", "on", "on")],
)
def test_radvd_flags_say_where_addresses_and_options_come_from(
    tmp_path: Path, mode: lab_ipv6.Mode, managed: str, other: str, autonomous: str
) -> None:
    lab_ipv6.radvd_argv("gw0", tmp_path, mode)
    conf = (tmp_path / "radvd.conf").read_text()
    assert f"AdvManagedFlag {managed};" in conf and f"AdvOtherConfigFlag {other};" in conf
    assert f"AdvAutonomous {autonomous};" in conf


def test_kea6_serves_the_prefix_with_short_lifetimes_and_files_in_the_lab(tmp_path: Path) -> None:
    made = kea6.config(
        iface="gw0",
        prefix=lab_ipv6.PREFIX,
        pool=lab_ipv6.DHCPV6_RANGE,
        dns=lab_ipv6.GATEWAY,
        lifetime=10,
        directory=tmp_path,
    )["Dhcp6"]
    assert made["interfaces-config"] == {"interfaces": ["gw0"]}
    assert (made["valid-lifetime"], made["preferred-lifetime"], made["renew-timer"], made["rebind-timer"]) == (
        10,
        10,
        5,
        8,
    )
    [subnet] = made["subnet6"]
    assert subnet["subnet"] == str(lab_ipv6.PREFIX) and subnet["interface"] == "gw0"
    assert subnet["option-data"] == [{"name": "dns-servers", "data": str(lab_ipv6.GATEWAY)}]
    assert made["lease-database"]["name"] == str(tmp_path / kea6.LEASE_FILE)
    assert made["data-directory"] == str(tmp_path) and made["server-id"]["persist"] is False


LEASES6 = """\
address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source
fd00:1ab:6::1000,00:03:00:01:00:1b:d4:5a:00:01,10,1010,1,10,0,1515585537,128,0,0,,00:1b:d4:5a:00:01,0,,1,2
fd00:1ab:6::1000,00:03:00:01:00:1b:d4:5a:00:01,10,1015,1,10,0,1515585537,128,0,0,,00:1b:d4:5a:00:01,0,,1,2
fd00:1ab:6::1001,00:03:00:01:00:1b:d4:5a:00:02,10,1012,1,10,0,7,128,0,0,,00:1b:d4:5a:00:02,0,,1,2
fd00:1ab:6::1001,00:03:00:01:00:1b:d4:5a:00:02,0,1012,1,0,0,7,128,0,0,,00:1b:d4:5a:00:02,0,,1,2
fd00:1ab:6:1::,00:03:00:01:00:1b:d4:5a:00:03,10,1012,1,10,2,9,64,0,0,,,0,,1,2
fd00:1ab:6::10
"""


def test_kea6_lease_history_shows_renewals_and_releases() -> None:
    rows = kea6.history(LEASES6)
    assert [(r.address, r.valid_lifetime, r.expire) for r in rows] == [
        ("fd00:1ab:6::1000", 10, 1010),
        ("fd00:1ab:6::1000", 10, 1015),  # renewed: the same lease appended with a later expiry
        ("fd00:1ab:6::1001", 10, 1012),
        ("fd00:1ab:6::1001", 0, 1012),  # released: valid lifetime 0
    ]  # the IA_PD row and the torn last line are skipped
    assert set(kea6.live(LEASES6, now=1011)) == {"fd00:1ab:6::1000"}
    assert kea6.live(LEASES6, now=1016) == {}
