"""The local backend's storage: one YAML file of IoTDevice/IoTFleet manifests, the CRD format.

Why a plain manifest file: what the dashboard saves can be run by `iotemu run -f` or
`kubectl apply -f` unchanged, and read or diffed by a person. Two promises:

- a write is never half done: the new content goes to a temporary file in the same directory,
  is flushed to disk, then renamed over the old one (rename is atomic on POSIX);
- a file that does not load (bad YAML, an invalid document) is reported with its line and
  document and is never overwritten: `load` raises `StoreError` and the service refuses to start
  rather than replace a person's file with an empty one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from iot_emulator.config import bounded, manifests, models

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Resource = models.IoTDevice | models.IoTFleet
LIMITS = bounded.Limits(max_bytes=64 << 20, seconds=120.0)
"""The data file is ours, but a person may edit it: the alias and depth limits hold, the size is roomier."""
HEADER = "# IoT devices and fleets of the iotemu dashboard (CRD format: `iotemu run -f` or `kubectl apply -f`).\n"


class StoreError(RuntimeError):
    """The data file cannot be used; the message names the file, the line and the field."""


class StoreWriteError(StoreError):
    """The data file could not be rewritten (disk full, ...); the old file is left as it was."""


def parse(text: str, source: str) -> list[Resource]:
    """Every document of `text`, validated; problems name `source:line` and the field."""
    try:
        docs = bounded.load_all(text, LIMITS)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise StoreError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    except bounded.BadInput as exc:
        raise StoreError(f"{source}: {exc}") from exc
    resources: list[Resource] = []
    problems: list[str] = []
    for line, doc in docs:
        if doc is None:
            continue
        try:
            resources.extend(manifests.validate_documents([doc], f"{source}:{line}"))
        except manifests.ManifestError as exc:
            problems.extend(p.replace("document 1 ", "", 1) for p in exc.problems)
    if problems:
        raise StoreError("\n".join(problems))
    return resources


def dump(resources: Sequence[Resource]) -> str:
    # libyaml's emitter: the pure-Python one took 0.76 s of a 1 s Play All on 1,000 devices.
    body = yaml.dump_all(
        [models.to_manifest(r) for r in resources], Dumper=_DUMPER, sort_keys=False, explicit_start=True
    )
    return HEADER + (body if resources else "")


class ManifestStore:
    """Reads and atomically rewrites the data file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> list[Resource]:
        """The stored resources; [] when the file does not exist yet. Raises StoreError if unusable."""
        try:
            text = bounded.read_text(self.path, LIMITS)
        except FileNotFoundError:
            return []
        except (OSError, bounded.BadInput) as exc:
            raise StoreError(f"{self.path}: cannot read: {exc}") from exc
        return parse(text, str(self.path))

    def save(self, resources: Sequence[Resource]) -> None:
        """Replace the file's content whole (temp file, fsync, rename, fsync of the directory);
        StoreWriteError, naming the file and the cause, if that fails (the old file stays whole)."""
        try:
            bounded.write_atomic(self.path, dump(resources))
        except OSError as exc:
            raise StoreWriteError(f"{self.path}: cannot save: {exc.strerror or exc}") from exc
