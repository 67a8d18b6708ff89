"""`iotemu profiles import-satori` and `import-fingerbank`: records into a profile, with source and licence.

The Satori files are excerpts under tests/unit/data/satori (GPL-2.0, see its README): the tests run
in a fresh clone. Each written profile must validate, carry the record's values, keep the rest from
the base, say where the values came from, and a device built from it must send them (DHCP frames).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iot_emulator import cli
from iot_emulator.learn import satori
from iot_emulator.profiles import catalog
from iot_emulator.protocols.link import dhcp_wire

DATA = Path(__file__).parent / "data" / "satori"


def run(tmp_path: Path, *args: str) -> catalog.Profile:
    out = tmp_path / "out.yaml"
    assert cli.main(["profiles", *args, "-o", str(out)]) == 0
    return catalog.load_file(out)


def test_satori_dhcp_record_with_discover_and_request_orders(tmp_path: Path) -> None:
    prof = run(
        tmp_path,
        "import-satori",
        str(DATA / "dhcp-excerpt.xml"),
        "--record",
        "WyzeCam v2",
        "--base",
        "hikvision-ds-2cd2042fwd",
        "--name",
        "wyze-like",
    )
    fp = prof.dhcp
    assert fp.options == [53, 61, 50, 54, 57, 55, 60] and fp.request_options is None  # one order makes both
    assert fp.parameter_request_list == [1, 3, 6, 12, 15, 28, 42] and fp.vendor_class_id == "udhcp 1.22.1"
    assert prof.sources["dhcp.vendor_class_id"].startswith(f"imported from {satori.SATORI} dhcp-excerpt.xml")
    assert "GPL-2.0" in prof.sources["dhcp.options"]
    base = catalog.builtin().get("hikvision-ds-2cd2042fwd")
    assert prof.listen == base.listen and prof.tls == base.tls
    frames = dhcp_wire.ClientFrames(bytes.fromhex("4419b6000001"), "h", fp)
    message = dhcp_wire.parse_request(frames.request_selecting(1, 0, b"\x0a\x00\x00\x05", b"\x0a\x00\x00\x01"))
    assert message is not None and list(message.options) == [53, 61, 50, 54, 57, 55, 60]


def test_satori_dhcp_record_without_a_base(tmp_path: Path) -> None:
    prof = run(
        tmp_path,
        "import-satori",
        str(DATA / "dhcp-excerpt.xml"),
        "--record",
        "Alcatel 4037 Advanced Reflex IP Phone",
        "--oui",
        "00:80:9F",
        "--vendor",
        "Alcatel",
    )
    assert prof.dhcp.options == [53, 61, 12, 55, 50, 54, 60, 43] and prof.dhcp.request_options is None
    assert prof.dhcp.parameter_request_list == [1, 28, 54, 58, 59, 60, 43, 3]
    assert prof.dhcp.vendor_class_id == "alcatel.tsc-ip.0" and prof.os == "unknown (not in the capture or record)"
    assert prof.dhcp.ip_ttl == 30 and prof.ouis == ["00:80:9f"] and prof.name.startswith("imported-alcatel")


def test_satori_tcp_signature(tmp_path: Path) -> None:
    prof = run(
        tmp_path,
        "import-satori",
        str(DATA / "tcp-excerpt.xml"),
        "--record",
        "Amazon Echo Show 5",
        "--base",
        "amazon-echo-dot",
    )
    tcp = prof.tcp
    assert (tcp.window, tcp.mss, tcp.window_scale, tcp.dont_fragment, prof.ip_ttl) == (65535, 1460, 6, True, 64)
    assert tcp.options == ["mss", "sackok", "ts", "nop", "wscale"]
    assert satori.tcp_signature("14480:64:1:60:M1460,S,T,N,W6:ZAT").values["tcp.ip_id"] == "zero"


def test_satori_user_agent_exact_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = run(
        tmp_path,
        "import-satori",
        str(DATA / "webuseragent-excerpt.xml"),
        "--record",
        "Apple TV 2G/3G",
        "--base",
        "roku-express",
    )
    assert prof.http is not None and prof.http.user_agent == "AppleTV"
    args = [
        "profiles",
        "import-satori",
        str(DATA / "webuseragent-excerpt.xml"),
        "--record",
        "Amazon Echo Dot",
        "--base",
        "roku-express",
    ]
    assert cli.main(args) == 2
    assert "no exact webuseragent" in capsys.readouterr().err


def test_fingerbank_fingerprint_goes_to_option_55(tmp_path: Path) -> None:
    prof = run(
        tmp_path,
        "import-fingerbank",
        "1,3,6,15,119,252",
        "--vendor-class",
        "MSFT 5.0",
        "--base",
        "meross-mss110",
        "--cite",
        "fingerbank.org device 'Windows 10'",
    )
    assert prof.dhcp.parameter_request_list == [1, 3, 6, 15, 119, 252]
    assert prof.dhcp.vendor_class_id == "MSFT 5.0" and 60 in prof.dhcp.options
    assert "Fingerbank" in prof.sources["dhcp.parameter_request_list"]
    assert "'Windows 10'" in prof.sources["dhcp.parameter_request_list"]
    assert prof.name == "fingerbank-1-3-6-15-119-252"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import-satori", "DATA/dhcp-excerpt.xml", "--record", "Nope", "--base", "sonoff-mini"], "--record: no"),
        (["import-satori", "DATA/dhcp-excerpt.xml", "--record", "WyzeCam v2"], "--oui:"),
        (["import-satori", "DATA/missing.xml", "--record", "x", "--base", "sonoff-mini"], "cannot read"),
        (["import-satori", "DATA/README.md", "--record", "x", "--base", "sonoff-mini"], "not valid XML"),
        (
            ["import-satori", "DATA/tcp-excerpt.xml", "--record", "1763 MicroLogix 1100 PLC", "--base", "sonoff-mini"],
            "no SYN signature",
        ),
        (["import-fingerbank", "1,3,x", "--base", "sonoff-mini"], "fingerprint: '1,3,x' is not a comma list"),
        (["import-fingerbank", "1,3,6", "--oui", "zz"], "--oui:"),
    ],
)
def test_bad_imports_name_the_field(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["profiles", *(a.replace("DATA", str(DATA)) for a in args)]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
