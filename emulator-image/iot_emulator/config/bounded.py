"""YAML and JSON readers with limits, for every document that comes from outside the process.

Why: a 667-byte YAML "billion laughs" (nested aliases) is cheap for PyYAML to compose, because
aliases share nodes, but everything after it (validation, dumping) walks the expansion: 10^9
nodes, gigabytes, minutes. The limits are checked while composing, before any Python object is
built: the text's size, the nesting depth, the number of nodes aliases would add once expanded
(subtree sizes are memoised per node, so counting never expands anything) and a time budget.
JSON has no aliases, but the same size and depth caps, and no NaN/Infinity (they are not JSON,
and they poison numeric fields).

The other way, `write_atomic` is how every file the project keeps (a manifest store, a token, a
lab record, the lease cache) is replaced: readers see the old file or the new one, never a part.

Errors are `yaml.MarkedYAMLError` (YAML, with the line: PyYAML's own errors are caught there
already) or `BadInput` (a `ValueError`), each message naming the limit or the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from yaml import nodes


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """What one document set may cost; the defaults are far above any real manifest file."""

    max_bytes: int = 8 << 20
    """Size of the text (a 10,000-device manifest of single IoTDevices is ~2.5 MB)."""
    max_depth: int = 64
    """Nesting of mappings and sequences (a manifest needs about 6)."""
    max_alias_nodes: int = 100_000
    """Nodes that aliases add once expanded (`<<: *defaults` merges stay far below)."""
    seconds: float = 30.0
    """Time to compose the text (a 8 MB manifest takes a few seconds)."""


DEFAULT = Limits()


class BadInput(ValueError):
    """The input cannot be read: not UTF-8, or not JSON's numbers."""


class LimitError(BadInput):
    """The input is larger, deeper or slower to read than its limits allow."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, counting what composing costs and stopping at the limits."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self._limits = limits
        self._depth = 0
        self._alias_nodes = 0
        self._sizes: dict[int, int] = {}
        self._deadline = time.monotonic() + limits.seconds

    def compose_node(self, parent: nodes.Node | None, index: int) -> nodes.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._alias_nodes += self._size(target)
                if self._alias_nodes > self._limits.max_alias_nodes:
                    self._fail(event, f"aliases expand to more than {self._limits.max_alias_nodes} nodes")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self._limits.max_depth:
                self._fail(event, f"nested deeper than {self._limits.max_depth} levels")
            if time.monotonic() > self._deadline:
                self._fail(event, f"took longer than {self._limits.seconds:g} s to read")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _size(self, node: nodes.Node) -> int:
        """Nodes under `node` once every alias is expanded, without expanding (memoised, iterative)."""
        stack: list[tuple[nodes.Node, bool]] = [(node, False)]
        while stack:
            current, children_done = stack.pop()
            if id(current) in self._sizes:
                continue
            children = _children(current)
            if children_done or not children:
                self._sizes[id(current)] = 1 + sum(self._sizes.get(id(c), 0) for c in children)
                continue
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in self._sizes)
        return self._sizes[id(node)]

    @staticmethod
    def _fail(event: yaml.Event, problem: str) -> None:
        raise yaml.MarkedYAMLError(problem=problem, problem_mark=event.start_mark)  # type: ignore[arg-type]


def _children(node: nodes.Node) -> list[nodes.Node]:
    if isinstance(node, nodes.SequenceNode):
        return list(node.value)
    if isinstance(node, nodes.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_size(text: str | bytes, limits: Limits) -> None:
    if len(text) > limits.max_bytes:
        raise LimitError(f"larger than {limits.max_bytes} bytes")


def load_all(text: str, limits: Limits = DEFAULT) -> list[tuple[int, Any]]:
    """Every document of a YAML stream with its first line (from 1), None documents included."""
    _check_size(text, limits)
    loader = _Loader(text, limits)
    docs: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            docs.append((node.start_mark.line + 1, loader.construct_document(node)))
    except RecursionError as exc:  # a limit below Python's own, but a custom tag could still recurse
        raise LimitError("nested too deeply") from exc
    finally:
        loader.dispose()
    for _, doc in docs:
        check_strings(doc)
    return docs


def load(text: str, limits: Limits = DEFAULT) -> Any:
    """One YAML document (None when the text has none)."""
    docs = load_all(text, limits)
    if len(docs) > 1:
        raise yaml.MarkedYAMLError(problem="expected one document, found several")
    return docs[0][1] if docs else None


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not a JSON number")


def load_json(text: str | bytes, limits: Limits = DEFAULT) -> Any:
    """A JSON document; NaN and Infinity refused; raises ValueError (json.JSONDecodeError for syntax)."""
    _check_size(text, limits)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError as exc:
        raise LimitError("nested too deeply") from exc
    if check_strings(value) > limits.max_depth:
        raise LimitError(f"nested deeper than {limits.max_depth} levels")
    return value


def check_strings(value: Any) -> int:
    """Refuses lone surrogates (`"\\ud800"` is valid JSON and YAML, but no UTF-8 can carry it to a file,
    a log or a response); returns the nesting depth. Iterative: depth is what it measures."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise BadInput(f"a string holds a lone surrogate ({current[exc.start]!r})") from None
        elif isinstance(current, dict):
            deepest = max(deepest, depth)
            stack.extend((part, depth + 1) for pair in current.items() for part in pair)
        elif isinstance(current, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in current)
    return deepest


def read_text(path: Path, limits: Limits = DEFAULT) -> str:
    """A file's UTF-8 text, reading at most `max_bytes` + 1 bytes (`/dev/zero` ends here too)."""
    with path.open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)
    _check_size(data, limits)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"not UTF-8 text (byte {exc.start})") from exc


def write_atomic(path: Path, text: str, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace `path` with `text` whole: a temp file beside it (created `mode`, never wider meanwhile),
    renamed over it. `durable` also fsyncs the file and the directory, so a crash leaves the old file
    or the new; the lease cache, rewritten every second from the engine's loop, passes False."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)  # created 0600
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
