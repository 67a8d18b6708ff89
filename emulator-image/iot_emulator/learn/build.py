"""Lay learned values over a base profile, validate the result, and write it as commented YAML.

What the capture showed replaces the base's value; everything else stays the base's (or the
model's defaults without a base), and the YAML says which is which: a comment header lists the
learned fields and what could not be learned, and `sources` names the capture (file and SHA-256)
for every learned value, beside the base's own sources for the rest. The result is validated by
`catalog.Profile`; a learned section that cannot stand alone (an MQTT session whose broker no DNS
answer named, with no base to take it from) is left out with a note rather than failing the run.
"""

from __future__ import annotations

import copy
import dataclasses
import textwrap
from typing import Any

import yaml
from pydantic import ValidationError

from iot_emulator.learn import findings
from iot_emulator.profiles import catalog

LINK = ("arp", "dhcp", "icmp", "lldp")
"""Protocols kept from the base whatever the capture shows (link-level, or answered rather than spoken)."""
SAME = {"cloud": ("cloud", "https")}
"""A learned protocol and the base's names for it (the TLS service answers to both)."""
SECTIONS = {
    "http": "http",
    "cloud": "tls",
    "https": "tls",
    "mqtt": "mqtt",
    "mdns": "mdns",
    "ssdp": "ssdp",
    "dns": "dns_names",
    "rtsp": "rtsp",
    "coap": "coap",
}
"""Protocol -> the profile field it needs; a protocol whose field ends up empty is not listed."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who the learned profile is: its name, and what a capture cannot say (vendor, model, class)."""

    name: str
    mac: str | None = None
    """The device's MAC: its OUI leads the profile's `ouis` (imports have none: the base's OUIs stay)."""
    vendor: str | None = None
    model: str | None = None
    device_class: str | None = None
    origin: str = "learned from a capture"
    """How the sources and the header name where the values come from:
    `learned from capture.pcap (sha256 0123...), device aa:bb:...`, `imported from Satori dhcp.xml ...`."""
    oui: str | None = None
    """OUI to lead `ouis` when there is no MAC (an import without a base needs one)."""


class BuildError(ValueError):
    """The learned profile does not validate; the message names the field."""


def build(found: findings.Findings, base: catalog.Profile | None, who: Identity) -> catalog.Profile:
    data = _start(base, who)
    for path, value in found.values.items():
        _put(data, path, value)
    _options_listed(data)
    data["protocols"] = _protocols(base, found)
    data["sources"] = _sources(base, found, who)
    for _ in range(len(SECTIONS) + 1):
        try:
            return catalog.Profile.model_validate(data)
        except ValidationError as exc:
            dropped = _drop_broken(data, exc, base, found)
            if not dropped:
                raise BuildError(catalog.format_validation_error(exc)) from None
    raise BuildError("the learned profile does not validate")


def _start(base: catalog.Profile | None, who: Identity) -> dict[str, Any]:
    if base is not None:
        data = copy.deepcopy(base.model_dump(mode="python"))
    else:
        data = {
            "os": "unknown (not in the capture or record)",
            "device_class": "other",
            "model": "learned",
            "vendor": "Unknown",
            "dhcp": {"options": [53], "parameter_request_list": []},
        }
    data.update(name=who.name, vendor_default=False)
    lead = who.mac[:8] if who.mac else who.oui
    data["ouis"] = [*([lead] if lead else []), *(o for o in data.get("ouis", []) if o != lead)]
    for key, value in (("vendor", who.vendor), ("model", who.model), ("device_class", who.device_class)):
        if value:
            data[key] = value
    return data


def _put(data: dict[str, Any], path: str, value: object) -> None:
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    if isinstance(value, dict) and isinstance(node.get(leaf), dict) and leaf not in ("extra_options", "txt"):
        node[leaf] = {**node[leaf], **value}
    else:
        node[leaf] = value


def _options_listed(data: dict[str, Any]) -> None:
    """An imported option 55 or 60 whose code the option order lacks goes last in it (else it is never sent)."""
    fp = data.get("dhcp") or {}
    options = fp.get("options")
    if not isinstance(options, list):
        return
    for code, field in ((55, "parameter_request_list"), (60, "vendor_class_id")):
        if fp.get(field) and code not in options:
            options.append(code)


def _protocols(base: catalog.Profile | None, found: findings.Findings) -> list[str]:
    seen = set(found.protocols)
    out = []
    for name in base.protocols if base else ["arp", "dhcp", "icmp"]:
        if name in LINK or name in seen or any(name in SAME.get(s, ()) for s in seen):
            out.append(name)
    for name in found.protocols:
        if name not in out and not (set(SAME.get(name, ())) & set(out)):
            out.append(name)
    return out


def _sources(base: catalog.Profile | None, found: findings.Findings, who: Identity) -> dict[str, str]:
    learned = set(found.sources)
    out = {}
    for key, text in base.sources.items() if base else []:
        if not any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in learned):
            out[key] = f"(from base profile {base.name}) {text}" if base else text
    for key, text in found.sources.items():
        out[key] = f"{who.origin}: {text}"
    return out


def _drop_broken(
    data: dict[str, Any], exc: ValidationError, base: catalog.Profile | None, found: findings.Findings
) -> bool:
    """Leave out a learned section that fails validation and that the base does not have; True if one was."""
    for err in exc.errors():
        section = str(err["loc"][0]) if err["loc"] else ""
        learned = any(p == section or p.startswith(section + ".") for p in found.values)
        if section in SECTIONS.values() and learned and (base is None or getattr(base, section) is None):
            data[section] = None
            data["protocols"] = [p for p in data["protocols"] if SECTIONS.get(p) != section]
            data["sources"] = {k: v for k, v in data["sources"].items() if k.split(".")[0] != section}
            found.notes.append(
                f"{section}: learned but incomplete ({catalog.format_validation_error(exc)}); "
                "left out (give --base with that section)"
            )
            return True
    return False


def render(
    prof: catalog.Profile,
    found: findings.Findings,
    base: catalog.Profile | None,
    who: Identity,
    frames: int,
    skipped: dict[str, int],
) -> str:
    """The profile as YAML, headed by comments saying what was learned and what was not."""
    lines = [f"Written by iotemu: {who.origin}."]
    if frames:
        gaps = f"; skipped: {dict(skipped)}" if skipped else ""
        lines.append(f"{frames} frames from or to the device{gaps}.")
    lines += [
        f"Values from there: {', '.join(sorted(found.values)) or 'none'}.",
        f"Everything else: {f'base profile {base.name}' if base else 'the model defaults'}.",
        *(f"Not learned: {note}" for note in found.notes),
    ]
    header = "".join(f"# {part}\n" for line in lines for part in textwrap.wrap(line, 116, break_on_hyphens=False))
    data = prof.model_dump(mode="json", exclude_defaults=True)
    tls = data.get("tls") or {}
    for key in ("cipher_suites", "signature_algorithms"):
        if key in tls:
            tls[key] = [_Hex(v) for v in tls[key]]
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


class _Hex(int):
    """Written as 0xc02c, as the shipped profiles write cipher suites and signature algorithms."""


class _Dumper(yaml.SafeDumper):
    """Block mappings; lists of plain values on one line (option lists read as they do on the wire)."""

    def represent_list(self, data: Any) -> yaml.SequenceNode:
        flow = all(not isinstance(item, dict | list) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)
_Dumper.add_representer(_Hex, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:int", f"0x{value:04x}"))
