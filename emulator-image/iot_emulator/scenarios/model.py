"""A scenario as data: a schedule of behaviours for a device, a fleet or a share of a fleet.

A scenario is YAML (a file for `--scenario`, the `scenario` field of an IoTDevice or IoTFleet, a
dashboard request body) validated here, every field bounded, every error naming its field. Which
members of a fleet a step targets is a pure function of the scenario's seed, the step and the
member's index (`targets`), so every process and pod hosting part of a fleet picks the same ones.

Field names are snake_case, as in the compromise behaviours (`scenarios.compromise`) this file
shares its `behaviour` union with.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from iot_emulator.scenarios import compromise

WEEK = 7 * 86400.0
MAX_STEPS = 100
MAX_REPEAT = 1000
NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DEVICE_NAME = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
"""A device id: a DNS label, or the seed brief's ids (`camera_01`)."""
Seconds = Annotated[float, Field(ge=0, le=WEEK, allow_inf_nan=False)]
Down = Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)]


ONE_WAY = "set one of devices, share, count"
REPEAT_NEEDS_EVERY = "repeat > 1 needs every"
CHURN_NEEDS_DURATION = "churn needs a duration"
NO_OVERLAP = "every must be at least the duration (repeats do not overlap)"


def _cel(*rules: tuple[str, str]) -> dict[str, Any]:
    """The same checks for the API server (models.cel's form; tests/operator/test_crds.py runs both)."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- lifecycle behaviours --------------------------------------------------------------------------


class BootStorm(_Strict):
    """Every target goes dark at once and, `down` seconds later, starts at once (a site's power returning)."""

    kind: Literal["boot_storm"] = "boot_storm"
    down: Down = Field(default=5, description="seconds without power before the storm")
    fresh: bool = Field(default=False, description="forget leases: DISCOVER instead of INIT-REBOOT")


class Churn(_Strict):
    """Targets leave (link down) and come back at random, for the step's `duration`."""

    kind: Literal["churn"] = "churn"
    interval: Annotated[float, Field(ge=1, le=86400)] = Field(
        default=300, description="mean seconds a device stays between departures (the fleet's rate: targets/interval)"
    )
    down_min: Down = Field(default=30, description="shortest absence, seconds")
    down_max: Down = Field(default=120, description="longest absence, seconds")
    release: bool = Field(default=False, description="send DHCPRELEASE when leaving (most devices just vanish)")

    @model_validator(mode="after")
    def _ordered(self) -> Churn:
        if self.down_min > self.down_max:
            raise ValueError("down_min must not exceed down_max")
        return self


class PowerCycle(_Strict):
    """Link down with no goodbye, `down` seconds dark, back up: DHCP INIT-REBOOT for the remembered lease."""

    kind: Literal["power_cycle"] = "power_cycle"
    down: Down = 10


class DhcpOverride(_Strict):
    """Parts of the DHCP fingerprint a firmware changes (profile.DhcpFingerprint's fields)."""

    parameter_request_list: list[Annotated[int, Field(ge=1, le=254)]] | None = Field(
        default=None, min_length=1, max_length=64, description="option 55"
    )
    vendor_class_id: Annotated[str, Field(max_length=255)] | None = Field(default=None, description="option 60")
    options: list[Annotated[int, Field(ge=1, le=254)]] | None = Field(
        default=None, min_length=1, max_length=64, description="option order"
    )
    max_message_size: Annotated[int, Field(ge=576, le=65535)] | None = Field(default=None, description="option 57")


class TlsOverride(_Strict):
    """Parts of the TLS ClientHello (JA3/JA4) a firmware changes (profile.TlsClientHello's fields)."""

    cipher_suites: list[Annotated[int, Field(ge=0, le=0xFFFF)]] | None = Field(
        default=None, min_length=1, max_length=128
    )
    extensions: list[Annotated[int, Field(ge=0, le=0xFFFF)]] | None = Field(default=None, max_length=64)
    supported_groups: list[Annotated[int, Field(ge=0, le=0xFFFF)]] | None = Field(default=None, max_length=32)
    alpn: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(default=None, max_length=8)


class FirmwareUpdate(_Strict):
    """New firmware: the device reboots (`down` seconds) with another profile's fingerprints, or these changes."""

    kind: Literal["firmware_update"] = "firmware_update"
    profile: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")] | None = Field(
        default=None, description="the profile the device becomes (its MAC and name stay)"
    )
    user_agent: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    dhcp: DhcpOverride | None = None
    tls: TlsOverride | None = None
    down: Down = Field(default=20, description="seconds the reboot takes")

    @model_validator(mode="after")
    def _changes_something(self) -> FirmwareUpdate:
        if self.profile is None and self.user_agent is None and self.dhcp is None and self.tls is None:
            raise ValueError("firmware_update needs profile, user_agent, dhcp or tls")
        return self


