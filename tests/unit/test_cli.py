"""The command line refuses bad input with exit code 2 and names the flag or field, sending nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEED = [
    "--device",
    "camera_01",
    "--vendor",
    "Tinycam",
    "--mac",
    "00:12:34:56:78:01",
    "--interface",
    "lo",
    "--gateway",
    "192.168.207.1",
    "--dhcp-mode",
    "auto",
    "--protocols",
    "arp,dhcp,http,rtsp,cloud,dns,ntp",
    "--traffic-interval",
    "60",
    "--json-output",
    "--stats-interval",
    "5",
]


def iotemu(*args: str, profiles_dir: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, sys.executable, "-m", "iot_emulator", *args, "--profiles-dir", str(profiles_dir)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def replace(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--mac", "00:12:34:56:78", "--mac: '00:12:34:56:78' is not a MAC address"),
        ("--mac", "01:00:5e:00:00:01", "--mac: 01:00:5e:00:00:01 is a multicast MAC"),
        ("--vendor", "Nokia", "--vendor: unknown vendor 'Nokia'; known vendors: "),
        ("--protocols", "arp,gopher", "--protocols: unknown protocol(s) gopher"),
        ("--gateway", "300.1.1.1", "--gateway: Input is not a valid IPv4 address (got '300.1.1.1')"),
        ("--stats-interval", "0", "--stats-interval: Input should be greater than 0 (got 0.0)"),
        ("--interface", "nosuch0", "--interface: interface 'nosuch0' does not exist"),
    ],
)
def test_seed_cli_bad_input_exits_2(profiles_dir: Path, flag: str, value: str, expected: str) -> None:
    result = iotemu(*replace(SEED, flag, value), profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert result.stdout == ""  # nothing started, nothing sent


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--vlan", "4095"], "--vlan: Input should be less than or equal to 4094"),
        (["--vlan", "10", "--vlan-priority", "8"], "--vlan-priority: Input should be less than or equal to 7"),
        (["--outer-vlan", "100"], "outerVlan (QinQ) needs vlan"),
    ],
)
def test_seed_cli_refuses_bad_vlans_naming_the_flag(profiles_dir: Path, extra: list[str], expected: str) -> None:
    result = iotemu(*SEED, *extra, profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and result.stdout == ""


def test_static_mode_without_address_names_the_flag(profiles_dir: Path) -> None:
    result = iotemu(*replace(SEED, "--dhcp-mode", "static"), profiles_dir=profiles_dir)
    assert result.returncode == 2
    assert "--static-ip: static mode needs an address" in result.stderr


def test_no_raw_socket_permission_exits_2(profiles_dir: Path) -> None:
    """Without CAP_NET_RAW (dropped from the bounding set, or a non-root user) the socket is refused."""
    prefix = ("setpriv", "--bounding-set=-net_raw") if os.geteuid() == 0 else ()
    result = iotemu(*SEED, profiles_dir=profiles_dir, prefix=prefix)
    assert result.returncode == 2, result.stderr
    assert "no permission for raw sockets" in result.stderr


def test_run_rejects_duplicate_macs_naming_both(profiles_dir: Path, tmp_path: Path) -> None:
    doc = (
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {{name: {}}}\n"
        "spec: {{profile: tiny-cam, mac: '00:12:34:56:78:01'}}\n"
    )
    manifest = tmp_path / "devices.yaml"
    manifest.write_text(doc.format("cam-1") + "---\n" + doc.format("cam-2"))
    result = iotemu("run", "-f", str(manifest), "--interface", "lo", profiles_dir=profiles_dir)
    assert result.returncode == 2
    assert "cam-2: spec.mac: 00:12:34:56:78:01 is already used by cam-1" in result.stderr


def test_run_rejects_unknown_profile(profiles_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "devices.yaml"
    manifest.write_text(
        "apiVersion: iotemu.io/v1alpha1\nkind: IoTFleet\nmetadata: {name: f}\n"
        "spec: {replicas: 3, template: {profile: nope}}\n"
    )
    result = iotemu("run", "-f", str(manifest), "--interface", "lo", profiles_dir=profiles_dir)
    assert result.returncode == 2
    assert "IoTFleet/f: spec.profile: unknown profile 'nope'" in result.stderr


def test_profiles_validate_names_file_and_field(profiles_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((profiles_dir / "tiny-cam.yaml").read_text().replace('["44:19:b6"]', '["44:19"]'))
    result = subprocess.run(
        [sys.executable, "-m", "iot_emulator", "profiles", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{bad}: ouis: '44:19' is not an OUI" in result.stderr


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"apiVersion: iotemu.io/v1alpha1\nkind: IoTDevice\nmetadata: {name: caf\xe9}\n", "not UTF-8 text (byte 67)"),
        (BOMB.encode(), "aliases expand to more than 100000 nodes"),
        (b"a: " + b"[" * 200, "nested deeper than 64 levels"),
        (b"# " + b"x" * (9 << 20), "larger than 8388608 bytes"),
    ],
    ids=["not-utf8", "alias-bomb", "too-deep", "too-large"],
)
def test_run_refuses_unreadable_manifests_with_exit_2(
    profiles_dir: Path, tmp_path: Path, content: bytes, expected: str
) -> None:
    manifest = tmp_path / "fleet.yaml"
    manifest.write_bytes(content)
    result = iotemu("run", "-f", str(manifest), "--interface", "lo", profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert f"{manifest}" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_run_reads_no_more_than_its_cap_from_an_endless_file(profiles_dir: Path) -> None:
    result = iotemu("run", "-f", "/dev/zero", "--interface", "lo", profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert "/dev/zero: larger than 8388608 bytes" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--device", "a/b", "--pcap", "x.pcap", "--pcap-per-device"], "--device: 'a/b' must be"),
        (["--device", ".."], "--device: '..' must be"),
        (["--protocols", ""], "--protocols: '' has an empty protocol name"),
        (["--protocols", "arp,,dhcp"], "--protocols: 'arp,,dhcp' has an empty protocol name"),
    ],
    ids=["slash", "dotdot", "empty-protocols", "empty-protocol"],
)
def test_seed_cli_refuses_unsafe_ids_and_empty_protocols(profiles_dir: Path, args: list[str], expected: str) -> None:
    argv = list(SEED)
    for flag, value in zip(args[::2], args[1::2], strict=False):
        argv = replace(argv, flag, value) if flag in argv else [*argv, flag, value]
    if "--pcap-per-device" in args:
        argv.append("--pcap-per-device")
    result = iotemu(*argv, profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: s\nsteps: [{at: 1, behaviour: {kind: power_cycle, down: -1}}]\n",
            "--scenario: {path}: steps.0.behaviour.down: Input should be greater than or equal to 0",
        ),
        (
            "name: s\nsteps: [{at: 1, behaviour: {kind: firmware_update, profile: nope}}]\n",
            "--scenario: steps.0.behaviour.profile: unknown profile 'nope'",
        ),
        ("name: [unclosed\n", "--scenario: {path}: not a valid YAML document"),
    ],
)
def test_a_bad_scenario_file_exits_2_naming_the_field(
    profiles_dir: Path, tmp_path: Path, text: str, expected: str
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text)
    result = iotemu(*SEED, "--scenario", str(scenario), profiles_dir=profiles_dir)
    assert result.returncode == 2, result.stderr
    assert expected.format(path=scenario) in result.stderr
    assert result.stdout == ""


def test_a_short_capture_token_is_refused_without_printing_it(profiles_dir: Path) -> None:
    argv = [sys.executable, "-m", "iot_emulator", *SEED, "--profiles-dir", str(profiles_dir)]
    env = {**os.environ, "IOTEMU_CAPTURE_TOKEN": "tooshort-secret"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 2, result.stderr
    assert "IOTEMU_CAPTURE_TOKEN: " in result.stderr and "at least 16" in result.stderr
    assert "tooshort-secret" not in result.stderr + result.stdout
