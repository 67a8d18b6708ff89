"""The lab's IPv6 router without a lab: `--ipv6` parsed and checked, the record round trip, radvd's and
dnsmasq's configuration (tests/lab/test_ipv6_lab.py runs both for real, with devices)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator import cli
from iot_emulator.lab import commands, config, errors
from iot_emulator.lab import ipv6 as lab_ipv6


def lab_config(*args: str) -> config.LabConfig:
    return commands._lab_config(cli.command_parser().parse_args(["lab", "up", *args]))


@pytest.mark.parametrize(("args", "mode"), [([], None), (["--ipv6"], "slaac"), (["--ipv6", "dhcpv6"], "dhcpv6")])
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
