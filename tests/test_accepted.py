"""Generate requests accepted before skip their request-only checks (`operations.Accepted`): the answers must be
exactly those of the full checks, and the world's checks (uploads, models, faults) must still run every time."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mockserver.core.ids import Ids
from mockserver.operations import Accepted
from mockserver.testing import MockServer, in_process

PATH = "/v3/images/generate-async"
SEED = 4242

bodies = st.fixed_dictionaries(
    {},
    optional={
        "prompt": st.sampled_from(["a lighthouse", "", "x" * 1025, 5]),
        "numVariations": st.sampled_from([1, 2, 4, 5, 2.0, 2.5, "2"]),
        "seeds": st.sampled_from([[1], [1, 2], [1, 1], [], [2.0], [-1]]),
        "size": st.sampled_from([{"width": 1344, "height": 768}, {"width": 2304, "height": 1792}, {"width": 1}]),
        "contentClass": st.sampled_from(["photo", "art", "nope"]),
        "visualIntensity": st.sampled_from([2, 11, 4.0]),
        "customModelId": st.sampled_from(["urn:aaid:sc:VA6C2:3b0c9a3e-5d43-4c1f-9a57-2c0d8c7e9f11", "urn:none"]),
        "upsamplerType": st.just("default"),
        "style": st.sampled_from(
            [
                {"strength": 50.0, "imageReference": {"source": {"url": "https://b.s3.amazonaws.com/a.png"}}},
                {"imageReference": {"source": {"url": "https://example.com/a.png"}}},
                {"imageReference": {"source": {"uploadId": "3c0e5e5e-1111-4222-8333-444455556666"}}},
            ]
        ),
        "extra": st.just(1),
    },
)
likely_valid = st.fixed_dictionaries(
    {"prompt": st.sampled_from(["a lighthouse", "é"])},
    optional={
        "numVariations": st.sampled_from([1, 2, 2.0]),
        "size": st.sampled_from([{"width": 2048, "height": 2048}, {"width": 1344, "height": 768}]),
        "contentClass": st.just("art"),
        "customModelId": st.just("urn:aaid:sc:VA6C2:3b0c9a3e-5d43-4c1f-9a57-2c0d8c7e9f11"),
        "style": st.just({"strength": 50.0, "imageReference": {"source": {"url": "https://b.s3.amazonaws.com/a"}}}),
    },
)
raw_bodies = (bodies | likely_valid).map(lambda b: json.dumps(b).encode()) | st.sampled_from([b"", b"[1]", b"{"])
header_sets = st.fixed_dictionaries(
    {"content-type": st.sampled_from(["application/json", "application/x+json; charset=utf-8", "text/json"])},
    optional={
        "x-model-version": st.sampled_from(["image3", "image4_standard", "image3_custom", "image4_custom", "x", ""]),
        "x-accept-mimetype": st.sampled_from(["image/png", "image/gif"]),
        "x-mock-profile": st.sampled_from(["polls", "realistic", "slow"]),
    },
)


Twins = tuple[tuple[MockServer, dict[str, str]], tuple[MockServer, dict[str, str]]]


@pytest.fixture(scope="module")
def twins() -> Iterator[Twins]:
    """Two fakes with the same seed and the same frozen instant, one of them keeping no accepted requests: in
    lockstep their answers (job ids, seeds and signed URLs included) must be byte for byte the same."""
    with in_process(profile="fast", seed=SEED) as kept, in_process(profile="fast", seed=SEED) as checked:
        firefly(checked).generates.entries = 0
        first, second = kept.clock.freeze()["now"], checked.clock.freeze()["now"]
        (kept if first < second else checked).clock.advance(abs(second - first))
        yield (kept, kept.headers()), (checked, checked.headers())


def firefly(mock: MockServer) -> Any:
    return next(s for s in mock.app.state.surfaces if type(s).__name__ == "Firefly")  # type: ignore[attr-defined]


def answers(twin: tuple[MockServer, dict[str, str]], raw: bytes, headers: dict[str, str]) -> list[Any]:
    """The generate's answer and, for a job, its status now and a second later (outputs' seeds and URLs)."""
    mock, auth = twin
    r = mock.http.post(PATH, content=raw, headers={**auth, "content-type": "application/json", **headers})
    found: list[Any] = [r.status_code, [(k, v) for k, v in r.headers.items() if k != "x-request-id"], r.content]
    if r.status_code == 202:
        found.append(mock.http.get(f"/v3/status/{r.json()['jobId']}", headers=auth).content)
        mock.clock.advance(1)
        found.append(mock.http.get(f"/v3/status/{r.json()['jobId']}", headers=auth).content)
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=raw_bodies, one=header_sets, other=header_sets)
def test_an_accepted_request_answers_as_the_full_checks_do(
    twins: Twins, raw: bytes, one: dict[str, str], other: dict[str, str]
) -> None:
    kept, checked = twins
    for headers in (one, other, one, other):  # the same body again: served from what was kept, if accepted
        assert answers(kept, raw, headers) == answers(checked, raw, headers)
    assert not firefly(checked[0]).generates._kept


HEADER_GRID = [
    {},
    {"content-type": "text/json"},
    {"content-type": "application/x+json"},
    {"x-model-version": "image4_standard"},
    {"x-model-version": "image3_custom"},
    {"x-model-version": ""},
    {"x-accept-mimetype": "image/png"},
    {"x-accept-mimetype": "image/gif"},
    {"x-mock-profile": "polls"},
    {"x-mock-profile": "realistic"},
    {"x-mock-profile": "slow"},
]
BODY_GRID = [
    {"prompt": "a lighthouse"},
    {"prompt": "sized", "size": {"width": 2304, "height": 1792}},
    {"prompt": "custom", "customModelId": "urn:aaid:sc:VA6C2:3b0c9a3e-5d43-4c1f-9a57-2c0d8c7e9f11"},
]


@pytest.mark.parametrize("body", BODY_GRID)
def test_one_body_under_every_header_answers_as_the_full_checks_do(twins: Twins, body: dict[str, Any]) -> None:
    """Every part of the key matters: the same body with another content type or parameter is another request."""
    raw = json.dumps(body).encode()
    for headers in HEADER_GRID * 2:
        assert answers(twins[0], raw, headers) == answers(twins[1], raw, headers), headers


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with in_process(profile="instant") as handle:
        yield handle


def test_the_world_is_still_asked_on_every_request(mock: MockServer) -> None:
    """An upload that expired, a fault rule added since: a request kept as valid meets them all the same."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "PNG")
    upload_id = mock.upload(out.getvalue())
    body = {"prompt": "again", "structure": {"imageReference": {"source": {"uploadId": upload_id}}}}
    headers = mock.headers()
    first = mock.http.post(PATH, json=body, headers=headers)
    assert first.status_code == 202, first.text
    mock.faults.add(path=PATH, effect="job", outcome="fail", error_code="kept_but_failed")
    failed = mock.http.post(PATH, json=body, headers=headers).json()["jobId"]
    mock.faults.clear()
    mock.clock.advance(8 * 86400)  # uploads last 7 days
    headers = mock.headers()
    assert mock.http.get(f"/v3/status/{failed}", headers=headers).json()["error_code"] == "kept_but_failed"
    gone = mock.http.post(PATH, json=body, headers=headers)
    assert gone.status_code == 422
    assert gone.json()["validation_errors"][0]["loc"] == ["body", "structure", "imageReference", "source", "uploadId"]


