"""Operations as the specs declare them: the request body's schema and the query and header parameters, checked
the same way for every surface.

An `Operation` is found by its `operationId`. Problems come out in the pydantic-v1 shape `spec.describe` uses,
with `loc` starting at "query" or "header" (parameters) or "body"; each surface words them in its own format.
Only parameters a request carries are checked: a missing credential header is the surface's auth check's
business, and a missing optional parameter takes its default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.requests import Request

from .spec import Spec, describe

Problem = dict[str, Any]
Describe = Callable[[ValidationError], Problem]
_PLAIN_STRING = frozenset({"type", "enum", "default", "description", "example", "examples"})
_INTEGER = re.compile(r"[+-]?\d{1,18}")
COERCE = "type_error.coerce"  # a query value that is not text of the declared type; ctx.expected says what is
DATETIME = "value_error.datetime"  # a `format: date-time` value that is not an ISO 8601 date-time


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # "query" | "header"
    schema: dict[str, Any]
    validator: Draft202012Validator
    allow_empty: bool  # OpenAPI's allowEmptyValue: an empty value counts as absent
    # For a plain string schema (with or without an enum) the values it takes, checked without jsonschema (the
    # validator then only describes a refusal): None when any string goes, or when the schema says more.
    strings: frozenset[str] | None
    simple: bool
    key: bytes  # a header's name as ASGI hands it over (lower-case latin-1)


class Operation:
    def __init__(self, spec: Spec, op: dict[str, Any], describe_error: Describe) -> None:
        self.spec = spec
        self.id: str = op["operationId"]
        self.params: list[Param] = []
        for raw in op.get("parameters", []):
            param = _inline(raw, spec.doc)
            if param.get("in") in ("query", "header"):
                schema = _inline(param.get("schema", {}), spec.doc)
                validator = Draft202012Validator(schema)
                empty = bool(param.get("allowEmptyValue"))
                simple = schema.get("type") == "string" and set(schema) <= _PLAIN_STRING
                strings = frozenset(schema["enum"]) if simple and "enum" in schema else None
                key = param["name"].lower().encode("latin-1")
                self.params.append(Param(param["name"], param["in"], schema, validator, empty, strings, simple, key))
        self._query = any(p.where == "query" for p in self.params)
        self._header_keys = frozenset(p.key for p in self.params if p.where == "header")
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        self.body_schema: str | None = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None
        # compiled at start-up, not on the first request; the quick yes is asked first, here, for every body
        self._quick = spec.quick(self.body_schema) if self.body_schema is not None else None
        self._describe = describe_error

    def parameters(self, request: Request, defaults: bool = False) -> tuple[dict[str, Any], list[Problem]]:
        """The parameters the request carries, typed as declared (`format: date-time` as a timestamp), and with
        `defaults` the declared defaults of absent ones; and the problems, in the order the spec lists them."""
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        query = request.query_params if self._query else None
        # One pass over the raw headers for every declared header parameter: as Starlette's Headers.get, the first
        # header of each name counts
        sent: dict[bytes, bytes] = {}
        wanted = self._header_keys
        for key, value in request.scope["headers"]:
            if key in wanted and key not in sent:
                sent[key] = value
        for param in self.params:
            if query is not None and param.where == "query":
                raw = query.get(param.name)
            else:
                value_bytes = sent.get(param.key)
                raw = value_bytes.decode("latin-1") if value_bytes is not None else None
            if raw is None or (raw == "" and param.allow_empty):
                if defaults and "default" in param.schema:
                    values[param.name] = param.schema["default"]
                continue
            if param.simple and (param.strings is None or raw in param.strings):
                values[param.name] = raw  # the common case, on every request: no jsonschema call
                continue
            try:
                value = _coerce(raw, param.schema)
            except ValueError as exc:
                problems.append(
                    {
                        "loc": [param.where, param.name],
                        "msg": f"value is not {exc}",
                        "type": COERCE,
                        "ctx": {"expected": str(exc)},
                    }
                )
                continue
            error = next(iter(param.validator.iter_errors(value)), None)
            if error is not None:
                found = self._describe(error)
                found["loc"] = [param.where, param.name, *error.absolute_path]
                problems.append(found)
                continue
            if param.schema.get("format") == "date-time":
                value = _parse_time(raw)
                if value is None:
                    problems.append(
                        {"loc": [param.where, param.name], "msg": "invalid datetime format", "type": DATETIME}
                    )
                    continue
            values[param.name] = value
        return values, problems

    def body_errors(self, body: Any) -> list[Problem]:
        """The body's problems against the operation's request schema (none when it declares no JSON body)."""
        if self.body_schema is None:
            return []
        quick = self._quick
        return [] if quick is not None and quick(body) else self.spec.violations(self.body_schema, body)


def operations(spec: Spec, describe_error: Describe = describe) -> dict[str, Operation]:
    """Every operation of a spec, by operationId."""
    found: dict[str, Operation] = {}
    for item in spec.doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict) and "operationId" in op:
                found[op["operationId"]] = Operation(spec, op, describe_error)
    return found


def _inline(node: Any, doc: dict[str, Any]) -> Any:
    """Replace local `$ref`s by what they point at (parameter schemas are small and not recursive)."""
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#/"):
            target: Any = doc
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return _inline(target, doc)
        return {k: _inline(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, doc) for v in node]
    return node


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """A parameter's text as the type its schema declares; ValueError says what was expected."""
    kind = schema.get("type")
    if kind == "integer":
        if not _INTEGER.fullmatch(raw):
            raise ValueError("an integer")
        return int(raw)
    if kind == "number":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("a number") from None
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return value
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError("true or false")
        return raw == "true"
    if kind == "array":
        return raw.split(",")
    return raw


def _parse_time(raw: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(raw.strip().upper())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
