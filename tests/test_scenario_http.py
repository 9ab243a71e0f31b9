"""The Scenario surface over plain HTTP: auth, validation, wire shapes, pagination, timing, faults, fixtures."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml
from PIL import Image

from mockserver.app import create_app
from mockserver.fixtures import FixtureError
from mockserver.providers.scenario import inputs_schema
from mockserver.settings import Settings
from mockserver.testing import MockServer, run_server

KEY, SECRET = "scenario-api-key", "scenario-api-secret"
IMAGEN = "model_imagen4-ultra"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
JOB_FIELDS = {"jobId", "jobType", "status", "progress", "metadata", "statusHistory", "createdAt", "updatedAt"}
MODEL_FIELDS = {
    "id",
    "name",
    "capabilities",
    "collectionIds",
    "createdAt",
    "updatedAt",
    "custom",
    "exampleAssetIds",
    "privacy",
    "source",
    "status",
    "tags",
    "trainingImagesNumber",
    "type",
}
ASSET_FIELDS = {
    "id",
    "url",
    "mimeType",
    "kind",
    "status",
    "properties",
    "metadata",
    "authorId",
    "ownerId",
    "privacy",
    "source",
    "tags",
    "collectionIds",
    "editCapabilities",
    "createdAt",
    "updatedAt",
}


@pytest.fixture
def mock(instant_mock: MockServer) -> MockServer:
    return instant_mock  # a module-wide server on the instant profile, reset per test (conftest)


def basic(key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def generate(
    mock: MockServer, body: dict, model: str = IMAGEN, headers: dict | None = None, **params: str
) -> httpx.Response:
    return mock.http.post(
        f"/v1/generate/custom/{model}", json=body, headers={**basic(), **(headers or {})}, params=params
    )


def get(mock: MockServer, path: str, **params) -> httpx.Response:
    return mock.http.get(path, headers=basic(), params=params)


def test_auth_failures_are_401_with_reason_and_message(mock):
    cases = [
        {},
        {"authorization": "Basic !!!"},
        {"authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
        basic(KEY, "wrong-secret"),
        {"authorization": "Bearer not-a-jwt"},
        {"authorization": "Token abc"},
    ]
    for headers in cases:
        response = mock.http.get(f"/v1/models/{IMAGEN}", headers=headers)
        assert response.status_code == 401, headers
        body = response.json()
        assert body["message"] == "Unauthorized" and body["reason"]
        assert response.headers["content-type"] == "application/json"
    # open mode: any other pair is welcome and is its own tenant
    assert mock.http.get("/v1/models", headers=basic("anyone", "anything")).json() == {"models": []}
    assert get(mock, f"/v1/models/{IMAGEN}").status_code == 200
    journal = mock.requests(surface="scenario", path=f"/v1/models/{IMAGEN}", status=200)
    assert journal and journal[-1]["tenant"] == KEY


def test_strict_mode_accepts_only_declared_pairs():
    with run_server(profile="instant", auth_mode="strict") as mock:
        assert mock.http.get("/v1/models", headers=basic()).status_code == 200
        assert mock.http.get("/v1/models", headers=basic("anyone", "anything")).status_code == 401
        claims = base64.urlsafe_b64encode(json.dumps({"sub": KEY}).encode()).decode().rstrip("=")
        bearer = mock.http.get("/v1/models", headers={"authorization": f"Bearer e30.{claims}.sig"})
        assert bearer.status_code == 401 and "strict" in bearer.json()["reason"]


def test_generate_reply_and_job_shape(mock):
    response = generate(mock, {"prompt": "a red fox", "numOutputs": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"job", "creativeUnitsCost", "creativeUnitsDiscount", "costDetails"}
    assert body["creativeUnitsCost"] == 37.75 and body["costDetails"] == {"custom-generation": 36, "quality-gate": 1.75}
    job = body["job"]
    assert set(job) >= JOB_FIELDS
    assert re.fullmatch(r"job_[A-Za-z0-9]{24}", job["jobId"])
    assert ISO.match(job["createdAt"]) and ISO.match(job["updatedAt"])
    assert job["metadata"]["input"] == {"prompt": "a red fox", "numOutputs": 3, "aspectRatio": "1:1"}
    # cuCost is the main action alone; the quality gate is an add-on in cuCostDetails (scenario-sdk JobBilling)
    assert job["billing"] == {"cuCost": 36, "cuDiscount": 0, "cuCostDetails": {"quality-gate": 1.75}}
    fetched = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]
    assert fetched["status"] == "success" and fetched["progress"] == 1
    assert len(fetched["metadata"]["assetIds"]) == 3 and len(set(fetched["metadata"]["assetIds"])) == 3
    assert all(a.startswith("asset_") for a in fetched["metadata"]["assetIds"])

    asset = get(mock, f"/v1/assets/{fetched['metadata']['assetIds'][0]}").json()["asset"]
    assert set(asset) >= ASSET_FIELDS
    assert asset["properties"]["width"] == asset["properties"]["height"] == 1024
    download = httpx.get(asset["url"])
    assert download.status_code == 200 and download.headers["content-type"] == "image/png"
    assert asset["properties"]["size"] == len(download.content)
    images = {
        httpx.get(get(mock, f"/v1/assets/{a}").json()["asset"]["url"]).content for a in fetched["metadata"]["assetIds"]
    }
    assert len(images) == 3  # different seeds, different pictures


def test_model_shapes(mock):
    model = get(mock, f"/v1/models/{IMAGEN}").json()["model"]
    assert set(model) >= MODEL_FIELDS and "inputs" in model
    assert list(model)[:6] == ["id", "userId", "authorId", "ownerId", "createdAt", "updatedAt"]  # recorded order
    assert "creativeUnits" not in model and "tenant" not in model  # fixture-only keys are never served
    rows = get(mock, "/v1/models", privacy="public").json()["models"]
    assert all(set(r) >= MODEL_FIELDS and "inputs" not in r and "uiConfig" not in r for r in rows)
    flux = get(mock, "/v1/models/model_mock-flux-dev").json()["model"]
    assert flux["uiConfig"]["resolutionComponent"]["widthInput"] == "width"


def test_model_list_filters_and_sorting(mock):
    def ids(**params):
        response = get(mock, "/v1/models", **params)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["models"]]

    assert ids(privacy="public", type="flux.1-lora") == ["model_mock-watercolor-lora"]
    assert ids(privacy="public", types="flux.1-lora,custom")[0] == IMAGEN
    assert ids(privacy="public", tags="pixel-art,nothing") == ["model_mock-pixel-art"]
    assert ids(privacy="public", sortBy="createdAt", sortDirection="asc")[0] == "model_mock-watercolor-lora"
    assert ids(privacy="public", createdAfter="2025-05-01T00:00:00Z") == [IMAGEN]
    assert ids(privacy="public", status="deleted") == []
    assert ids() == ["model_mock-copper-style"]


def test_pagination_tokens(mock):
    first = get(mock, "/v1/models", privacy="public", pageSize=3).json()
    token = first["nextPaginationToken"]
    assert json.loads(base64.b64decode(token)) == {"offset": 3, "limit": 3}
    last = get(mock, "/v1/models", privacy="public", pageSize=3, paginationToken=token).json()
    assert len(last["models"]) == 1 and "nextPaginationToken" not in last
    exact = get(mock, "/v1/models", privacy="public", pageSize=4).json()
    assert len(exact["models"]) == 4 and "nextPaginationToken" not in exact  # never an empty page with a token
    for bad in ("garbage!", base64.b64encode(b'{"offset": -1}').decode(), base64.b64encode(b"[]").decode()):
        response = get(mock, "/v1/jobs", paginationToken=bad)
        assert response.status_code == 400 and "paginationToken" in response.json()["reason"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/v1/jobs", {"pageSize": "0"}, "Query parameter pageSize must be at least 1"),
        ("/v1/jobs", {"pageSize": "101"}, "Query parameter pageSize must be at most 100"),
        ("/v1/jobs", {"pageSize": "ten"}, "Query parameter pageSize must be an integer"),
        (
            "/v1/jobs",
            {"status": "done"},
            "Query parameter status must be one of: pending, queued, warming-up, "
            "in-progress, success, failure, canceled, finalizing",
        ),
        ("/v1/jobs", {"createdAfter": "yesterday"}, "Query parameter createdAfter must be an ISO 8601 date-time"),
        ("/v1/jobs", {"hideResults": "yes"}, "Query parameter hideResults must be true or false"),
        ("/v1/models", {"pageSize": "501"}, "Query parameter pageSize must be at most 500"),
        ("/v1/models", {"privacy": "unlisted"}, "Query parameter privacy must be one of: private, public"),
        ("/v1/models", {"types": "custom,bogus"}, None),
        (f"/v1/models/{IMAGEN}", {"originalAssets": "1"}, "Query parameter originalAssets must be true or false"),
    ],
)
def test_query_validation(mock, path, params, reason):
    response = get(mock, path, **params)
    assert response.status_code == 400
    if reason:
        assert response.json() == {"reason": reason}
    else:
        assert response.json()["reason"].startswith("Query parameter types")


def test_body_problems(mock):
    url = f"/v1/generate/custom/{IMAGEN}"
    assert (
        mock.http.post(url, content=b"prompt=x", headers={**basic(), "content-type": "text/plain"}).status_code == 415
    )
    invalid = mock.http.post(url, content=b"{nope", headers={**basic(), "content-type": "application/json"})
    assert invalid.status_code == 400 and invalid.json() == {"reason": "Request body is not valid JSON"}
    array = mock.http.post(url, json=["prompt"], headers=basic())
    assert array.status_code == 400 and array.json() == {"reason": "Request body must be a JSON object"}
    huge = generate(mock, {"prompt": "x" * (1024 * 1024 + 10)})
    assert huge.status_code == 413 and "reason" in huge.json()
    assert generate(mock, {"prompt": "x" * 2049}).json() == {
        "reason": "Input prompt must be at most 2048 characters long"
    }
    bad_profile = generate(mock, {"prompt": "x"}, headers={"x-mock-profile": "warp"})
    assert bad_profile.status_code == 400 and "x-mock-profile" in bad_profile.json()["reason"]
    # a null input counts as not given
    assert generate(mock, {"prompt": "x", "seed": None}).status_code == 200


def test_flux_model_inputs(mock):
    flux = "model_mock-flux-dev"
    ok = generate(mock, {"prompt": "wide", "width": 1344, "height": 768, "guidance": 4.5}, model=flux)
    assert ok.status_code == 200, ok.text
    job = get(mock, f"/v1/jobs/{ok.json()['job']['jobId']}").json()["job"]
    asset = get(mock, f"/v1/assets/{job['metadata']['assetIds'][0]}").json()["asset"]
    image = Image.open(io.BytesIO(httpx.get(asset["url"]).content))
    assert image.size == (1344, 768)
    assert job["metadata"]["input"]["numOutputs"] == 1  # defaults are filled in
    assert generate(mock, {"prompt": "x", "width": 1000}, model=flux).json() == {
        "reason": "Input width must be a multiple of 16"
    }
    assert generate(mock, {"prompt": "x", "width": 4096}, model=flux).json() == {
        "reason": "Input width must be at most 2048"
    }
    assert generate(mock, {"prompt": "x", "strength": 0.5}, model=flux).json() == {
        "reason": "Input image is required when strength is provided"
    }
    img2img = generate(mock, {"prompt": "x", "strength": 0.5, "image": "asset_abc"}, model=flux)
    assert img2img.status_code == 200
    asset_id = get(mock, f"/v1/jobs/{img2img.json()['job']['jobId']}").json()["job"]["metadata"]["assetIds"][0]
    assert get(mock, f"/v1/assets/{asset_id}").json()["asset"]["source"] == "img2img"


def test_pixel_art_ratios_and_arrays(mock):
    pixel = "model_mock-pixel-art"
    wide = generate(mock, {"prompt": "castle", "aspectRatio": "21:9", "style": ["8-bit"]}, model=pixel)
    assert wide.status_code == 200, wide.text
    job = get(mock, f"/v1/jobs/{wide.json()['job']['jobId']}").json()["job"]
    asset = get(mock, f"/v1/assets/{job['metadata']['assetIds'][0]}").json()["asset"]
    assert asset["properties"]["width"] * 9 == asset["properties"]["height"] * 21
    auto = generate(mock, {"prompt": "castle"}, model=pixel).json()["job"]
    assert auto["metadata"]["input"]["aspectRatio"] == "auto"
    assert generate(mock, {"prompt": "x", "style": ["8-bit", "16-bit", "isometric"]}, model=pixel).json() == {
        "reason": "Input style must be at most 2 items long"
    }
    assert (
        generate(mock, {"prompt": "x", "style": ["neon"]}, model=pixel)
        .json()["reason"]
        .startswith("Input style must be one of")
    )
    assert generate(mock, {"prompt": "x", "transparentBackground": "yes"}, model=pixel).json() == {
        "reason": "Input transparentBackground must be a boolean"
    }


def test_dry_run_status_and_body(mock):
    response = generate(mock, {"prompt": "quote"}, dryRun="true")
    assert response.status_code == 269
    assert response.json() == {
        "creativeUnitsCost": 13.75,
        "creativeUnitsDiscount": 0,
        "costDetails": {"custom-generation": 12, "quality-gate": 1.75},
    }
    assert generate(mock, {"prompt": "quote"}, dryRun="maybe").status_code == 400
    assert generate(mock, {}, dryRun="true").status_code == 400  # inputs are still validated
    assert get(mock, "/v1/jobs").json() == {"jobs": []}


def test_timeline_on_the_virtual_clock(mock):
    mock.clock.freeze()
    job = generate(mock, {"prompt": "timed"}, headers={"x-mock-profile": "fast"}).json()["job"]
    assert job["status"] == "queued" and job["statusHistory"] == [{"date": job["createdAt"], "status": "queued"}]
    asset_ids: list[str] = []
    mock.clock.advance(0.5)
    running = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]
    assert running["status"] == "in-progress" and 0 < running["progress"] < 1
    assert [h["status"] for h in running["statusHistory"]] == ["queued", "in-progress"]
    assert "assetIds" not in running["metadata"]
    # outputs exist only once the job has succeeded
    assert get(mock, "/v1/jobs", status="in-progress").json()["jobs"][0]["jobId"] == job["jobId"]
    mock.clock.advance(1)
    done = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]
    asset_ids = done["metadata"]["assetIds"]
    history = done["statusHistory"]
    assert [h["status"] for h in history] == ["queued", "in-progress", "success"]
    assert history[0]["date"] < history[1]["date"] < history[2]["date"] == done["updatedAt"]
    asset = get(mock, f"/v1/assets/{asset_ids[0]}").json()["asset"]
    assert asset["createdAt"] == history[2]["date"]
    assert get(mock, "/v1/jobs", updatedAfter=done["updatedAt"]).json() == {"jobs": []}
    # signed URLs expire on the fake's clock
    assert httpx.get(asset["url"]).status_code == 200
    mock.clock.advance(3601)
    assert httpx.get(asset["url"]).status_code == 403


def test_assets_hidden_until_success_and_per_tenant(mock):
    mock.clock.freeze()
    job = generate(mock, {"prompt": "hidden"}, headers={"x-mock-profile": "realistic"}).json()["job"]
    store = mock.app.state.ctx.world.store
    asset_id = store.get("job:scenario.generate", job["jobId"]).outputs[0]["asset"]
    assert get(mock, f"/v1/assets/{asset_id}").status_code == 404
    mock.clock.advance(100)
    assert get(mock, f"/v1/assets/{asset_id}").status_code == 200
    other = mock.http.get(f"/v1/assets/{asset_id}", headers=basic("scenario-other-key", "scenario-other-secret"))
    assert other.status_code == 404 and other.json() == {"reason": f"Asset {asset_id} not found"}


def test_job_faults_fail_and_time_out(mock):
    mock.faults.add(surface="scenario", prompt="melt", outcome="fail", message="Out of GPU memory")
    mock.faults.add(surface="scenario", prompt="stall", outcome="timeout")
    failed = get(mock, f"/v1/jobs/{generate(mock, {'prompt': 'melt it'}).json()['job']['jobId']}").json()["job"]
    assert failed["status"] == "failure" and failed["metadata"]["error"] == "Out of GPU memory"
    stalled = get(mock, f"/v1/jobs/{generate(mock, {'prompt': 'stall'}).json()['job']['jobId']}").json()["job"]
    assert stalled["status"] == "failure" and stalled["metadata"]["error"] == "The job timed out"
    cancel = mock.http.post(f"/v1/jobs/{stalled['jobId']}/action", json={"action": "cancel"}, headers=basic())
    assert cancel.status_code == 400 and "already failure" in cancel.json()["reason"]


def test_http_faults_render_in_scenario_shape(mock):
    mock.faults.add(surface="scenario", path="/v1/models", status=429, times=1, headers={"retry-after-ms": "20"})
    limited = get(mock, "/v1/models")
    assert limited.status_code == 429 and "reason" in limited.json()
    assert limited.headers["retry-after-ms"] == "20" and limited.headers["retry-after"]
    mock.faults.add(surface="scenario", path="/v1/models", status=500, message="boom", error_code="E42", times=1)
    broken = get(mock, "/v1/models")
    assert broken.status_code == 500 and broken.json() == {"reason": "boom", "code": "E42"}
    assert get(mock, "/v1/models").status_code == 200

    scenario = next(s for s in mock.app.state.surfaces if s.surface == "scenario")
    rendered = scenario.error("/v1/jobs", 429, None, None, {"retry-after-ms": "2500"})
    assert rendered.status_code == 429 and rendered.headers["retry-after"] == "3"
    assert json.loads(rendered.body) == {"reason": "Too many requests"}
    unauthorized = scenario.error("/v1/jobs", 401, None, None, None)
    assert json.loads(unauthorized.body) == {"reason": "Unauthorized", "message": "Unauthorized"}


def test_unknown_routes_and_methods(mock):
    missing = mock.http.get("/v1/nothing/here")
    assert missing.status_code == 404 and missing.json()["reason"]
    wrong = mock.http.delete("/v1/jobs/job_x", headers=basic())
    assert wrong.status_code == 405 and "reason" in wrong.json()
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert mock.http.put("/v1/generate/custom/x").headers["allow"] == "POST"


def test_cancel_bodies(mock):
    job = generate(mock, {"prompt": "x"}, headers={"x-mock-profile": "realistic"}).json()["job"]
    url = f"/v1/jobs/{job['jobId']}/action"
    assert mock.http.post(url, json={"action": "pause"}, headers=basic()).json() == {
        "reason": "Input action must be one of: cancel"
    }
    assert mock.http.post(url, json={"action": "cancel", "why": 1}, headers=basic()).json() == {
        "reason": "Input why is not allowed"
    }
    assert mock.http.post(url, headers=basic()).json() == {"reason": "Input action is required"}
    done = mock.http.post(url, json={"action": "cancel"}, headers=basic())
    assert done.status_code == 200 and done.json()["job"]["status"] == "canceled"
    other = mock.http.post(url, json={"action": "cancel"}, headers=basic("scenario-other-key", "x"))
    assert other.status_code == 401
    stranger = mock.http.post(url, json={"action": "cancel"}, headers=basic("stranger", "x"))
    assert stranger.status_code == 404


def test_seeded_servers_repeat_ids_and_images():
    def run() -> tuple[str, list[str], bytes]:
        with run_server(profile="instant", seed=1234) as mock:
            job = generate(mock, {"prompt": "repeat", "numOutputs": 2}).json()["job"]
            done = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]
            url = get(mock, f"/v1/assets/{done['metadata']['assetIds'][0]}").json()["asset"]["url"]
            return job["jobId"], done["metadata"]["assetIds"], httpx.get(url).content

    assert run() == run()


def test_same_seed_same_picture(mock):
    pictures = []
    for seed in (5, 5, 6):
        job = generate(mock, {"prompt": "same", "seed": seed}).json()["job"]
        asset_id = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]["metadata"]["assetIds"][0]
        pictures.append(httpx.get(get(mock, f"/v1/assets/{asset_id}").json()["asset"]["url"]).content)
    assert pictures[0] == pictures[1] != pictures[2]


def test_state_export_import_keeps_scenario_jobs(mock):
    job = generate(mock, {"prompt": "persist"}).json()["job"]
    state = mock.export_state()
    mock.reset()
    assert get(mock, f"/v1/jobs/{job['jobId']}").status_code == 404
    mock.import_state(state)
    assert get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]["status"] == "success"
    assert get(mock, f"/v1/models/{IMAGEN}").status_code == 200


# --- fixtures ----------------------------------------------------------------------------------------------------


def write_fixture(folder: Path, models: list[dict]) -> str:
    (folder / "scenario.yaml").write_text(yaml.safe_dump({"scenario": {"models": models}}))
    return str(folder)


def test_fixture_fields_seen_on_real_records_load_and_are_served(tmp_path):
    """`epochs` is on real LoRA records; a scrubbed recording (with the recorder's `observedFields`) keeps only
    some fields and is served exactly as recorded, without defaults."""
    lora = {"id": "model_lora", "name": "LoRA", "type": "flux.1-lora", "custom": False, "epochs": 12}
    scrubbed = {"id": "model_scrubbed", "type": "flux.1-lora", "privacy": "public", "status": "trained"}
    scrubbed["observedFields"] = ["id", "name", "epochs"]
    with run_server(fixtures=write_fixture(tmp_path, [lora, scrubbed])) as mock:
        served = get(mock, "/v1/models/model_lora").json()["model"]
        assert served["epochs"] == 12 and served["trainingProgress"] == {} and "complianceMetadata" in served
        assert get(mock, "/v1/models/model_scrubbed").json() == {"model": scrubbed}
    with pytest.raises(FixtureError):  # the fields a scrubbed record keeps are still checked
        create_app(Settings.from_env(env={}, fixtures=write_fixture(tmp_path, [{**scrubbed, "type": "sdxl"}])))


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ({"name": "no id"}, "field id"),
        ({"id": "model_x", "name": "X", "type": "sdxl"}, "field type"),
        ({"id": "model_x", "name": "X", "inputs": [{"name": "p", "type": "text"}]}, "field inputs/0/type"),
        ({"id": "model_x", "name": "X", "inputs": [{"name": "p", "type": "string", "colour": 1}]}, "inputs/0/colour"),
        ({"id": "model_x", "name": "X", "creativeUnits": -1}, "field creativeUnits"),
        ({"id": "model_x", "name": "X", "createdAt": "last week"}, "ISO 8601"),
    ],
)
def test_bad_fixture_models_stop_start_up(tmp_path, model, needle):
    with pytest.raises(FixtureError) as info:
        create_app(Settings.from_env(env={}, fixtures=write_fixture(tmp_path, [model])))
    assert "scenario/models/0" in str(info.value) and needle in str(info.value)


def test_fixture_input_rules(tmp_path):
    inputs = [
        {"name": "prompt", "type": "string", "required": {"ifNotDefined": {"image": {"message": "m"}}}},
        {"name": "image", "type": "file"},
        {"name": "mode", "type": "string", "allowedValues": ["fast", "fine"], "default": "fast"},
        {"name": "detail", "type": "number", "required": {"conditional": {"values": {"mode": ["fine"]}}}},
        {"name": "loras", "type": "model_array", "maxLength": 2},
        {"name": "lorasScale", "type": "number_array", "min": 0, "max": 2},
    ]
    folder = write_fixture(tmp_path, [{"id": "model_rules", "name": "Rules", "inputs": inputs}])
    with run_server(fixtures=folder, profile="instant") as mock:

        def reason(body: dict) -> str | None:
            response = generate(mock, body, model="model_rules")
            return None if response.status_code == 200 else response.json()["reason"]

        assert reason({}) == "Input prompt is required when image is not provided"
        assert reason({"image": "asset_x"}) is None
        assert reason({"prompt": "p", "mode": "fine"}) == "Input detail is required with these inputs"
        assert reason({"prompt": "p", "mode": "fine", "detail": 3}) is None
        assert reason({"prompt": "p", "lorasScale": [0.5, 2.5]}) == "Input lorasScale must be at most 2"  # as recorded
        assert reason({"prompt": "p", "loras": ["a", "b", "c"]}) == "Input loras must be at most 2 items long"
        assert reason({"prompt": "p", "loras": [1]}) == "Input loras items must be a string"


def test_inputs_schema_is_plain_json_schema():
    schema = inputs_schema(
        [
            {"name": "n", "type": "number", "min": 1, "max": 4, "step": 1, "required": {"always": True}},
            {"name": "s", "type": "number", "min": 0.01, "max": 1, "step": 0.01},
        ]
    )
    assert schema == {
        "type": "object",
        "additionalProperties": False,
        "required": ["n"],
        "properties": {
            "n": {"type": "number", "minimum": 1, "maximum": 4, "multipleOf": 1},
            "s": {"type": "number", "minimum": 0.01, "maximum": 1},
        },
    }


def test_durable_store_and_polls_profile(tmp_path):
    with run_server(profile="polls", state_dir=str(tmp_path)) as mock:
        job = generate(mock, {"prompt": "durable", "numOutputs": 2}).json()["job"]
        assert job["status"] == "queued"
        statuses = [get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]["status"] for _ in range(3)]
        assert statuses == ["in-progress", "success", "success"]
        assert [j["status"] for j in get(mock, "/v1/jobs").json()["jobs"]] == ["success"]
        done = get(mock, f"/v1/jobs/{job['jobId']}").json()["job"]
        asset = get(mock, f"/v1/assets/{done['metadata']['assetIds'][1]}").json()["asset"]
        assert httpx.get(asset["url"]).status_code == 200
        pending = generate(mock, {"prompt": "stop"}).json()["job"]
        canceled = mock.http.post(f"/v1/jobs/{pending['jobId']}/action", json={"action": "cancel"}, headers=basic())
        assert canceled.json()["job"]["status"] == "canceled"
        assert get(mock, f"/v1/jobs/{pending['jobId']}").json()["job"]["status"] == "canceled"
