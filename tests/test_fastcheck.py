"""The quick yes for valid bodies (`mockserver.fastcheck`) never says yes where jsonschema finds a problem.

Instances are drawn from each body schema itself (its properties, enum members, values at and across its bounds,
formats' edge cases) and mixed with arbitrary JSON, so both sides of every keyword are exercised."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.fastcheck import compile_schema
from mockserver.settings import bundled
from mockserver.spec import FORMATS, load

SPECS = ("firefly-v3.yaml", "training.yaml", "scenario.yaml", "admin.yaml")
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([2.0, 0.5, -1.5, 2**31, 10**20])
    | st.text(max_size=4)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
EDGE_STRINGS = [
    "",
    "a",
    "photo",
    "en-US",
    "https://x.amazonaws.com/a.png",
    "not a uri",
    "7f1bd1b6-6d0a-4c2e-9d3a-0c6a8b0a2d11",
    "7f1bd1b6-6d0a-1c2e-9d3a-0c6a8b0a2d11",
    "x" * 1025,
]


def _resolve(schema: Any, doc: dict[str, Any]) -> Any:
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#/"):
        target: Any = doc
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def shaped(schema: Any, doc: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values near what `schema` accepts: usually in its shape, sometimes just off it."""
    schema = _resolve(schema, doc)
    if not isinstance(schema, dict) or depth > 4:
        return junk
    options: list[st.SearchStrategy[Any]] = [junk]
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "properties" in schema or "object" in kinds:
        props = schema.get("properties", {})
        fields = {name: shaped(sub, doc, depth + 1) for name, sub in props.items()}
        names = sorted(fields)
        options.append(
            st.lists(st.sampled_from(names), unique=True).flatmap(
                lambda chosen: st.fixed_dictionaries({n: fields[n] for n in chosen})
            )
            if names
            else st.dictionaries(st.text(max_size=3), junk, max_size=2)
        )
        required = [n for n in schema.get("required", []) if n in fields]
        options.append(
            st.fixed_dictionaries(
                {n: fields[n] for n in required}, optional={n: fields[n] for n in names if n not in required}
            )
        )
    if "array" in kinds or "items" in schema:
        item = shaped(schema.get("items", {}), doc, depth + 1)
        low, high = schema.get("minItems", 0), schema.get("maxItems", 5)
        options.append(st.lists(item, min_size=max(low - 1, 0), max_size=high + 1))
    if "integer" in kinds or "number" in kinds:
        bounds = [schema.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")]
        edges = [b + d for b in bounds if isinstance(b, (int, float)) for d in (-1, 0, 1)]
        options.append(st.sampled_from(edges or [0]) | st.integers(-5, 5) | st.sampled_from([1.0, 2.5]))
    if "string" in kinds:
        low, high = schema.get("minLength", 0), schema.get("maxLength", 8)
        options.append(st.text(min_size=max(low - 1, 0), max_size=min(high + 1, 40)) | st.sampled_from(EDGE_STRINGS))
    return st.one_of(options)


def _cases() -> list[tuple[str, str]]:
    return [(name, schema) for name in SPECS for schema in load(bundled("openapi"), name).doc["components"]["schemas"]]


@pytest.mark.parametrize(("spec_name", "schema_name"), _cases())
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_quick_yes_is_never_wrong(spec_name: str, schema_name: str, data: st.DataObject) -> None:
    spec = load(bundled("openapi"), spec_name)
    schema = spec.doc["components"]["schemas"][schema_name]
    quick = compile_schema(schema, spec.doc, FORMATS)
    if quick is None:
        return  # a keyword it does not decide: jsonschema answers alone
    instance = data.draw(shaped(schema, spec.doc))
    if quick(instance):
        assert not list(spec.validator(schema_name).iter_errors(instance)), instance


def test_valid_bodies_take_the_quick_path_and_invalid_ones_still_get_every_error() -> None:
    spec = load(bundled("openapi"), "firefly-v3.yaml")
    quick = compile_schema(spec.doc["components"]["schemas"]["GenerateImagesRequest"], spec.doc, FORMATS)
    assert quick is not None
    assert quick({"prompt": "a lighthouse", "numVariations": 2, "size": {"width": 1024, "height": 1024}})
    assert not quick({"prompt": "", "numVariations": 9})
    assert [e["loc"] for e in spec.errors("GenerateImagesRequest", {"prompt": "", "numVariations": 9})] == [
        ["body", "numVariations"],
        ["body", "prompt"],
    ]
    assert not quick({"prompt": "x", "numVariations": 2.0})  # left to jsonschema, which accepts it
    assert spec.errors("GenerateImagesRequest", {"prompt": "x", "numVariations": 2.0}) == []
    assert compile_schema({"anyOf": [{"type": "string"}]}, {}, FORMATS) is None


FUSED = [  # the shapes compiled as one predicate each (`_Compiler._fused`)
    {"type": "string", "minLength": 1, "maxLength": 3},
    {"type": "string", "minLength": 2},
    {"type": "string"},
    {"type": "integer", "minimum": 1, "maximum": 4},
    {"type": "integer", "minimum": 1},  # an open end: the general case
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
    {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True},
]
FUSED_VALUES = [
    *("", "a", "abc", "abcd", "é" * 3, 0, 1, 4, 5, -1, 2.0, True, None, [], {}),
    *({"a": "x"}, {"a": "x", "b": 2}, {"a": "x", "b": "2"}, {"b": 2}, {"a": 1}, {"a": "x", "c": None}, {"c": 1}),
]


@pytest.mark.parametrize("schema", FUSED)
def test_fused_predicates_agree_with_jsonschema_at_every_edge(schema: dict[str, Any]) -> None:
    """Each fused shape says yes exactly where jsonschema finds nothing, except the values it leaves to
    jsonschema (a float for an integer)."""
    from jsonschema import Draft202012Validator

    quick = compile_schema(schema, {}, FORMATS)
    assert quick is not None
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    for value in FUSED_VALUES:
        valid = not list(validator.iter_errors(value))
        if quick(value):
            assert valid, (schema, value)
        elif valid:
            assert value == 2.0, (schema, value)  # left to jsonschema, which counts it as an integer
