"""Conformance: Adobe's documented Firefly examples and the recorded real Scenario exchanges, replayed against a
real server over a socket.

The data is transcribed into tests/conformance/ (see docs/fidelity.md for each source): `firefly_cases.json`
(request -> status, headers, body), `scenario_dry_runs.json` (21 recorded dry runs), and `fixtures/`, the folder
the server loads: the 24 recorded Scenario model records, unchanged, the tutorial's custom model and the prices
read off the dry runs.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from mockserver.core.jwt import claims
from mockserver.testing import MockServer, run_server

HERE = Path(__file__).resolve().parent / "conformance"
FIXTURES = HERE / "fixtures"
FIREFLY = json.loads((HERE / "firefly_cases.json").read_text(encoding="utf-8"))["cases"]
DRY_RUNS = json.loads((HERE / "scenario_dry_runs.json").read_text(encoding="utf-8"))["dryRuns"]
RECORDS = sorted(p for p in FIXTURES.glob("*.json"))
CLIENT = ("conformance-client", "conformance-secret")  # open auth mode: any pair is its own tenant
SCENARIO_AUTH = {"authorization": "Basic " + base64.b64encode(b"conformance-key:conformance-secret").decode()}
TUTORIAL_MODEL = "urn:aaid:sc:VA6C2:bc1f46cd-be98-4a7b-9ffe-1111111111"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with run_server(fixtures=str(FIXTURES), profile="instant", seed=13) as mock:
        yield mock


@pytest.fixture
def mock(server: MockServer) -> MockServer:
    server.reset()
    return server


# --- helpers ---------------------------------------------------------------------------------------------------


def contains(actual: Any, expected: Any) -> bool:
    """`expected` is found in `actual`: dicts by key (recursively), lists element by element, the rest equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return type(actual) is type(expected) and actual == expected


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: names.get(m[1], m[0]), value)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


def tutorial_job(mock: MockServer, token: str) -> str:
    """A succeeded job of the tutorial's generate request (the instant profile finishes it at once)."""
    case = next(c for c in FIREFLY if c["name"] == "tutorial_generate")
    headers = fill(case["request"]["headers"], {"client_id": CLIENT[0], "token": token})
    response = mock.http.post("/v3/images/generate-async", json=case["request"]["json"], headers=headers)
    assert response.status_code == 202, response.text
    return response.json()["jobId"]


# --- Firefly: Adobe's documented examples --------------------------------------------------------------------


def test_every_firefly_case_names_its_source():
    assert len(FIREFLY) >= 30 and all(c["source"] and c["expect"]["status"] for c in FIREFLY)
    assert len({c["name"] for c in FIREFLY}) == len(FIREFLY)


@pytest.mark.parametrize("case", FIREFLY, ids=[c["name"] for c in FIREFLY])
def test_firefly_case(mock: MockServer, case: dict[str, Any]) -> None:
    token = mock.token(*CLIENT)
    names = {"client_id": CLIENT[0], "client_secret": CLIENT[1], "token": token}
    if "{job_id}" in case["request"]["path"]:
        names["job_id"] = tutorial_job(mock, token)
    if "{upload_id}" in json.dumps(case["request"]):  # a live upload of the caller (POST /v2/storage/image)
        image = io.BytesIO()
        Image.new("RGB", (8, 8), "teal").save(image, "PNG")
        names["upload_id"] = mock.upload(image.getvalue(), "image/png", *CLIENT)
    if "fault" in case:
        mock.faults.add(**case["fault"], times=1)
    request = fill(case["request"], names)
    kwargs: dict[str, Any] = {"headers": request.get("headers", {})}
    if "json" in request:
        kwargs["json"] = request["json"]
    elif "form" in request:
        kwargs["data"] = request["form"]
    elif "content_size" in request:
        kwargs["content"] = b"{" + b" " * (request["content_size"] - 2) + b"}"
    elif "content" in request:
        kwargs["content"] = request["content"].encode()
    response = mock.http.request(request["method"], request["path"], **kwargs)
    expect = case["expect"]
    assert response.status_code == expect["status"], response.text[:500]
    for name, pattern in expect.get("headers", {}).items():
        assert re.search(pattern, response.headers.get(name, "")), (name, response.headers.get(name))
    if "content_type" in expect:
        assert response.headers["content-type"].startswith(expect["content_type"]), response.headers
    if any(k in expect for k in ("body", "body_subset", "body_keys", "jwt")):
        body = response.json()
        if "body" in expect:
            assert body == expect["body"]
        if "body_subset" in expect:
            assert contains(body, expect["body_subset"]), body
        for key in expect.get("body_keys", []):
            assert key in body, (key, body)
        if "jwt" in expect:
            payload = claims(body[expect["jwt"]])
            assert payload is not None and payload["client_id"] == CLIENT[0], payload
            assert int(payload["expires_in"]) == body["expires_in"] * 1000 and int(payload["created_at"]) > 0


