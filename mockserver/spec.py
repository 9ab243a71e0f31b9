"""The project's OpenAPI specs: loaded once at start-up, compiled into JSON-Schema validators for request bodies.

Validation errors are reported in the pydantic-v1 shape Firefly uses (`loc`, `msg`, `type`, `ctx`); other
providers reshape them as they need.
"""

from __future__ import annotations

import itertools
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .fastcheck import Check, compile_schema

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_ERRORS = 20  # validation errors reported per request body

# jsonschema's own format checks (uri when its optional rfc3986/rfc3987 checker is installed, uuid, ...) plus
# pydantic's `uuid4`, which Adobe's specs use and JSON Schema does not define.
FORMATS = FormatChecker()


@FORMATS.checks("uuid4", raises=ValueError)
def _is_uuid4(value: object) -> bool:
    return not isinstance(value, str) or uuid.UUID(value).version == 4


class Spec:
    """One OpenAPI document: its raw text (served as-is) and validators for its component schemas."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.doc: dict[str, Any] = yaml.load(self.text, Loader=_LOADER)
        uri = f"urn:mockserver:{path.name}"
        self._uri = uri
        self._registry = Registry().with_resource(uri, Resource.from_contents(self.doc, DRAFT202012))
        self._validators: dict[str, Draft202012Validator] = {}
        self._quick: dict[str, Check | None] = {}  # a quick yes for valid bodies (fastcheck), per schema

    def validator(self, schema_name: str) -> Draft202012Validator:
        found = self._validators.get(schema_name)
        if found is None:
            if schema_name not in self.doc.get("components", {}).get("schemas", {}):
                raise KeyError(f"{self.path.name} has no schema {schema_name}")
            found = Draft202012Validator(
                {"$ref": f"{self._uri}#/components/schemas/{schema_name}"},
                registry=self._registry,
                format_checker=FORMATS,
            )
            self._validators[schema_name] = found
            self._quick[schema_name] = compile_schema(self.doc["components"]["schemas"][schema_name], self.doc, FORMATS)
        return found

    def quick(self, schema_name: str) -> Check | None:
        """The schema's quick yes (`fastcheck`), or None when it has none: True only for instances it accepts."""
        self.validator(schema_name)
        return self._quick[schema_name]

    def errors(self, schema_name: str, instance: Any) -> list[dict[str, Any]]:
        """The violations, as pydantic-v1-style error dicts with `loc` starting at "body": at most MAX_ERRORS of
        them, so a body with 200,000 bad items costs no more than one with a few."""
        quick = self.quick(schema_name)
        return [] if quick is not None and quick(instance) else self.violations(schema_name, instance)

    def violations(self, schema_name: str, instance: Any) -> list[dict[str, Any]]:
        """`errors` without its quick yes asked first (for a caller that asked it already)."""
        validator = self.validator(schema_name)
        found = sorted(
            itertools.islice(validator.iter_errors(instance), MAX_ERRORS),
            key=lambda e: list(map(str, e.path)),
        )
        return [describe(e) for e in _leaves(found)[:MAX_ERRORS]]


def _leaves(errors: list[ValidationError]) -> list[ValidationError]:
    """Replace $ref/allOf wrapper errors by the specific errors beneath them."""
    out: list[ValidationError] = []
    for error in errors:
        if error.validator in {"allOf", "$ref"} and error.context:
            out.extend(_leaves(list(error.context)))
        else:
            out.append(error)
    return out


_TYPE_NAMES = {
    "integer": ("value is not a valid integer", "type_error.integer"),
    "number": ("value is not a valid float", "type_error.float"),
    "string": ("str type expected", "type_error.str"),
    "boolean": ("value could not be parsed to a boolean", "type_error.bool"),
    "array": ("value is not a valid list", "type_error.list"),
    "object": ("value is not a valid dict", "type_error.dict"),
}


def describe(error: ValidationError) -> dict[str, Any]:
    loc: list[Any] = ["body", *error.absolute_path]
    kind: Any = error.validator
    value: Any = error.validator_value
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return {"loc": [*loc, missing], "msg": "field required", "type": "value_error.missing"}
    if kind == "enum":
        permitted = ", ".join(f"'{v}'" for v in value)
        return {
            "loc": loc,
            "msg": f"value is not a valid enumeration member; permitted: {permitted}",
            "type": "type_error.enum",
            "ctx": {"enum_values": list(value)},
        }
    if kind == "type":
        wanted = value[0] if isinstance(value, list) else value
        msg, typ = _TYPE_NAMES.get(wanted, (error.message, "type_error"))
        return {"loc": loc, "msg": msg, "type": typ}
    limits = {
        "minLength": ("ensure this value has at least {} characters", "value_error.any_str.min_length"),
        "maxLength": ("ensure this value has at most {} characters", "value_error.any_str.max_length"),
        "minimum": ("ensure this value is greater than or equal to {}", "value_error.number.not_ge"),
        "maximum": ("ensure this value is less than or equal to {}", "value_error.number.not_le"),
        "exclusiveMinimum": ("ensure this value is greater than {}", "value_error.number.not_gt"),
        "exclusiveMaximum": ("ensure this value is less than {}", "value_error.number.not_lt"),
        "minItems": ("ensure this value has at least {} items", "value_error.list.min_items"),
        "maxItems": ("ensure this value has at most {} items", "value_error.list.max_items"),
    }
    if kind in limits:
        template, typ = limits[kind]
        return {"loc": loc, "msg": template.format(value), "type": typ, "ctx": {"limit_value": value}}
    if kind == "uniqueItems":
        return {"loc": loc, "msg": "the list has duplicated items", "type": "value_error.list.unique_items"}
    if kind == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        return {"loc": [*loc, extra], "msg": "extra fields not permitted", "type": "value_error.extra"}
    if kind == "pattern":
        return {
            "loc": loc,
            "msg": f'string does not match regex "{value}"',
            "type": "value_error.str.regex",
            "ctx": {"pattern": value},
        }
    if kind == "format":
        return _format_error(loc, value, error.instance)
    return {"loc": loc, "msg": error.message, "type": f"value_error.{kind}"}


_FORMAT_ERRORS = {  # pydantic v1's words for the formats Firefly's models declare
    "uri": ("invalid or missing URL scheme", "value_error.url.scheme"),
    "uuid": ("value is not a valid uuid", "type_error.uuid"),
    "uuid4": ("value is not a valid uuid", "type_error.uuid"),
}


def _format_error(loc: list[Any], fmt: str, instance: Any) -> dict[str, Any]:
    if fmt == "uuid4":
        try:
            uuid.UUID(instance)
        except ValueError:
            pass
        else:  # a uuid, but not version 4
            return {
                "loc": loc,
                "msg": "uuid version 4 expected",
                "type": "value_error.uuid.version",
                "ctx": {"required_version": 4},
            }
    msg, typ = _FORMAT_ERRORS.get(fmt, (f"value is not a valid {fmt}", f"value_error.{fmt}"))
    return {"loc": loc, "msg": msg, "type": typ}


@cache
def load(folder: str, name: str) -> Spec:
    return Spec(Path(folder) / name)
