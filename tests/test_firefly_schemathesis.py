"""Schemathesis over openapi/firefly-v3.yaml against the running app: no 5xx, every response matches the spec."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.checks import positive_data_acceptance

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "firefly-v3.yaml"
schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture
def live(firefly_mock):
    headers = {"x-api-key": firefly_mock.client_id, "authorization": f"Bearer {firefly_mock.access_token}"}
    return firefly_mock.base_url, headers


def with_real_credentials(case, credentials):
    """Swap generated credential values for working ones, but keep them absent where Schemathesis left them out
    on purpose (negative cases test that missing credentials are refused). Returns the swapped headers, to be
    passed to `call_and_validate(headers=...)`: given explicitly, Schemathesis knows they are real, so its
    `ignored_auth` check probes the route without them (and with made-up ones) instead of taking a 2xx for a
    route that ignores credentials."""
    if not case.headers:
        return {}
    case.headers = {k: credentials.get(k.lower(), v) for k, v in case.headers.items()}
    return {k: v for k, v in case.headers.items() if k.lower() in credentials}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_firefly_conforms(case, live):
    base_url, credentials = live
    explicit = with_real_credentials(case, credentials)
    # Schema-valid requests may still be refused for reasons a schema cannot state (credentials, the sizes a model
    # version supports, which models exist), so "valid data must be accepted" is not checked; everything else is.
    case.call_and_validate(base_url=base_url, headers=explicit, excluded_checks=[positive_data_acceptance])


IMAGE_OPERATIONS = schema.include(
    path_regex="^/v3/images/(expand|fill|generate-similar|generate-object-composite)-async$"
)


LIVE = {
    "size": {"width": 1024, "height": 1024},
    "url": "https://bucket.s3.amazonaws.com/photo.png",
}


def with_live_uploads(value, upload_id):
    """Generated uploadIds are random uuids, sizes rarely supported and URL hosts never allowed (always 422): put
    a live upload of the caller, a supported size and an allowed URL in their place, so generated requests also
    reach job creation, status and the rendered picture."""
    if isinstance(value, dict):
        live = {**LIVE, "uploadId": upload_id}
        return {k: live[k] if k in live else with_live_uploads(v, upload_id) for k, v in value.items()}
    if isinstance(value, list):
        return [with_live_uploads(v, upload_id) for v in value]
    return value


@pytest.fixture
def live_upload(firefly_mock):
    """One upload per test (Hypothesis runs the examples of a test on the same fixtures)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(out, "PNG")
    return firefly_mock.upload(out.getvalue())


@IMAGE_OPERATIONS.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_image_operations_with_live_uploads(case, live, firefly_mock, live_upload):
    base_url, credentials = live
    explicit = with_real_credentials(case, credentials)
    if isinstance(case.body, dict):
        case.body = with_live_uploads(case.body, live_upload)
    response = case.call_and_validate(base_url=base_url, headers=explicit, excluded_checks=[positive_data_acceptance])
    if response.status_code == 202:
        firefly_mock.clock.advance(600)  # past any profile's time (a generated x-mock-profile may be "realistic")
        for _ in range(4):  # ... or "polls": each read is a step
            status = httpx.get(response.json()["statusUrl"], headers=credentials)
        assert status.status_code == 200 and status.json()["status"] == "succeeded"
        size = status.json()["result"]["size"]
        image = httpx.get(status.json()["result"]["outputs"][0]["image"]["url"])
        assert Image.open(io.BytesIO(image.content)).size == (size["width"], size["height"])
