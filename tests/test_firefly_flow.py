"""End-to-end Firefly flows over a real socket with a plain HTTP client, never sleeping for jobs."""

from __future__ import annotations

import httpx
import pytest
from conftest import WARM_MODEL, decode, generate

from mockserver.testing import run_server


def test_token_list_generate_poll_download(firefly_mock, auth):
    client = httpx.Client(timeout=10)  # a separate client, as an application would use
    token = client.post(
        firefly_mock.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": firefly_mock.client_id,
            "client_secret": firefly_mock.client_secret,
            "scope": "openid,AdobeID,firefly_api",
        },
    )
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 86399 and len(body["access_token"]) > 20
    headers = {"x-api-key": firefly_mock.client_id, "authorization": f"Bearer {body['access_token']}"}

    models = client.get(f"{firefly_mock.base_url}/v3/custom-models", headers=headers).json()
    assert WARM_MODEL in [m["assetId"] for m in models["custom_models"]]

    firefly_mock.clock.freeze()
    accepted = client.post(
        f"{firefly_mock.base_url}/v3/images/generate-async",
        headers={**headers, "x-model-version": "image3_custom", "x-accept-mimetype": "image/jpeg"},
        json={
            "prompt": "a lighthouse in a storm",
            "customModelId": WARM_MODEL,
            "numVariations": 2,
            "seeds": [11, 22],
            "size": {"width": 2048, "height": 2048},
            "contentClass": "photo",
        },
    )
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert job["jobId"].startswith("urn:ff:jobs:")
    assert job["statusUrl"] == f"{firefly_mock.base_url}/v3/status/{job['jobId']}"
    assert job["cancelUrl"] == f"{firefly_mock.base_url}/v3/cancel/{job['jobId']}"
    assert f'<{job["statusUrl"]}>; rel="status"' in accepted.headers["link"]

    first = client.get(job["statusUrl"], headers=headers).json()
    assert first == {"jobId": job["jobId"], "status": "pending", "progress": 0.0}
    firefly_mock.clock.advance(0.5)
    running = client.get(job["statusUrl"], headers=headers).json()
    assert running["status"] == "running" and 0 < running["progress"] < 100
    firefly_mock.clock.advance(5)
    done = client.get(job["statusUrl"], headers=headers).json()
    assert done["status"] == "succeeded" and done["progress"] == 100
    result = done["result"]
    assert result["size"] == {"width": 2048, "height": 2048}
    assert [o["seed"] for o in result["outputs"]] == [11, 22]
    assert result["contentClass"] == "photo"
    assert result["promptHasDeniedWords"] is False and result["promptHasBlockedArtists"] is False

    images = []
    for output in result["outputs"]:
        download = client.get(output["image"]["url"])  # pre-signed: no auth headers
        assert download.status_code == 200
        assert download.headers["content-type"] == "image/jpeg"
        image = decode(download.content)
        assert image.format == "JPEG" and image.size == (2048, 2048)
        images.append(download.content)
    assert images[0] != images[1]
    client.close()


def test_png_output_and_default_seeds(firefly_mock, auth):
    accepted = generate(
        firefly_mock,
        {"prompt": "a fox", "size": {"width": 1344, "height": 768}},
        auth,
        x_accept_mimetype="image/png",
        x_mock_profile="instant",
    )
    status = firefly_mock.http.get(accepted.json()["statusUrl"], headers=auth).json()
    assert status["status"] == "succeeded"
    [output] = status["result"]["outputs"]
    assert isinstance(output["seed"], int) and output["seed"] > 0
    image = decode(httpx.get(output["image"]["url"]).content)
    assert image.format == "PNG" and image.size == (1344, 768)


def test_cancel_flow(firefly_mock, auth):
    firefly_mock.clock.freeze()
    job = generate(firefly_mock, {"prompt": "cancel me", "numVariations": 3}, auth).json()
    cancelled = firefly_mock.http.put(job["cancelUrl"], headers=auth)
    assert cancelled.status_code == 200 and cancelled.json() == {}
    firefly_mock.clock.advance(60)
    status = firefly_mock.http.get(job["statusUrl"], headers=auth).json()
    assert status["status"] == "canceled" and "result" not in status
    again = firefly_mock.http.put(job["cancelUrl"], headers=auth)
    assert again.status_code == 409
    assert again.json() == {"error_code": "job_already_canceled", "message": "The job was already canceled."}


def test_failing_job(firefly_mock, auth):
    firefly_mock.faults.add(
        path="/v3/images/generate-async",
        outcome="fail",
        error_code="prompt_unsafe",
        message="The prompt was flagged as unsafe.",
        at_progress=0.4,
        times=1,
    )
    firefly_mock.clock.freeze()
    job = generate(firefly_mock, {"prompt": "something unsafe"}, auth).json()
    firefly_mock.clock.advance(0.2 + 0.6 * 0.3)
    assert firefly_mock.http.get(job["statusUrl"], headers=auth).json()["status"] == "running"
    firefly_mock.clock.advance(10)
    failed = firefly_mock.http.get(job["statusUrl"], headers=auth).json()
    assert failed == {
        "jobId": job["jobId"],
        "status": "failed",
        "progress": 40.0,
        "error_code": "prompt_unsafe",
        "message": "The prompt was flagged as unsafe.",
    }
    cancel = firefly_mock.http.put(job["cancelUrl"], headers=auth)
    assert cancel.status_code == 409 and cancel.json()["error_code"] == "job_cancel_failed"
    # the rule fired once: the next job succeeds
    ok = generate(firefly_mock, {"prompt": "fine"}, auth, x_mock_profile="instant").json()
    assert firefly_mock.http.get(ok["statusUrl"], headers=auth).json()["status"] == "succeeded"


def test_seeded_servers_repeat_ids_seeds_and_bytes():
    runs = []
    for _ in range(2):
        with run_server(seed=42, profile="instant") as mock:
            headers = mock.headers()
            job = generate(mock, {"prompt": "repeatable", "numVariations": 2}, headers).json()
            status = mock.http.get(job["statusUrl"], headers=headers).json()
            outputs = status["result"]["outputs"]
            data = [httpx.get(o["image"]["url"]).content for o in outputs]
            runs.append((job["jobId"], [o["seed"] for o in outputs], data))
    assert runs[0] == runs[1]
    assert runs[0][2][0] != runs[0][2][1]


@pytest.mark.mockserver(seed=9, profile="instant")
def test_marker_sets_seed_and_profile(firefly_mock, auth):
    assert firefly_mock.profile() == "instant"
    first = generate(firefly_mock, {"prompt": "marker"}, auth).json()["jobId"]
    firefly_mock.reset(seed=9)
    auth = firefly_mock.headers()
    assert generate(firefly_mock, {"prompt": "marker"}, auth).json()["jobId"] == first
