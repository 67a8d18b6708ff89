"""Write docs/profiles.md from the shipped profiles and what the lab's tools said of them.

    IOTEMU_FINGERPRINT_REPORT=/tmp/fp.json pytest tests/lab/test_fingerprints.py
    python -m tests.lab.fingerprint_report /tmp/fp.json docs/profiles.md

The first command keeps p0f's verdicts per profile (tests/lab/test_fingerprints.py); this module
joins them with what the profiles say (DHCP, SYN, User-Agent, JA3, announcements, sources).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_hello

HEADER = """\
# Device profiles

The shipped library (`emulator-image/iot_emulator/profiles/data/*.yaml`): {count} devices, what each one
shows a discovery product, and what real tools said of it in the lab (`tests/lab/test_fingerprints.py`:
one emulator process running every profile, dnsmasq, nginx, mosquitto, avahi, tshark and p0f 3.09b in
the gateway namespace). Every value has its source in the profile's `sources:`; "best knowledge" there
means no citable document, and the source text says so.

p0f's database dates from 2012: it knows Linux, Windows, BSD and Apple stacks, nothing of lwIP, VxWorks,
ThreadX or printer firmware. Where a profile's stack has no p0f class, the lab test asks for the same
verdict and raw signature in two runs; p0f then often gives a *fuzzy* guess (`params=fuzzy`), e.g.
"Linux 2.2.x-3.x (barebone)" for any MSS-only SYN, or "NMap SYN scan" for a 4096-byte window.

## Identity and DHCP

| profile | vendor / model | class | OS / stack | option 55 | option 60 | host name (option 12) |
|---|---|---|---|---|---|---|
"""

SYN_HEADER = """
## TCP SYN and p0f

Raw signature as p0f prints it: `ver:ittl+dist:olen:mss:wsize,scale:olayout:quirks:pclass`.

| profile | SYN (window, MSS, options, DF, IP ID) | p0f raw signature | p0f label (params) |
|---|---|---|---|
"""

APP_HEADER = """
## Applications

| profile | protocols | HTTP User-Agent | TLS library: JA3 md5 / JA4 | mDNS services / SSDP | LLDP |
|---|---|---|---|---|---|
"""

IPV6_HEADER = """
## IPv6 and DHCPv6

