"""Property tests of Firefly's request validation: any JSON body gets 202 or a 4xx in Adobe's shape, and the
answer agrees with the rules (a body that keeps every rule is accepted; one that breaks a rule is refused)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.testing import in_process

SIZES = [(2048, 2048), (1024, 1024), (2304, 1792), (1792, 2304), (2688, 1536), (1344, 768), (1152, 896), (896, 1152)]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8
)


@st.composite
def valid_bodies(draw):
    body = {"prompt": draw(st.text(min_size=1, max_size=1024))}
    count = draw(st.none() | st.integers(1, 4))
    if count is not None:
        body["numVariations"] = count
    if draw(st.booleans()):
        body["seeds"] = draw(st.lists(st.integers(0, 2**31 - 1), min_size=count or 1, max_size=count or 4, unique=True))
    if draw(st.booleans()):
        width, height = draw(st.sampled_from(SIZES))
        body["size"] = {"width": width, "height": height}
    if draw(st.booleans()):
        body["contentClass"] = draw(st.sampled_from(["photo", "art"]))
    if draw(st.booleans()):
        body["visualIntensity"] = draw(st.integers(2, 10))
    if draw(st.booleans()):
        body["style"] = {
            "presets": draw(st.lists(st.text(max_size=10), unique=True, max_size=3)),
            "strength": draw(st.integers(1, 100)),
        }
    if draw(st.booleans()):
        body["negativePrompt"] = draw(st.text(max_size=1024))
    return body


@pytest.fixture(scope="module")
def mock():
    with in_process(profile="instant") as handle:
        yield handle


@pytest.fixture(scope="module")
def headers(mock):
    return mock.headers()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_bodies())
def test_bodies_that_keep_the_rules_are_accepted(mock, headers, body):
    r = mock.http.post("/v3/images/generate-async", json=body, headers=headers)
    assert r.status_code == 202, r.text
    status = mock.http.get(r.json()["statusUrl"], headers=headers).json()
    outputs = status["result"]["outputs"]
    # numVariations when given; otherwise one image per seed; otherwise one
    expected = body["numVariations"] if "numVariations" in body else len(body.get("seeds", [])) or 1
    assert len(outputs) == expected
    if "seeds" in body:
        assert [o["seed"] for o in outputs] == body["seeds"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "prompt",
                "numVariations",
                "seeds",
                "size",
                "contentClass",
                "visualIntensity",
                "style",
                "structure",
                "negativePrompt",
                "tileable",
            ]
        ),
        json_values,
        max_size=5,
    )
    | json_values
)
def test_any_body_gets_a_clean_answer(mock, headers, body):
    r = mock.http.post("/v3/images/generate-async", json=body, headers=headers)
    assert r.status_code in (202, 400, 415, 422), r.text  # 415: httpx sends no body (or type) for None
    if r.status_code == 422:
        payload = r.json()
        assert payload["error_code"] == "validation_error" and payload["validation_errors"]
        for error in payload["validation_errors"]:
            assert error["loc"][0] in ("body", "header") and isinstance(error["msg"], str)
    elif r.status_code == 400:
        assert r.json()["error_code"] in ("empty_input_body", "bad_request")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    valid_bodies(),
    st.sampled_from(["prompt", "numVariations", "contentClass", "visualIntensity", "size"]),
    st.sampled_from(["", 0, 99, "x" * 1025, {"width": 7, "height": 7}, None, "painting"]),
)
def test_breaking_one_rule_is_refused_naming_the_field(mock, headers, body, field, bad):
    body = {**body, field: bad}
    if field == "prompt" and isinstance(bad, str) and 1 <= len(bad) <= 1024:
        return
    if field == "numVariations" and "seeds" in body and bad in (0, 99):
        body.pop("seeds")
    r = mock.http.post("/v3/images/generate-async", json=body, headers=headers)
    assert r.status_code == 422, (body, r.text)
    assert ["body", field] in [e["loc"][:2] for e in r.json()["validation_errors"]]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(valid_bodies())
def test_whole_floats_count_as_integers(mock, headers, body):
    floaty = {
        **body,
        **({"numVariations": float(body["numVariations"])} if "numVariations" in body else {}),
        **({"seeds": [float(s) for s in body["seeds"]]} if "seeds" in body else {}),
        **({"size": {k: float(v) for k, v in body["size"].items()}} if "size" in body else {}),
    }
    r = mock.http.post("/v3/images/generate-async", json=floaty, headers=headers)
    assert r.status_code == 202, r.text
    status = mock.http.get(r.json()["statusUrl"], headers=headers).json()
    assert all(isinstance(o["seed"], int) for o in status["result"]["outputs"])
