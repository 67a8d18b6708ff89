"""What the API server checks when a custom resource is applied, for tests: schema, then CEL rules.

Defaults are applied first, as the API server does. The schema part is jsonschema on the CRD's
openAPIV3Schema (OpenAPI's `nullable` spelled as JSON Schema's `type: [X, "null"]`, unknown fields
refused as kubectl's default `--validate=strict` does); the CEL part evaluates each
`x-kubernetes-validations` rule with cel-python on the node it sits on, skipping absent and null
nodes as the API server does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import celpy
import jsonschema


def _nullable_to_jsonschema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _nullable_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False  # kubectl's default --validate=strict: unknown fields fail
        if out.pop("nullable", False):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_nullable_to_jsonschema(v) for v in node]
    return node


def rules(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, rule, message) of every CEL rule in a schema."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path or ".", rule["rule"], rule["message"]
    for name, sub in schema.get("properties", {}).items():
        yield from rules(sub, f"{path}.{name}")
    if "items" in schema:
        yield from rules(schema["items"], f"{path}[]")


def _nodes(schema: dict[str, Any], value: Any, path: str) -> Iterator[tuple[str, dict[str, Any], Any]]:
    if value is None:
        return
    yield path or ".", schema, value
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                yield from _nodes(sub, value[name], f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for item in value:
            yield from _nodes(schema["items"], item, f"{path}[]")


_ENV = celpy.Environment()


def defaulted(schema: dict[str, Any], value: Any) -> Any:
    """The value with the schema's defaults filled in, as the API server does before validating."""
    if isinstance(value, dict):
        value = dict(value)
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = defaulted(sub, value[name])
    elif isinstance(value, list) and "items" in schema:
        value = [defaulted(schema["items"], item) for item in value]
    return value


def failed_rules(schema: dict[str, Any], document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(path, rule, message) of every CEL rule the (defaulted) document breaks."""
    broken = []
    for path, node_schema, value in _nodes(schema, defaulted(schema, document), ""):
        for rule in node_schema.get("x-kubernetes-validations", []):
            program = _ENV.program(_ENV.compile(rule["rule"]))
            if not bool(program.evaluate({"self": celpy.json_to_cel(value)})):
                broken.append((path, rule["rule"], rule["message"]))
    return broken


def schema_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    converted = _nullable_to_jsonschema(copy.deepcopy(schema))
    validator = jsonschema.Draft4Validator(converted, format_checker=jsonschema.FormatChecker())
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def problems(crd: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Why the API server would refuse the document (empty: it would accept it)."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    errors = schema_errors(schema, document)
    return errors or [message for _, _, message in failed_rules(schema, document)]
