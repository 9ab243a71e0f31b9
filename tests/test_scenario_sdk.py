"""The Scenario surface driven by the official client, `scenario-sdk`, with no patching: generate, poll, assets,
downloads, models, cancel, every error class it raises, and its own retry logic against injected faults."""

from __future__ import annotations

import io

import httpx
import pytest
import scenario_sdk
from PIL import Image
from scenario_sdk import Scenario

from mockserver.testing import MockServer

KEY, SECRET = "scenario-api-key", "scenario-api-secret"
IMAGEN = "model_imagen4-ultra"
RATIOS = {"1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4, "9:16": 9 / 16, "16:9": 16 / 9}


@pytest.fixture
def mock(instant_mock: MockServer) -> MockServer:
    return instant_mock  # a module-wide server on the instant profile, reset per test (conftest)


def client(mock: MockServer, **options) -> Scenario:
    options.setdefault("api_key", KEY)
    options.setdefault("api_secret", SECRET)
    return Scenario(base_url=f"{mock.base_url}/v1", **options)


def image_of(url: str) -> Image.Image:
    response = httpx.get(url)  # a signed URL: no credentials
    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def poll(sdk: Scenario, job_id: str, limit: int = 50):
    for _ in range(limit):
        job = sdk.jobs.retrieve(job_id).job
        if job.status in ("success", "failure", "canceled"):
            return job
    raise AssertionError(f"job {job_id} did not finish")


def test_generate_poll_retrieve_download(mock):
    sdk = client(mock, _strict_response_validation=True)  # every reply matches the SDK's own models
    mock.profile("polls")  # each status read moves the job one step
    created = sdk.generate.run_model(
        IMAGEN, body={"prompt": "a lighthouse in a storm", "aspectRatio": "16:9", "numOutputs": 2, "seed": 42}
    )
    job = created.job
    assert job.job_id.startswith("job_") and job.job_type == "custom"
    assert job.status == "queued" and job.progress == 0
    assert job.metadata.input == {
        "prompt": "a lighthouse in a storm",
        "aspectRatio": "16:9",
        "numOutputs": 2,
        "seed": 42,
    }
    assert job.metadata.asset_ids is None
    assert [h.status for h in job.status_history] == ["queued"]
    assert created.creative_units_cost == 2 * 12 + 1.75  # 12 units per output (fixture) + the quality gate

    seen = []
    while True:
        current = sdk.jobs.retrieve(job.job_id).job
        seen.append(current.status)
        if current.status == "success":
            break
        assert len(seen) < 10
    assert seen == ["in-progress", "success"]  # the reply to generate was the queued state
    assert current.progress == 1
    assert [h.status for h in current.status_history] == ["queued", "in-progress", "success"]
    assert len(current.metadata.asset_ids) == 2

    sizes = set()
    for index, asset_id in enumerate(current.metadata.asset_ids):
        asset = sdk.assets.retrieve(asset_id).asset
        assert asset.id == asset_id and asset.kind == "image" and asset.status == "success"
        assert asset.mime_type == "image/png"
        assert asset.metadata.prompt == "a lighthouse in a storm" and asset.metadata.seed == str(42 + index)
        assert asset.metadata.parent_job_id == job.job_id and asset.output_index == index
        image = image_of(asset.url)
        assert image.format == "PNG"
        assert image.size == (asset.properties.width, asset.properties.height)
        assert image.width / image.height == pytest.approx(16 / 9)
        sizes.add(image.size)
    assert len(sizes) == 1


@pytest.mark.parametrize("ratio", sorted(RATIOS))
def test_every_aspect_ratio_is_the_served_image_ratio(mock, ratio):
    sdk = client(mock)
    job = sdk.generate.run_model(IMAGEN, body={"prompt": f"ratio {ratio}", "aspectRatio": ratio}).job
    done = poll(sdk, job.job_id)
    asset = sdk.assets.retrieve(done.metadata.asset_ids[0]).asset
    image = image_of(asset.url)
    assert image.width / image.height == pytest.approx(RATIOS[ratio])
    assert 900_000 < image.width * image.height <= 1024 * 1024


def test_clock_moves_a_realistic_job(mock):
    sdk = client(mock)
    mock.clock.freeze()
    job = sdk.generate.run_model(IMAGEN, body={"prompt": "slow"}, extra_headers={"x-mock-profile": "fast"}).job
    assert sdk.jobs.retrieve(job.job_id).job.status == "queued"
    mock.clock.advance(0.3)
    running = sdk.jobs.retrieve(job.job_id).job
    assert running.status == "in-progress" and 0 < running.progress < 1
    mock.clock.advance(5)
    done = sdk.jobs.retrieve(job.job_id).job
    assert done.status == "success"
    dates = [h.date for h in done.status_history]
    assert dates == sorted(dates) and dates[0] == done.created_at and dates[-1] == done.updated_at


def test_cancel_through_the_job_action(mock):
    sdk = client(mock)
    mock.clock.freeze()
    job = sdk.generate.run_model(
        IMAGEN, body={"prompt": "never mind"}, extra_headers={"x-mock-profile": "realistic"}
    ).job
    canceled = sdk.jobs.trigger_action(job.job_id, action="cancel").job
    assert canceled.status == "canceled"
    assert [h.status for h in canceled.status_history] == ["queued", "canceled"]
    mock.clock.advance(600)
    again = sdk.jobs.retrieve(job.job_id).job
    assert again.status == "canceled" and again.metadata.asset_ids is None
    assert sdk.jobs.trigger_action(job.job_id, action="cancel").job.status == "canceled"  # idempotent

    finished = sdk.generate.run_model(
        IMAGEN, body={"prompt": "done already"}, extra_headers={"x-mock-profile": "instant"}
    ).job
    with pytest.raises(scenario_sdk.BadRequestError) as info:
        sdk.jobs.trigger_action(finished.job_id, action="cancel")
    assert "already success" in info.value.body["reason"]


def test_strict_sdk_validation_refuses_models_as_it_would_real_ones(mock):
    """Every recorded real model record has `trainingProgress: {}`, which scenario-sdk's strict mode refuses
    (its type requires `stage` and `updatedAt`): a strict client fails here exactly as against the real API."""
    with pytest.raises(scenario_sdk.APIResponseValidationError):
        client(mock, _strict_response_validation=True).models.retrieve(IMAGEN)


def test_models_retrieve_and_list_across_pages(mock):
    sdk = client(mock)
    model = sdk.models.retrieve(IMAGEN).model
    assert model.training_progress is not None and model.to_dict()["trainingProgress"] == {}
    assert model.id == IMAGEN and model.name == "Imagen 4 Ultra" and model.custom is True
    assert model.privacy == "public" and model.status == "trained" and model.type == "custom"
    names = [i.name for i in model.inputs]
    assert names == ["prompt", "aspectRatio", "numOutputs", "seed"]
    ratio = next(i for i in model.inputs if i.name == "aspectRatio")
    assert ratio.allowed_values == ["1:1", "4:3", "3:4", "9:16", "16:9"]
    assert model.complianceMetadata["modelProvider"] == "Google"  # extra wire fields are kept

    first = sdk.models.list(privacy="public", page_size=1)
    assert len(first.models) == 1 and first.next_pagination_token
    assert first.models[0].inputs is None and first.models[0].ui_config is None  # list rows carry neither
    pages = list(first.iter_pages())
    assert len(pages) == 4
    everything = [m.id for m in sdk.models.list(privacy="public", page_size=3)]  # auto-pagination
    assert everything == [IMAGEN, "model_mock-flux-dev", "model_mock-pixel-art", "model_mock-watercolor-lora"]
    assert [m.id for page in pages for m in page.models] == everything

    # privacy defaults to private: the caller's own models only
    assert [m.id for m in sdk.models.list()] == ["model_mock-copper-style"]
    other = client(mock, api_key="scenario-other-key", api_secret="scenario-other-secret")
    assert list(other.models.list()) == []
    with pytest.raises(scenario_sdk.NotFoundError):
        other.models.retrieve("model_mock-copper-style")


def test_jobs_list_paginates_and_filters(mock):
    sdk = client(mock)
    ids = [sdk.generate.run_model(IMAGEN, body={"prompt": f"job {n}"}).job.job_id for n in range(5)]
    listed = [j.job_id for j in sdk.jobs.list(page_size=2)]
    assert sorted(listed) == sorted(ids) and len(listed) == 5
    assert [j.job_id for j in sdk.jobs.list(status="success", page_size=100)] != []
    assert list(sdk.jobs.list(status="failure")) == []
    other = client(mock, api_key="scenario-other-key", api_secret="scenario-other-secret")
    assert list(other.jobs.list()) == []


def test_download_request_and_format_conversion(mock):
    sdk = client(mock)
    job = poll(sdk, sdk.generate.run_model(IMAGEN, body={"prompt": "formats", "aspectRatio": "4:3"}).job.job_id)
    asset_id = job.metadata.asset_ids[0]
    same = sdk.assets.download.request(asset_id)
    assert same.mime_type == "image/png" and image_of(same.url).format == "PNG"
    jpeg = sdk.assets.download.request(asset_id, target_format="jpeg")
    converted = image_of(jpeg.url)
    assert jpeg.mime_type == "image/jpeg" and converted.format == "JPEG"
    assert converted.width / converted.height == pytest.approx(4 / 3)
    with pytest.raises(scenario_sdk.BadRequestError):
        sdk.assets.download.request(asset_id, target_format="glb")


def test_dry_run_returns_269_and_creates_no_job(mock):
    sdk = client(mock)
    raw = sdk.generate.with_raw_response.run_model(IMAGEN, body={"prompt": "how much", "numOutputs": 3}, dry_run="true")
    assert raw.status_code == 269
    quote = raw.parse()
    assert quote.job is None
    assert quote.creative_units_cost == 3 * 12 + 1.75
    assert (quote.cost_details.custom_generation, quote.cost_details.quality_gate) == (36, 1.75)
    assert raw.http_response.json()["costDetails"] == {"custom-generation": 36, "quality-gate": 1.75}
    assert list(sdk.jobs.list()) == []


def test_error_classes(mock):
    wrong = client(mock, api_secret="not-the-secret", max_retries=0)
    with pytest.raises(scenario_sdk.AuthenticationError) as info:
        wrong.models.retrieve(IMAGEN)
    assert info.value.status_code == 401 and "message" in info.value.body and "reason" in info.value.body

    sdk = client(mock, max_retries=0)
    with pytest.raises(scenario_sdk.NotFoundError) as info:
        sdk.generate.run_model("model_does-not-exist", body={"prompt": "x"})
    assert info.value.body == {"reason": "Model model_does-not-exist not found"}
    for call in (
        lambda: sdk.jobs.retrieve("job_missing"),
        lambda: sdk.assets.retrieve("asset_missing"),
        lambda: sdk.models.retrieve("model_missing"),
        lambda: sdk.jobs.trigger_action("job_missing", action="cancel"),
    ):
        with pytest.raises(scenario_sdk.NotFoundError):
            call()

    cases = {
        "Input prompt is required": {},
        "Input numOutputs must be at most 4": {"prompt": "x", "numOutputs": 5},
        "Input numOutputs must be at least 1": {"prompt": "x", "numOutputs": 0},
        "Input aspectRatio must be one of: 1:1, 4:3, 3:4, 9:16, 16:9": {"prompt": "x", "aspectRatio": "2:1"},
        "Input colour is not allowed": {"prompt": "x", "colour": "red"},
        "Input seed must be a number": {"prompt": "x", "seed": "lucky"},
    }
    for reason, body in cases.items():
        with pytest.raises(scenario_sdk.BadRequestError) as info:
            sdk.generate.run_model(IMAGEN, body=body)
        assert info.value.body == {"reason": reason}
    with pytest.raises(scenario_sdk.BadRequestError) as info:
        sdk.generate.run_model("model_mock-watercolor-lora", body={"prompt": "x"})
    assert info.value.body == {"reason": "Custom models only are supported for this endpoint"}
    with pytest.raises(scenario_sdk.BadRequestError) as info:
        sdk.jobs.trigger_action("job_whatever")  # no action: the SDK sends {}
    assert info.value.body == {"reason": "Input action is required"}
    assert mock.count(surface="scenario") >= 12


def test_rate_limit_fault_is_retried_by_the_sdk(mock):
    mock.faults.add(
        surface="scenario", path="/v1/generate/custom/*", status=429, times=1, headers={"retry-after-ms": "1"}
    )
    sdk = client(mock)  # default max_retries=2
    job = sdk.generate.run_model(IMAGEN, body={"prompt": "retry me"}).job
    assert job.job_id.startswith("job_")
    attempts = mock.requests(surface="scenario", method="POST")
    assert [r["status"] for r in attempts] == [429, 200]
    assert [r["headers"]["x-stainless-retry-count"] for r in attempts] == ["0", "1"]
    assert attempts[0]["body"] == attempts[1]["body"] == {"prompt": "retry me"}  # the SDK resent the same POST

    mock.faults.add(
        surface="scenario", path="/v1/jobs/*", method="GET", status=429, times=5, headers={"retry-after-ms": "1"}
    )
    with pytest.raises(scenario_sdk.RateLimitError) as info:
        sdk.with_options(max_retries=1).jobs.retrieve(job.job_id)
    assert info.value.response.headers["retry-after-ms"] == "1"
    assert info.value.response.headers["retry-after"]
    assert "reason" in info.value.body


def test_server_error_fault_then_job_failure_fault(mock):
    mock.faults.add(surface="scenario", path="/v1/models/*", status=503, times=1, headers={"retry-after-ms": "1"})
    sdk = client(mock)
    assert sdk.models.retrieve(IMAGEN).model.id == IMAGEN  # 503 retried

    mock.faults.add(surface="scenario", path="/v1/generate/custom/*", outcome="fail", message="GPU on fire", times=1)
    failed = poll(sdk, sdk.generate.run_model(IMAGEN, body={"prompt": "doomed"}).job.job_id)
    assert failed.status == "failure" and failed.metadata.error == "GPU on fire"
    assert failed.metadata.asset_ids is None
    assert [h.status for h in failed.status_history][-1] == "failure"


def test_bearer_jwt_and_isolation(mock):
    import base64
    import json

    def jwt(claims: dict) -> str:
        part = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"eyJhbGciOiJIUzI1NiJ9.{part}.c2lnbmF0dXJl"

    as_owner = client(mock, api_key=None, api_secret=None, bearer_auth=jwt({"sub": KEY}))
    assert [m.id for m in as_owner.models.list()] == ["model_mock-copper-style"]
    job = as_owner.generate.run_model("model_mock-copper-style", body={"prompt": "copper kettle"}).job
    assert client(mock).jobs.retrieve(job.job_id).job.job_id == job.job_id  # same tenant as the key pair

    stranger = client(mock, api_key=None, api_secret=None, bearer_auth=jwt({"sub": "someone-else"}))
    with pytest.raises(scenario_sdk.NotFoundError):
        stranger.jobs.retrieve(job.job_id)
    expired = client(mock, api_key=None, api_secret=None, bearer_auth=jwt({"sub": KEY, "exp": 1}))
    with pytest.raises(scenario_sdk.AuthenticationError):
        expired.models.list()