def test_tutorial_listing_is_byte_for_byte(mock: MockServer) -> None:
    """Key order too: the tutorial prints the fields in the order the service sends them."""
    headers = {"x-api-key": CLIENT[0], "authorization": f"Bearer {mock.token(*CLIENT)}"}
    item = mock.http.get(f"/v3/custom-models/{TUTORIAL_MODEL}", headers=headers).json()
    expected = next(c for c in FIREFLY if c["name"] == "tutorial_listing")["expect"]["body"]["custom_models"][0]
    assert list(item) == list(expected) and item == expected


def test_ims_fault_bodies_follow_the_status(mock: MockServer) -> None:
    """An injected IMS error answers the OAuth code of its status, not server_error for everything."""
    seen = {}
    for status in (400, 401, 429, 500, 503):
        mock.faults.add(path="/ims/token/v3", status=status, times=1)
        response = mock.http.post("/ims/token/v3", data={"grant_type": "client_credentials"})
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"error", "error_description"} and body["error_description"]
        seen[status] = body["error"]
    assert seen == {
        400: "invalid_request",
        401: "invalid_client",
        429: "temporarily_unavailable",
        500: "server_error",
        503: "temporarily_unavailable",
    }


def test_custom_models_405_has_a_reason(mock: MockServer) -> None:
    response = mock.http.post("/v3/custom-models", headers={"x-api-key": CLIENT[0]})
    assert response.status_code == 405 and response.json()["reason"] == "Method Not Allowed"


# --- Scenario: the recorded model records ----------------------------------------------------------------------


def test_the_24_recorded_records_are_all_here():
    assert len(RECORDS) == 24


@pytest.mark.parametrize("path", RECORDS, ids=[p.stem for p in RECORDS])
def test_recorded_model_comes_back_unchanged(mock: MockServer, path: Path) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    model_id = recorded["model"]["id"]
    response = mock.http.get(f"/v1/models/{model_id}", headers=SCENARIO_AUTH)
    assert response.status_code == 200, response.text
    served = response.json()
    assert served == recorded and list(served["model"]) == list(recorded["model"])  # key order too


def test_recorded_models_are_listed_without_inputs(mock: MockServer) -> None:
    rows: dict[str, Any] = {}
    token = None
    while True:
        params = {"privacy": "public", "pageSize": 100, **({"paginationToken": token} if token else {})}
        page = mock.http.get("/v1/models", params=params, headers=SCENARIO_AUTH).json()
        rows.update({m["id"]: m for m in page["models"]})
        token = page.get("nextPaginationToken")
        if not token:
            break
    for path in RECORDS:
        record = json.loads(path.read_text(encoding="utf-8"))["model"]
        assert rows[record["id"]] == {k: v for k, v in record.items() if k not in ("inputs", "uiConfig")}


# --- Scenario: the recorded dry runs ---------------------------------------------------------------------------


def test_there_are_21_recorded_dry_runs():
    assert len(DRY_RUNS) == 21 and {r["status"] for r in DRY_RUNS} == {269, 400, 404}


@pytest.mark.parametrize("run", DRY_RUNS, ids=[r["case"] for r in DRY_RUNS])
def test_recorded_dry_run(mock: MockServer, run: dict[str, Any]) -> None:
    response = mock.http.post(
        f"/v1/generate/custom/{run['target']}", params={"dryRun": "true"}, json=run["body"], headers=SCENARIO_AUTH
    )
    assert response.status_code == run["status"], response.text
    assert orjson.loads(response.content) == run["reply"]
    if run["status"] == 269:
        assert mock.http.get("/v1/jobs", headers=SCENARIO_AUTH).json() == {"jobs": []}  # a dry run makes no job


def test_a_run_bills_the_main_action_with_the_quality_gate_apart(mock: MockServer) -> None:
    """scenario-sdk's JobBilling: cuCost is the main action alone, add-ons in cuCostDetails, refunded to 0 when
    the job is cancelled; the quote itself is the recorded one (kontext with a LoRA: 16 + 1.75)."""
    stack = next(r for r in DRY_RUNS if r["case"] == "stack_kontext")
    ran = mock.http.post(f"/v1/generate/custom/{stack['target']}", json=stack["body"], headers=SCENARIO_AUTH)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert {k: body[k] for k in stack["reply"]} == stack["reply"]
    assert body["job"]["billing"] == {"cuCost": 16, "cuDiscount": 0, "cuCostDetails": {"quality-gate": 1.75}}

    mock.profile("polls")
    slow = mock.http.post(f"/v1/generate/custom/{stack['target']}", json=stack["body"], headers=SCENARIO_AUTH)
    job_id = slow.json()["job"]["jobId"]
    cancelled = mock.http.post(f"/v1/jobs/{job_id}/action", json={"action": "cancel"}, headers=SCENARIO_AUTH)
    assert cancelled.json()["job"]["status"] == "canceled"
    assert cancelled.json()["job"]["billing"] == {"cuCost": 16, "cuDiscount": 0, "cuCostDetails": {"quality-gate": 0}}
