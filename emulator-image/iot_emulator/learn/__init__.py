"""`iotemu profiles learn`: a device profile from a real device's traffic in a capture file.

capture (read the file, bounded) -> packets (the device's frames decoded, TCP flows) -> one learner
per protocol family (dhcp, tcpip, tls, http, mqtt, dns for DNS/mDNS/NTP, ssdp, cadence) ->
build (laid over a base profile, validated, written as commented YAML). `satori` turns Satori
database records and Fingerbank DHCP fingerprints into the same findings.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from iot_emulator.devices import macs
from iot_emulator.learn import build, capture, learner
from iot_emulator.profiles import catalog


@dataclasses.dataclass(frozen=True)
class Learned:
    profile: catalog.Profile
    yaml: str
    result: learner.Result
    counts: capture.Counts


def learn_file(
    path: Path,
    mac: str,
    base: catalog.Profile | None,
    name: str,
    *,
    vendor: str | None = None,
    model: str | None = None,
    device_class: str | None = None,
) -> Learned:
    """Raises capture.CaptureError (the file) or build.BuildError (the result), both naming the problem."""
    raw = macs.parse(mac)
    counts = capture.Counts()
    result = learner.learn(capture.read(path, counts), raw)
    if result.frames == 0:
        raise capture.CaptureError(f"{path}: no frame from or to {macs.format_mac(raw)} among {counts.frames}")
    text = macs.format_mac(raw)
    origin = f"learned from {path.name} (sha256 {_digest(path)[:16]}), device {text}"
    who = build.Identity(name, text, vendor, model, device_class, origin=origin)
    prof = build.build(result.found, base, who)
    skipped = dict(result.skipped)
    for what, count in (("not Ethernet", counts.not_ethernet), ("damaged records", counts.damaged)):
        if count:
            skipped[what] = count
    return Learned(prof, build.render(prof, result.found, base, who, result.frames, skipped), result, counts)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
