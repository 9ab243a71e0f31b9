"""Firefly's video generation: a real MP4 of the asked size behind the shared status and cancel, the video API's
own 400 validation shape, uploads as keyframes, and 501 without the optional PyAV extra."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from mockserver import video

av = pytest.importorskip("av")

PATH = "/v3/videos/generate"


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "orange").save(out, "PNG")
    return out.getvalue()


def test_video_flow(firefly_mock):
    headers = firefly_mock.headers()
    body = {"prompt": "a kite over dunes", "sizes": [{"width": 720, "height": 1280}], "seeds": [5], "bitRateFactor": 23}
    job = firefly_mock.http.post(PATH, headers=headers, json=body)
    assert job.status_code == 202, job.text
    accepted = job.json()
    assert job.headers["link"] == f'<{accepted["statusUrl"]}>; rel="status", <{accepted["cancelUrl"]}>; rel="cancel"'
    firefly_mock.clock.advance(0.5)
    running = firefly_mock.http.get(accepted["statusUrl"], headers=headers).json()
    assert running["status"] == "running" and isinstance(running["progress"], int)
    firefly_mock.clock.advance(5)
    status = firefly_mock.http.get(accepted["statusUrl"], headers=headers).json()
    assert status["status"] == "succeeded" and status["progress"] == 100
    assert status["result"]["size"] == {"width": 720, "height": 1280}
    [output] = status["result"]["outputs"]
    assert output["seed"] == 5 and set(output) == {"seed", "video"}
    response = httpx.get(output["video"]["url"])
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(response.content)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (720, 1280) and stream.codec_context.name == "h264"
        assert container.duration / 1_000_000 == pytest.approx(video.SECONDS, abs=0.2)
    again = firefly_mock.http.post(PATH, headers=headers, json=body).json()
    firefly_mock.clock.advance(10)
    url = firefly_mock.http.get(again["statusUrl"], headers=headers).json()["result"]["outputs"][0]["video"]["url"]
    assert httpx.get(url).content == response.content  # same request and seed: the same bytes


def test_video_keyframe_from_an_upload_and_cancel(firefly_mock):
    headers = firefly_mock.headers()
    upload_id = firefly_mock.upload(png())
    condition = {"source": {"uploadId": upload_id}, "placement": {"position": 0}}
    job = firefly_mock.http.post(PATH, headers=headers, json={"image": {"conditions": [condition]}}).json()
    assert firefly_mock.http.put(job["cancelUrl"], headers=headers).json() == {}
    assert firefly_mock.http.get(job["statusUrl"], headers=headers).json()["status"] == "canceled"
    theirs = firefly_mock.headers("other-client-id", "other-client-secret")
    refused = firefly_mock.http.post(PATH, headers=theirs, json={"image": {"conditions": [condition]}})
    assert refused.status_code == 400
    assert refused.json()["validation_errors"][0]["loc"] == ["body", "image", "conditions", 0, "source", "uploadId"]


def test_video_errors(firefly_mock):
    headers = firefly_mock.headers()
    missing = firefly_mock.http.post(PATH, headers=headers, json={})
    assert missing.status_code == 400
    assert missing.json() == {
        "error_code": "bad_request",
        "message": "Invalid request parameters",
        "validation_errors": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "value_error.missing"}],
    }
    for body, loc in (
        ({"prompt": "p", "sizes": [{"width": 1024, "height": 1024}]}, ["body", "sizes", 0]),
        ({"prompt": "p", "seeds": [1, 2]}, ["body", "seeds"]),
        ({"prompt": "p", "bitRateFactor": 64}, ["body", "bitRateFactor"]),
        ({"prompt": "p", "videoSettings": {"shotSize": "huge"}}, ["body", "videoSettings", "shotSize"]),
        (
            {"image": {"conditions": [{"source": {}, "placement": {"position": 0}}]}},
            ["body", "image", "conditions", 0, "source"],
        ),
        (
            {
                "image": {
                    "conditions": [{"source": {"url": "https://x.s3.amazonaws.com/a"}, "placement": {"position": 2}}]
                }
            },
            ["body", "image", "conditions", 0, "placement", "position"],
        ),
    ):
        response = firefly_mock.http.post(PATH, headers=headers, json=body)
        assert response.status_code == 400 and response.json()["error_code"] == "bad_request", body
        assert loc in [e["loc"] for e in response.json()["validation_errors"]], response.json()
    version = firefly_mock.http.post(PATH, headers={**headers, "x-model-version": "video9"}, json={"prompt": "p"})
    assert version.status_code == 400 and version.json()["validation_errors"][0]["loc"] == ["header", "x-model-version"]
    text = firefly_mock.http.post(PATH, headers={**headers, "content-type": "text/plain"}, content=b"{}")
    assert text.status_code == 415 and text.json()["error_code"] == "invalid_content_type"
    assert firefly_mock.http.post(PATH, headers={"x-api-key": "mock-client-id"}, json={}).status_code == 401


def test_without_pyav_the_route_answers_501(firefly_mock, monkeypatch):
    monkeypatch.setattr(video, "available", lambda: False)
    response = firefly_mock.http.post(PATH, headers=firefly_mock.headers(), json={"prompt": "p"})
    assert response.status_code == 501 and response.json()["error_code"] == "not_implemented"
    assert "mockserver[video]" in response.json()["message"]
