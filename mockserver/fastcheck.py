"""A quick yes for valid request bodies, compiled once per schema; jsonschema still words every refusal.

jsonschema resolves `$ref`s and builds a validator object per subschema on every call: about a third of a
generate-async accept. Most bodies clients send are valid, and for those the answer is simply "no errors". So each
body schema is also compiled into plain Python predicates that say True only when the body certainly passes;
anything else (an invalid body, or a value the predicates do not decide, such as `2.0` for an integer) goes to
jsonschema as before, which produces the errors. A schema that uses a keyword compiled here does not understand
gets no predicate at all, so the answers never differ: the predicates only ever skip work whose result is empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

Check = Callable[[Any], bool]
# Keywords jsonschema acts on; any other key is an annotation both sides ignore.
_ACTIVE = frozenset(Draft202012Validator.VALIDATORS)
_TYPES: dict[str, Check] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,  # a float such as 2.0 passes jsonschema too: left to it
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "null": lambda v: v is None,
}


class Unsupported(Exception):
    """The schema says something these predicates do not decide."""


def compile_schema(schema: Any, doc: dict[str, Any], formats: FormatChecker) -> Check | None:
    """A predicate that is True only for instances `schema` certainly accepts; None when it cannot be built."""
    try:
        return _Compiler(doc, formats).compile(schema)
    except Unsupported:
        return None


class _Compiler:
    def __init__(self, doc: dict[str, Any], formats: FormatChecker) -> None:
        self.doc = doc
        self.formats = formats
        self.resolving: set[str] = set()

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return lambda v: True
        if not isinstance(schema, dict):
            raise Unsupported(schema)
        fused = self._fused(schema)
        if fused is not None:
            return fused
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ACTIVE:
                checks.append(self._keyword(key, value, schema))
        if len(checks) == 1:
            return checks[0]

        def every(v: Any) -> bool:
            for check in checks:  # noqa: SIM110 (a loop, not a generator made per call: runs per request)
                if not check(v):
                    return False
            return True

        return every

    def _fused(self, schema: dict[str, Any]) -> Check | None:
        """The shapes request bodies are mostly made of, as one predicate instead of one per keyword: the same
        conjunction `compile` builds, in fewer calls (it runs for every property of every body). None for any
        other shape."""
        active = {key for key in schema if key in _ACTIVE}
        kind = schema.get("type")
        if kind == "string" and active <= {"type", "minLength", "maxLength"}:
            shortest = _count(schema.get("minLength", 0))
            longest = _count(schema["maxLength"]) if "maxLength" in schema else None
            if longest is None:
                return lambda v: type(v) is str and len(v) >= shortest
            return lambda v: type(v) is str and shortest <= len(v) <= longest
        if kind == "integer" and active <= {"type", "minimum", "maximum"}:
            low: Any = schema.get("minimum")
            high: Any = schema.get("maximum")
            if type(low) not in (int, float) or type(high) not in (int, float):
                return None  # an open end: left to the general case
            return lambda v: type(v) is int and low <= v <= high
        if kind == "object" and active <= {"type", "required", "properties", "additionalProperties"}:
            names = schema.get("required", [])
            props = schema.get("properties", {})
            closed = schema.get("additionalProperties", True)
            if (
                not isinstance(names, list)
                or not all(isinstance(n, str) for n in names)
                or not isinstance(props, dict)
                or type(closed) is not bool
            ):
                return None
            required = tuple(names)
            checks = {name: self.compile(sub) for name, sub in props.items()}
            get = checks.get

            def shaped(v: Any) -> bool:
                if type(v) is not dict:
                    return False
                for name in required:
                    if name not in v:
                        return False
                for name, item in v.items():  # a body names few of the properties a schema lists
                    check = get(name)
                    if check is None:
                        if closed is False:
                            return False
                    elif not check(item):
                        return False
                return True

            return shaped
        return None

    def _keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check:
        if key == "$ref":
            return self._ref(value)
        if key == "type":
            kinds = value if isinstance(value, list) else [value]
            if not kinds or any(k not in _TYPES for k in kinds):
                raise Unsupported(value)
            tests = [_TYPES[k] for k in kinds]
            return tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests))
        if key == "enum":
            if not isinstance(value, list) or not all(type(m) is str for m in value):
                raise Unsupported(value)
            members = frozenset(value)
            return lambda v: type(v) is str and v in members
        if key in ("minLength", "maxLength"):
            n = _count(value)
            if key == "minLength":
                return lambda v: type(v) is not str or len(v) >= n
            return lambda v: type(v) is not str or len(v) <= n
        if key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if type(value) not in (int, float):
                raise Unsupported(value)
            bound = value
            compare: Callable[[Any], bool] = {
                "minimum": lambda v: v >= bound,
                "maximum": lambda v: v <= bound,
                "exclusiveMinimum": lambda v: v > bound,
                "exclusiveMaximum": lambda v: v < bound,
            }[key]
            return lambda v: not (type(v) is int or type(v) is float) or compare(v)
        if key in ("minItems", "maxItems"):
            n = _count(value)
            if key == "minItems":
                return lambda v: type(v) is not list or len(v) >= n
            return lambda v: type(v) is not list or len(v) <= n
        if key == "uniqueItems":
            if value is not True:
                return lambda v: True
            # decided only for strings and (non-bool) integers, where equality is plain equality
            return lambda v: (
                type(v) is not list or (all(type(x) is str or type(x) is int for x in v) and len(set(v)) == len(v))
            )
        if key == "items":
            item = self.compile(value)
            return lambda v: type(v) is not list or all(item(x) for x in v)
        if key == "required":
            if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
                raise Unsupported(value)
            names = tuple(value)
            return lambda v: type(v) is not dict or all(n in v for n in names)
        if key == "properties":
            if not isinstance(value, dict):
                raise Unsupported(value)
            props = {name: self.compile(sub) for name, sub in value.items()}

            def named(v: Any) -> bool:
                if type(v) is not dict:
                    return True
                for name, item in v.items():  # a body names few of the properties a schema lists
                    check = props.get(name)
                    if check is not None and not check(item):
                        return False
                return True

            return named
        if key == "additionalProperties":
            if "patternProperties" in schema:
                raise Unsupported(key)
            known = frozenset(schema.get("properties", {}))
            if value is False:
                return lambda v: type(v) is not dict or all(k in known for k in v)
            extra = self.compile(value)
            return lambda v: type(v) is not dict or all(extra(x) for k, x in v.items() if k not in known)
        if key in ("minProperties", "maxProperties"):
            n = _count(value)
            if key == "minProperties":
                return lambda v: type(v) is not dict or len(v) >= n
            return lambda v: type(v) is not dict or len(v) <= n
        if key == "propertyNames":
            name_ok = self.compile(value)
            return lambda v: type(v) is not dict or all(name_ok(k) for k in v)
        if key == "allOf":
            if not isinstance(value, list):
                raise Unsupported(value)
            parts = [self.compile(sub) for sub in value]
            return lambda v: all(part(v) for part in parts)
        if key == "pattern":
            regex = re.compile(value)
            return lambda v: type(v) is not str or regex.search(v) is not None
        if key == "format":
            formats, name = self.formats, value
            return lambda v: formats.conforms(v, name)
        raise Unsupported(key)

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in self.resolving:
            raise Unsupported(ref)  # remote or recursive
        target: Any = self.doc
        for part in ref[2:].split("/"):
            if not isinstance(target, dict) or part not in target:
                raise Unsupported(ref)
            target = target[part]
        self.resolving.add(ref)
        try:
            return self.compile(target)
        finally:
            self.resolving.discard(ref)


def _count(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise Unsupported(value)
    return value