def test_what_is_kept_is_bounded(mock: MockServer) -> None:
    kept = firefly(mock).generates
    kept.entries = 3
    headers = mock.headers()
    for n in range(5):
        assert mock.http.post(PATH, json={"prompt": f"p{n}"}, headers=headers).status_code == 202
    assert [json.loads(k[0])["prompt"] for k in kept._kept] == ["p2", "p3", "p4"]
    long = {"prompt": "x" * 1000, "negativePrompt": "y" * 1000, "promptBiasingLocaleCode": "z" * 3000}
    assert mock.http.post(PATH, json=long, headers=headers).status_code == 202
    assert len(kept._kept) == 3 and all(len(k[0]) <= kept.body_bytes for k in kept._kept)


def test_a_key_needs_the_gateways_parse() -> None:
    op = type("Op", (), {"params": [], "_query": False})()
    assert Accepted(op).key({"headers": []}) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40])
def test_seed_values_are_those_randint_draws(seed: int) -> None:
    """`Ids.seed_value` draws as `randint(1, 2**31 - 1)` does, so seeded runs give the seeds they always gave."""
    reference = random.Random(seed)
    ids = Ids(seed)
    assert [ids.seed_value() for _ in range(200)] == [reference.randint(1, 2**31 - 1) for _ in range(200)]