What each device's IPv6 stack does when a manifest lists the protocol `ipv6` ([ipv6.md](ipv6.md)); an
IPv4-only device (`ipv6.enabled: false`) refuses it with a manifest error. DAD / RS is the number of DAD
probes per address, Router Solicitations x their interval, and the hop limit of what it originates. The
sources (`sources.ipv6`, `sources.ipv6.dhcpv6`) say which values are read from a manual or a client's
source (ConnMan's for the Tizen TV) and which are best knowledge. `tests/lab/test_ipv6_kea.py` checks the
Samsung, Cisco and HP fingerprints on the wire (tshark, SOLICITs to dnsmasq) and the Samsung TV's IA_NA,
renewal, release and information-request against Kea.

| profile | IPv6 | interface id | DAD / RS / hop limit | DHCPv6 client (SOLICIT, INFORMATION-REQUEST) |
|---|---|---|---|---|
"""

SOURCES_HEADER = """
## Sources, in short

| profile | where the fingerprints come from |
|---|---|
"""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text not in (None, "") else "-"


def _syn(prof: catalog.Profile) -> str:
    tcp = prof.tcp
    options = ",".join(tcp.options) + (f" ws{tcp.window_scale}" if "wscale" in tcp.options else "")
    df = "DF" if tcp.dont_fragment else "no DF"
    return f"TTL {prof.ip_ttl}, {tcp.window}, MSS {tcp.mss}, {options}, {df}, ID {tcp.ip_id}"


def _library(prof: catalog.Profile) -> str:
    if prof.tls is None:
        return "-"
    suites = len(prof.tls.cipher_suites)
    return f"`{tls_hello.ja3_md5(prof.tls)}` / `{tls_hello.ja4(prof.tls)}` ({suites} suites)"


def _announcements(prof: catalog.Profile) -> str:
    parts = [f"`{s.type}` {s.port}" for s in prof.mdns.services] if prof.mdns else []
    if prof.ssdp:
        parts.append(f"SSDP `{prof.ssdp.device_type}`, SERVER `{prof.ssdp.server}`")
    return "; ".join(parts)


def _summary(prof: catalog.Profile) -> str:
    """The sources that cite a public database, or 'derived' for the rest."""
    cited = sorted(
        {key.split(".")[0] for key, text in prof.sources.items() if "Satori" in text or "FingerBank" in text}
    )
    derived = "derived from the stack / best knowledge otherwise"
    return f"Satori/FingerBank for: {', '.join(cited)}; {derived}" if cited else derived.capitalize()


def _ipv6(prof: catalog.Profile) -> str:
    """One row of the IPv6 table: the stack's settings and its DHCPv6 client's fingerprint."""
    v6 = prof.ipv6 or catalog.Ipv6()
    if not v6.enabled:
        return f"| `{prof.name}` | no: IPv4 only | | | |\n"
    client = v6.dhcpv6
    dhcp = "none (SLAAC only)"
    if client is not None:
        dhcp = f"DUID-{client.duid_type.value.upper()}, ORO {','.join(map(str, client.option_request))}"
        if client.vendor_class:
            dhcp += f", vendor class {client.enterprise_number} `{client.vendor_class}`"
    timing = f"{v6.dad_transmits} / {v6.router_solicitations} x {v6.solicitation_interval:g} s / {v6.hop_limit}"
    return f"| `{prof.name}` | yes | {v6.interface_id.value} | {timing} | {dhcp} |\n"


def render(report: dict[str, dict[str, Any]]) -> str:
    profiles = sorted(catalog.builtin(), key=lambda p: p.name)
    out = [HEADER.format(count=len(profiles))]
    for p in profiles:
        mac = f"{p.ouis[0]}:12:34:56"
        out.append(
            f"| `{p.name}` | {_cell(p.vendor)} {_cell(p.model)} | {p.device_class.value} | {_cell(p.os)} | "
            f"{','.join(map(str, p.dhcp.parameter_request_list))} | {_cell(p.dhcp.vendor_class_id)} | "
            f"`{p.hostname_for(mac)}` |\n"
        )
    out.append(SYN_HEADER)
    for p in profiles:
        seen = report.get(p.name, {})
        label = seen.get("p0f_os") or "(no SYN seen in the reported run)"
        params = seen.get("p0f_params")
        out.append(
            f"| `{p.name}` | {_syn(p)} | `{_cell(seen.get('p0f_sig'))}` | {_cell(label)}"
            f"{f' ({params})' if params else ''} |\n"
        )
    out.append(APP_HEADER)
    for p in profiles:
        agent = p.http.user_agent if p.http else None
        lldp = p.lldp.system_description if p.lldp else None
        out.append(
            f"| `{p.name}` | {', '.join(x for x in p.protocols if x not in ('arp', 'dhcp', 'icmp'))} | "
            f"{_cell(agent)} | {_library(p)} | {_cell(_announcements(p))} | {_cell(lldp)} |\n"
        )
    out.append(IPV6_HEADER)
    out.extend(_ipv6(p) for p in profiles)
    out.append(SOURCES_HEADER)
    for p in profiles:
        out.append(f"| `{p.name}` | {_summary(p)} |\n")
    return "".join(out)


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, text) of each `## ` section, the part before the first one under the heading ""."""
    parts = re.split(r"(?m)^(?=## )", text)
    return [(part.splitlines()[0] if part.startswith("## ") else "", part) for part in parts]


def keep_written_by_hand(generated: str, previous: str) -> str:
    """The generated document with the sections of `previous` it does not write (written by hand), each after
    the section it followed there, so regenerating the tables never drops the prose around them."""
    ours = {heading for heading, _ in _sections(generated)}
    after: dict[str, list[str]] = {}
    anchor = ""
    for heading, text in _sections(previous):
        if heading in ours:
            anchor = heading
        else:
            after.setdefault(anchor, []).append(text)
    out = []
    for heading, text in _sections(generated):
        out.append(text)
        out.extend(after.get(heading, []))
    return "".join(out)


def main(argv: list[str]) -> int:
    report = json.loads(Path(argv[0]).read_text())
    target = Path(argv[1])
    previous = target.read_text() if target.exists() else ""
    target.write_text(keep_written_by_hand(render(report), previous))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