class NewDevice(_Strict):
    """The targets are absent from the scenario's start and appear at `at` (and leave after `duration`)."""

    kind: Literal["new_device"] = "new_device"


class MacRandomisation(_Strict):
    """The device leaves and comes back with a random locally administered MAC, as phones do per network."""

    kind: Literal["mac_randomisation"] = "mac_randomisation"
    down: Down = 5
    release: bool = Field(default=False, description="DHCPRELEASE from the old MAC before leaving")


Lifecycle = Annotated[
    BootStorm | Churn | PowerCycle | FirmwareUpdate | NewDevice | MacRandomisation, Field(discriminator="kind")
]
LIFECYCLE_KINDS = tuple(m.model_fields["kind"].default for m in get_args(get_args(Lifecycle)[0]))
COMPROMISE_KINDS = tuple(m.model_fields["kind"].default for m in get_args(get_args(compromise.CompromiseBehaviour)[0]))
KINDS = LIFECYCLE_KINDS + COMPROMISE_KINDS


def _family(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return "compromise" if kind in COMPROMISE_KINDS else "lifecycle"


FIELD_OF_ITS_KIND = "a behaviour field that its kind does not have (docs/scenarios.md lists each kind's)"


def _behaviour_schema() -> dict[str, Any]:
    """`behaviour` for the CRDs and the dashboard's OpenAPI: one object holding every kind's fields.

    A structural schema cannot hold a discriminated union, so the fields of all kinds are merged
    (bounds widened where two kinds share a name, no defaults: they differ by kind) and one CEL
    rule refuses a field its kind does not have; the models above check the rest."""
    members = [*get_args(get_args(Lifecycle)[0]), *get_args(get_args(compromise.CompromiseBehaviour)[0])]
    merged: dict[str, Any] = {}
    allowed: dict[str, list[str]] = {}
    for member in members:
        schema = member.model_json_schema()
        kind = member.model_fields["kind"].default
        allowed[kind] = list(schema["properties"])
        for name, sub in schema["properties"].items():
            if name != "kind":
                sub = _plain(sub, schema.get("$defs", {}))
                merged[name] = _widen(merged[name], sub, name) if name in merged else sub
    # A structural object is not a map in CEL (`self.all(f, ...)` does not compile in the API server):
    # each field is tested with has(), against the kinds that have it.
    rule = " && ".join(
        f"(!has(self.{name}) || self.kind in [{', '.join(repr(k) for k, names in allowed.items() if name in names)}])"
        for name in merged
    )
    return {
        "type": "object",
        "description": "what the targets do: `kind` and that kind's fields (docs/scenarios.md)",
        "required": ["kind"],
        "properties": {"kind": {"type": "string", "enum": list(KINDS)}, **merged},
        "x-kubernetes-validations": [{"rule": rule, "message": FIELD_OF_ITS_KIND}],
    }


def _plain(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with $refs inlined, `X or null` as X, and no titles or defaults."""
    if isinstance(node, list):
        return [_plain(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        real = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(real) == 1:
            return _plain({**real[0], **{k: v for k, v in node.items() if k != "anyOf"}}, defs)
    return {k: _plain(v, defs) for k, v in node.items() if k not in ("title", "default")}


def _widen(a: dict[str, Any], b: dict[str, Any], name: str) -> dict[str, Any]:
    """One schema accepting what `a` or `b` accepts (same type; enums joined, bounds widened)."""
    if a == b:
        return a
    if a.get("type") != b.get("type"):
        raise TypeError(f"behaviour field {name} has two types: {a.get('type')} and {b.get('type')}")
    out = {**b, **a}
    if "enum" in a or "enum" in b:
        out["enum"] = [*a.get("enum", []), *[v for v in b.get("enum", []) if v not in a.get("enum", [])]]
    for key, pick in (
        ("minimum", min),
        ("exclusiveMinimum", min),
        ("maximum", max),
        ("minLength", min),
        ("maxLength", max),
        ("minItems", min),
        ("maxItems", max),
    ):
        if key in a and key in b:
            out[key] = pick(a[key], b[key])
        elif key in out:
            del out[key]  # one kind leaves it unbounded
    if "items" in a and "items" in b:
        out["items"] = _widen(a["items"], b["items"], f"{name}[]")
    return out


Behaviour = Annotated[
    Annotated[Lifecycle, Tag("lifecycle")] | Annotated[compromise.CompromiseBehaviour, Tag("compromise")],
    Discriminator(_family),
    Field(json_schema_extra=lambda schema: _replace(schema, _behaviour_schema())),
]


def _replace(schema: dict[str, Any], new: dict[str, Any]) -> None:
    schema.clear()
    schema.update(new)


class Target(_Strict):
    """Which devices a step acts on: by name, a share or a count of the members; default all."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("(has(self.devices) ? 1 : 0) + (has(self.share) ? 1 : 0) + (has(self.count) ? 1 : 0) <= 1", ONE_WAY)
        )
    )

    devices: list[Annotated[str, Field(pattern=DEVICE_NAME)]] | None = Field(
        default=None, min_length=1, max_length=10000, description="device ids"
    )
    share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="each member is chosen with this probability (by the seed: the same ones each run)"
    )
    count: Annotated[int, Field(ge=1, le=100000)] | None = Field(
        default=None, description="this many members, chosen by the seed"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Target:
        if sum(v is not None for v in (self.devices, self.share, self.count)) > 1:
            raise ValueError(ONE_WAY)
        return self


class Step(_Strict):
    """One behaviour, when, for whom; `repeat` times every `every` seconds."""

    model_config = ConfigDict(
        json_schema_extra=_cel(
            ("!has(self.repeat) || self.repeat <= 1 || has(self.every)", REPEAT_NEEDS_EVERY),
            ("self.behaviour.kind != 'churn' || has(self.duration)", CHURN_NEEDS_DURATION),
            ("!has(self.every) || !has(self.duration) || self.every >= self.duration", NO_OVERLAP),
        )
    )

    name: Annotated[str, Field(min_length=1, max_length=63)] | None = Field(
        default=None, description="label in messages; default: the step's number from 1"
    )
    at: Seconds = Field(description="seconds from the scenario's start")
    duration: Annotated[float, Field(gt=0, le=WEEK, allow_inf_nan=False)] | None = Field(
        default=None, description="how long the behaviour lasts (churn, compromise, a new device's visit)"
    )
    repeat: Annotated[int, Field(ge=1, le=MAX_REPEAT)] = 1
    every: Annotated[float, Field(gt=0, le=WEEK, allow_inf_nan=False)] | None = Field(
        default=None, description="seconds between repeats; needed when repeat > 1"
    )
    target: Target = Target()
    behaviour: Behaviour

    @field_validator("behaviour", mode="before")
    @classmethod
    def _kind_known(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("kind") not in KINDS:
            raise ValueError(f"kind: {value.get('kind')!r} is not a behaviour; known: {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        kind = self.behaviour.kind
        if self.repeat > 1 and self.every is None:
            raise ValueError(REPEAT_NEEDS_EVERY)
        if self.repeat > 1 and kind == "new_device":
            raise ValueError("new_device happens once: repeat must be 1")
        if kind == "churn" and self.duration is None:
            raise ValueError(CHURN_NEEDS_DURATION)
        if self.duration is not None and kind in ("boot_storm", "power_cycle", "firmware_update", "mac_randomisation"):
            raise ValueError(f"{kind} takes no duration (its down time is `behaviour.down`)")
        if self.every is not None and self.duration is not None and self.every < self.duration:
            raise ValueError(NO_OVERLAP)
        if self.at + (self.repeat - 1) * (self.every or 0) > WEEK:
            raise ValueError("the last repeat starts more than a week after the scenario's start")
        return self


class Scenario(_Strict):
    """A named schedule of steps; `seed` picks the targets of share/count steps and every random choice."""

    name: Annotated[str, Field(pattern=NAME, max_length=63)]
    description: Annotated[str, Field(max_length=1024)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def step_label(self, number: int) -> str:
        step = self.steps[number]
        return step.name or str(number + 1)


def targets(scenario: Scenario, number: int, device_id: str, index: int, population: int) -> bool:
    """Whether step `number` acts on member `index` (of `population`) named `device_id`."""
    target = scenario.steps[number].target
    if target.devices is not None:
        return device_id in target.devices
    if target.share is not None:
        return _unit(f"{scenario.seed}/{scenario.name}/{number}/{index}") < target.share
    if target.count is not None:
        return index in _chosen(f"{scenario.seed}/{scenario.name}/{number}", target.count, population)
    return True


def for_member(scenario: Scenario, device_id: str, index: int, population: int) -> Scenario | None:
    """The scenario as one member runs it: its steps only, named as in the whole (None: no step is its)."""
    steps = [
        step.model_copy(update={"name": scenario.step_label(n), "target": Target()})
        for n, step in enumerate(scenario.steps)
        if targets(scenario, n, device_id, index, population)
    ]
    return scenario.model_copy(update={"steps": steps}) if steps else None


@functools.lru_cache(maxsize=64)
def _chosen(key: str, count: int, population: int) -> frozenset[int]:
    """`count` member indices of `population`, the same for the same key (every member asks: computed once)."""
    return frozenset(random.Random(key).sample(range(population), min(count, population)))


def clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    """An error's location without the union's tags (`behaviour.lifecycle.power_cycle.down` -> `behaviour.down`)."""
    out: list[int | str] = []
    for part in loc:
        if part in ("lifecycle", "compromise") or (part in KINDS and out and out[-1] == "behaviour"):
            continue
        out.append(part)
    return out


def error_lines(exc: ValidationError, prefix: str = "") -> list[str]:
    """One `field.path: message` line per problem."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in clean_loc(err["loc"])) or "(root)"
        lines.append(f"{prefix}{where}: {err['msg'].removeprefix('Value error, ')}")
    return lines


class ScenarioError(ValueError):
    """A scenario file that cannot be used, one problem per line, each naming its field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def parse(text: str, source: str = "<scenario>") -> Scenario:
    """A scenario from YAML (bounded in size and depth); ScenarioError names each bad field."""
    from iot_emulator.config import bounded

    try:
        data = bounded.load(text)
    except (yaml.YAMLError, bounded.BadInput) as exc:
        raise ScenarioError([f"{source}: not a valid YAML document: {exc}"]) from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(error_lines(exc, f"{source}: ")) from None


def load(path: Path) -> Scenario:
    from iot_emulator.config import bounded

    try:
        text = bounded.read_text(path)
    except (OSError, bounded.BadInput) as exc:
        raise ScenarioError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, str(path))


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
