"""The cadence of recurring sessions -> `catalog.Schedule`: interval, jitter, burst, burst spacing.

Sessions of one protocol to one target are grouped into occurrences (sessions closer than
BURST_GAP are one burst); the interval is the median gap between occurrences, less the burst's
own length (`protocols.schedule.Ticker` counts the interval from the burst's last session); the
jitter is the largest deviation from it, as a fraction. Three occurrences at least, else nothing
is learned: a capture shorter than two intervals shows no cadence.
"""

from __future__ import annotations

import itertools
import statistics

from iot_emulator.learn import findings

BURST_GAP = 3.0
"""Seconds: sessions closer than this belong to one occurrence (bursts spaced wider read as occurrences)."""
MIN_OCCURRENCES = 3


def occurrences(times: list[float]) -> list[list[float]]:
    groups: list[list[float]] = []
    for t in sorted(times):
        if groups and t - groups[-1][-1] < BURST_GAP:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def schedule(times: list[float]) -> dict[str, float | int] | None:
    """A `catalog.Schedule` as a dict, or None when the times show fewer than three occurrences."""
    groups = occurrences(times)
    if len(groups) < MIN_OCCURRENCES:
        return None
    burst = round(statistics.median(len(g) for g in groups))
    inside = [b - a for g in groups for a, b in itertools.pairwise(g)]
    spacing = round(statistics.median(inside), 2) if inside and burst > 1 else 0.1
    gaps = [b[0] - a[0] - (burst - 1) * spacing for a, b in itertools.pairwise(groups)]
    interval = statistics.median(gaps)
    if interval <= 0:
        return None
    jitter = min(1.0, max(abs(g - interval) for g in gaps) / interval)
    out: dict[str, float | int] = {"interval": round(min(interval, 86400.0), 1), "jitter": round(jitter, 2)}
    if burst > 1:
        out.update(burst=min(burst, 1000), burst_spacing=min(spacing, 60.0))
    return out


def learn(events: dict[str, dict[str, list[float]]]) -> findings.Findings:
    """`events`: protocol (schedule key) -> target -> session start times."""
    out = findings.Findings()
    for protocol, targets in events.items():
        if not targets:
            continue
        target, times = max(targets.items(), key=lambda item: len(item[1]))
        learned = schedule(times)
        if learned is None:
            out.notes.append(
                f"{protocol}: {len(occurrences(times))} occurrence(s) seen, too few for a cadence: "
                f"schedule.{protocol} is the base's"
            )
            continue
        out.set(f"schedule.{protocol}", learned, f"{len(occurrences(times))} occurrences of sessions to {target}")
    return out
