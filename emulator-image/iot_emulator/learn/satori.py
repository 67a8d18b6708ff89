"""Satori database records and Fingerbank DHCP fingerprints, as profile findings.

Satori (github.com/xnih/satori, GPL-2.0) keeps one XML file per test family; a `<fingerprint
name=...>` holds `<test>` elements. Read here: dhcp.xml (`dhcpoptions` = options present in order,
`dhcpoption55`, `dhcpvendorcode` = option 60, `ipttl`; per `dhcptype` Discover/Request/Any), tcp.xml
(`tcpsig` = window:ttl:df:header length:options:quirks of a SYN, tcpflag S) and webuseragent.xml
(`webuseragent`, exact matches only: a partial one is a substring, not a User-Agent). Satori's
ssl.xml holds JA3/JA4 hashes, which cannot be turned back into a ClientHello.

A Fingerbank DHCP fingerprint is option 55 as a comma list ("1,3,6,15,119,252"), Fingerbank's key
for a DHCP client (fingerbank.org; its data is under Fingerbank's terms of use, so the profile says
where the string came from).

The XML is untrusted input: bounded in size, parsed with the standard library's expat (which
refuses external entities and limits entity expansion since Python 3.7.1 / expat 2.4.1).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from iot_emulator.learn import dhcp, findings

MAX_BYTES = 16 << 20
SATORI = "Satori fingerprint database (github.com/xnih/satori, GPL-2.0)"
FINGERBANK = "a Fingerbank DHCP fingerprint (fingerbank.org; Fingerbank's terms of use apply to its data)"
_CODES = re.compile(r"^\d{1,3}(,\d{1,3})*$")
_TCP_OPTIONS = {"S": "sackok", "T": "ts", "N": "nop", "E": "eol"}


class SatoriError(ValueError):
    """A file, record or fingerprint that cannot be imported; the message names it."""


def load(path: Path) -> ET.Element:
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
    except OSError as exc:
        raise SatoriError(f"{path}: cannot read: {exc.strerror}") from None
    if data is None:
        raise SatoriError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise SatoriError(f"{path}: not valid XML: {exc}") from None


def record(root: ET.Element, name: str) -> ET.Element:
    found = [fp for fp in root.iter("fingerprint") if fp.get("name") == name]
    if not found:
        near = sorted(n for fp in root.iter("fingerprint") if name.lower() in (n := fp.get("name", "")).lower())
        hint = f"; names containing it: {', '.join(near[:10])}" if near else ""
        raise SatoriError(f"--record: no fingerprint named {name!r} in this {root.tag} database{hint}")
    return found[0]


def findings_for(root: ET.Element, name: str) -> findings.Findings:
    """The findings of record `name` (the caller's `build.Identity.origin` names the file and record)."""
    fp = record(root, name)
    where = f"record {name!r}"
    kind = root.tag.upper()
    if kind == "DHCP":
        return _dhcp(fp, where)
    if kind == "TCP":
        return _tcp(fp, where)
    if kind == "WEBUSERAGENT":
        return _agent(fp, where)
    raise SatoriError(f"a Satori {root.tag} database has nothing a profile holds (DHCP, TCP, WEBUSERAGENT do)")


def _codes(text: str, what: str) -> list[int]:
    if not _CODES.match(text):
        raise SatoriError(f"{what}: {text!r} is not a comma list of option codes")
    codes = [int(c) for c in text.split(",")]
    if any(not 0 <= c <= 255 for c in codes):
        raise SatoriError(f"{what}: option codes are 0-255 ({text!r})")
    return [c for c in codes if c not in (0, 255)]


def _tests(fp: ET.Element, attribute: str, kind: str) -> list[str]:
    return [t.get(attribute, "") for t in fp.iter("test") if t.get(attribute) and t.get("dhcptype") == kind]


def _dhcp(fp: ET.Element, where: str) -> findings.Findings:
    out = findings.Findings()

    def first(attribute: str, *kinds: str) -> tuple[str, str] | None:
        return next(((k, v) for k in kinds for v in _tests(fp, attribute, k)), None)

    discover = first("dhcpoptions", "Discover", "Any")
    request = first("dhcpoptions", "Request")
    if discover or request:
        d = _codes(discover[1], "dhcpoptions") if discover else None
        r = _codes(request[1], "dhcpoptions") if request else None
        options, request_options = dhcp.option_orders(d, r)
        out.set("dhcp.options", options, f"dhcpoptions ({'/'.join(x[0] for x in (discover, request) if x)})")
        if request_options is not None:
            out.set("dhcp.request_options", request_options, "dhcpoptions of Request")
    prl = first("dhcpoption55", "Discover", "Request", "Any")
    if prl:
        out.set("dhcp.parameter_request_list", _codes(prl[1], "dhcpoption55"), f"dhcpoption55 ({prl[0]})")
    vendor = next((t for t in fp.iter("test") if t.get("dhcpvendorcode")), None)
    if vendor is not None:
        partial = " (a partial match in Satori: the value is a prefix)" if vendor.get("matchtype") == "partial" else ""
        out.set("dhcp.vendor_class_id", vendor.get("dhcpvendorcode"), f"dhcpvendorcode{partial}")
    ttl = first("ipttl", "Discover", "Request", "Any")
    if ttl and ttl[1].isdigit() and 1 <= int(ttl[1]) <= 255:
        out.set("dhcp.ip_ttl", int(ttl[1]), f"ipttl ({ttl[0]})")
    if not out.values:
        raise SatoriError(f"--record: {where} has no DHCP test a profile holds")
    return out


def _tcp(fp: ET.Element, where: str) -> findings.Findings:
    sig = next((t.get("tcpsig", "") for t in fp.iter("test") if t.get("tcpflag") == "S" and t.get("tcpsig")), None)
    if sig is None:
        raise SatoriError(f"--record: {where} has no SYN signature (tcpflag S); SYN-ACK ones describe servers")
    return tcp_signature(sig)


def tcp_signature(sig: str) -> findings.Findings:
    """window:ttl:df:length:options:quirks (`*` = any, left as the base's)."""
    parts = sig.split(":")
    if len(parts) != 6:
        raise SatoriError(f"tcpsig {sig!r}: expected window:ttl:df:length:options:quirks")
    window, ttl, df, _, options, quirks = parts
    out = findings.Findings()
    say = f"tcpsig {sig}"
    if window.isdigit() and int(window) <= 65535:
        out.set("tcp.window", int(window), say)
    if ttl.isdigit() and 1 <= int(ttl) <= 255:
        out.set("ip_ttl", int(ttl), say)
    if df in ("0", "1"):
        out.set("tcp.dont_fragment", df == "1", say)
    layout: list[str] = []
    for item in options.split(",") if options and options != "*" else []:
        head, value = item[:1], item[1:]
        if head == "M":
            layout.append("mss")
            if value.isdigit() and 88 <= int(value) <= 65495:
                out.set("tcp.mss", int(value), say)
        elif head == "W":
            layout.append("wscale")
            if value.isdigit() and int(value) <= 14:
                out.set("tcp.window_scale", int(value), say)
        elif item in _TCP_OPTIONS:
            layout.append(_TCP_OPTIONS[item])
        else:
            raise SatoriError(f"tcpsig {sig!r}: option {item!r} has no name in the profile model")
    if layout:
        out.set("tcp.options", layout, say)
    if "Z" in quirks:
        out.set("tcp.ip_id", "zero", f"{say} (quirk Z: IP ID zero)")
    return out


def _agent(fp: ET.Element, where: str) -> findings.Findings:
    tests = [t for t in fp.iter("test") if t.get("webuseragent")]
    exact = next((t.get("webuseragent", "") for t in tests if t.get("matchtype") == "exact"), None)
    if exact is None:
        raise SatoriError(f"--record: {where} has no exact webuseragent (partial ones are substrings, not agents)")
    out = findings.Findings()
    out.set("http.user_agent", exact, "webuseragent (exact)")
    return out


def fingerbank(fingerprint: str, vendor_class: str | None, cited: str | None) -> findings.Findings:
    """Option 55 (and 60) from a Fingerbank-style fingerprint string."""
    codes = _codes(fingerprint.strip().replace(" ", ""), "fingerprint")
    if not codes:
        raise SatoriError("fingerprint: no option code in it")
    where = f"fingerprint {fingerprint.strip()!r}" + (f" ({cited})" if cited else "")
    out = findings.Findings()
    out.set("dhcp.parameter_request_list", codes, where)
    if vendor_class:
        out.set("dhcp.vendor_class_id", vendor_class, where)
    return out
