"""Every error the training API gives, in its one error format, over a real socket (the plugin's server)."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from test_training_support import KEY, MIME, Api, assert_error, image_bytes, png_header_only

from mockserver.testing import in_process

OPERATIONS = [
    ("POST", "/models"),
    ("GET", "/models/{m}"),
    ("PATCH", "/models/{m}"),
    ("DELETE", "/models/{m}"),
    ("POST", "/models/{m}/training-data"),
    ("GET", "/models/{m}/training-data"),
    ("GET", "/models/{m}/training-data/{d}"),
    ("PUT", "/models/{m}/training-data/{d}"),
    ("DELETE", "/models/{m}/training-data/{d}"),
    ("POST", "/models/{m}/trainings"),
    ("GET", "/models/{m}/trainings"),
    ("GET", "/models/{m}/trainings/{t}"),
    ("POST", "/models/{m}/trainings/{t}/cancel"),
    ("DELETE", "/models/{m}/trainings/{t}"),
    ("POST", "/predictions"),
    ("GET", "/predictions/{p}"),
    ("DELETE", "/predictions/{p}"),
]


@pytest.fixture
def api(mockserver) -> Api:
    return Api(mockserver.http)


@pytest.fixture
def model_id(api) -> str:
    return api.create_model()["id"]


def _path(template: str, model: str = "m0", data: str = "d0", training: str = "t0", prediction: str = "p0") -> str:
    return template.format(m=model, d=data, t=training, p=prediction)


# --- auth ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "template"), OPERATIONS)
def test_missing_api_key_is_401_everywhere(mockserver, method, template):
    r = mockserver.http.request(method, _path(template), json={} if method in ("POST", "PATCH") else None)
    error = assert_error(r, 401, "unauthorized")
    assert "x-api-key" in error["message"]


def test_unknown_key_is_401_in_strict_mode():
    with in_process(auth_mode="strict") as strict:
        api = Api(strict.http, "not-a-declared-client")
        assert_error(api.call("POST", "/models", json={"displayName": "x"}), 401, "unauthorized")
        assert Api(strict.http).call("POST", "/models", json={"displayName": "x"}).status_code == 201


# --- routing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "template"), [op for op in OPERATIONS if "{m}" in op[1]])
def test_unknown_model_is_404_everywhere(api, method, template):
    kwargs = {"json": {}} if method in ("POST", "PATCH") and "training-data" not in template else {}
    if method in ("POST", "PUT") and "training-data" in template:
        kwargs = {"content": image_bytes(), "headers": {"content-type": "image/png"}}
    error = assert_error(api.call(method, _path(template, model="nosuchmodel"), **kwargs), 404, "not_found")
    assert "nosuchmodel" in error["message"]


def test_unknown_children_are_404(api, model_id):
    for method, template, name in (
        ("GET", "/models/{m}/training-data/{d}", "zz1"),
        ("PUT", "/models/{m}/training-data/{d}", "zz1"),
        ("DELETE", "/models/{m}/training-data/{d}", "zz1"),
        ("GET", "/models/{m}/trainings/{t}", "zz2"),
        ("POST", "/models/{m}/trainings/{t}/cancel", "zz2"),
        ("DELETE", "/models/{m}/trainings/{t}", "zz2"),
        ("GET", "/predictions/{p}", "zz3"),
        ("DELETE", "/predictions/{p}", "zz3"),
    ):
        kwargs = {"content": image_bytes(), "headers": {"content-type": "image/png"}} if method == "PUT" else {}
        path = _path(template, model=model_id, data="zz1", training="zz2", prediction="zz3")
        assert name in assert_error(api.call(method, path, **kwargs), 404, "not_found")["message"]


def test_a_training_is_only_found_under_its_own_model(mockserver, api):
    model_id, training_id, _ = api.trained_model()
    other = api.create_model("other")["id"]
    assert_error(api.training(other, training_id), 404, "not_found")
    assert api.training(model_id, training_id).status_code == 200


def test_unknown_paths_and_methods(api, model_id):
    assert_error(api.call("GET", f"/models/{model_id}/nothing-here"), 404, "not_found")
    wrong = api.call("PUT", f"/models/{model_id}")
    assert_error(wrong, 405, "method_not_allowed")
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) >= {"GET", "PATCH", "DELETE"}
    assert_error(api.call("GET", "/models"), 405, "method_not_allowed")


# --- JSON bodies --------------------------------------------------------------------------------------------


def test_body_not_json(api, model_id):
    for path in ("/models", f"/models/{model_id}/trainings", "/predictions"):
        assert_error(
            api.call("POST", path, content=b"{nope", headers={"content-type": "application/json"}), 400, "invalid_json"
        )
        error = assert_error(
            api.call("POST", path, content=b"displayName=x", headers={"content-type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        assert "text/plain" in error["message"]
    assert_error(
        api.call("PATCH", f"/models/{model_id}", content=b"[", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )


def test_json_body_over_the_limit_is_413(api):
    big = b'{"displayName": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert_error(
        api.call("POST", "/models", content=big, headers={"content-type": "application/json"}), 413, "payload_too_large"
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["displayName"]),
        ({"displayName": ""}, ["displayName"]),
        ({"displayName": "x" * 257}, ["displayName"]),
        ({"displayName": 5}, ["displayName"]),
        ({"displayName": "ok", "customModelType": 5}, ["customModelType"]),
        ({"displayName": "ok", "colour": "red"}, ["colour"]),
        ([], ["body"]),
    ],
)
def test_create_model_validation(api, body, fields):
    assert_error(api.call("POST", "/models", json=body), 422, "validation_error", *fields)


def test_custom_model_type_is_reserved_so_any_value_is_kept(api):
    """Seed 003 calls customModelType "reserved for future use": an unknown value is not refused."""
    created = api.call("POST", "/models", json={"displayName": "ok", "customModelType": "portrait"})
    assert created.status_code == 201, created.text
    assert created.json()["customModelType"] == "portrait"
    assert api.call("GET", f"/models/{created.json()['id']}").json()["customModelType"] == "portrait"


def test_rename_validation(api, model_id):
    for body, field in (
        ({}, "updatedDisplayName"),
        ({"updatedDisplayName": ""}, "updatedDisplayName"),
        ({"displayName": "x", "updatedDisplayName": "y"}, "displayName"),
    ):
        assert_error(api.call("PATCH", f"/models/{model_id}", json=body), 422, "validation_error", field)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"trainingStrength": -1}, ["trainingStrength"]),
        ({"trainingStrength": 11}, ["trainingStrength"]),
        ({"trainingStrength": "5"}, ["trainingStrength"]),
        ({"trainingStrength": 2.5}, ["trainingStrength"]),
        ({"trainingSpeed": "slow"}, ["trainingSpeed"]),
        ({"trainingSpeed": "fast", "epochs": 3}, ["epochs"]),
        ({"trainingStrength": 99, "trainingSpeed": "slow"}, ["trainingStrength", "trainingSpeed"]),
    ],
)
def test_start_training_validation(api, model_id, body, fields):
    api.upload(model_id)
    assert_error(api.call("POST", f"/models/{model_id}/trainings", json=body), 422, "validation_error", *fields)


def test_unknown_timing_profile_header(api, model_id):
    api.upload(model_id)
    assert_error(api.train(model_id, x_mock_profile="glacial"), 422, "validation_error", "x-mock-profile")
    body = {"scaleConfigs": {"1": {"modelId": "a", "trainingId": "b"}}, "prompt": "p"}
    assert_error(
        api.call("POST", "/predictions", json=body, headers={"x-mock-profile": "glacial"}),
        422,
        "validation_error",
        "x-mock-profile",
    )


GOOD = {"modelId": "m", "trainingId": "t"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"prompt": "p"}, ["scaleConfigs"]),
        ({"scaleConfigs": {"1": GOOD}}, ["prompt"]),
        ({"scaleConfigs": {}, "prompt": "p"}, ["scaleConfigs"]),
        ({"scaleConfigs": {"one": GOOD}, "prompt": "p"}, ["scaleConfigs"]),
        ({"scaleConfigs": {str(i): GOOD for i in range(1, 7)}, "prompt": "p"}, ["scaleConfigs"]),
        ({"scaleConfigs": {"1": {"trainingId": "t"}}, "prompt": "p"}, ["scaleConfigs.1.modelId"]),
        ({"scaleConfigs": {"1": {"modelId": "m"}}, "prompt": "p"}, ["scaleConfigs.1.trainingId"]),
        ({"scaleConfigs": {"1": {**GOOD, "scale": 2.5}}, "prompt": "p"}, ["scaleConfigs.1.scale"]),
        ({"scaleConfigs": {"1": {**GOOD, "scale": -0.1}}, "prompt": "p"}, ["scaleConfigs.1.scale"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": ""}, ["prompt"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p" * 1025}, ["prompt"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "seed": -1}, ["seed"]),
        (
            {"scaleConfigs": {"1": GOOD}, "prompt": "p", "image_size": {"width": 511, "height": 512}},
            ["image_size.width"],
        ),
        (
            {"scaleConfigs": {"1": GOOD}, "prompt": "p", "image_size": {"width": 512, "height": 1537}},
            ["image_size.height"],
        ),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "image_size": {"width": 512}}, ["image_size.height"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "num_images": 0}, ["num_images"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "num_images": 5}, ["num_images"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "output_format": "webp"}, ["output_format"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "guidance_scale": 10.5}, ["guidance_scale"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "num_inference_steps": 0}, ["num_inference_steps"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "num_inference_steps": 51}, ["num_inference_steps"]),
        ({"scaleConfigs": {"1": GOOD}, "prompt": "p", "negative_prompt": "x"}, ["negative_prompt"]),
        ("just a string", ["body"]),
    ],
)
def test_prediction_validation(api, body, fields):
    assert_error(api.call("POST", "/predictions", json=body), 422, "validation_error", *fields)


# --- uploads ------------------------------------------------------------------------------------------------


def _refused_upload_changes_nothing(api: Api, model_id: str, response: httpx.Response, status: int, code: str) -> str:
    before = api.call("GET", f"/models/{model_id}/training-data").json()
    error = assert_error(response, status, code)
    assert api.call("GET", f"/models/{model_id}/training-data").json() == before
    return error["message"]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", image_bytes()),
        ("image/gif", image_bytes("GIF")),
        ("", image_bytes()),
        ("application/octet-stream", image_bytes()),
        ("image/tiff", image_bytes("TIFF")),
    ],
)
def test_upload_with_an_unsupported_content_type_is_415(api, model_id, content_type, data):
    r = api.call("POST", f"/models/{model_id}/training-data", content=data, headers={"content-type": content_type})
    message = _refused_upload_changes_nothing(api, model_id, r, 415, "unsupported_media_type")
    assert "image/png" in message


@pytest.mark.parametrize(
    ("declared", "fmt", "named"),
    [
        ("image/png", "JPEG", "JPEG"),
        ("image/jpeg", "PNG", "PNG"),
        ("image/webp", "PNG", "PNG"),
        ("image/png", "GIF", "GIF"),
        ("image/jpg", "WEBP", "WEBP"),
        ("image/png", "BMP", "BMP"),
    ],
)
def test_upload_whose_bytes_are_another_type_is_415(api, model_id, declared, fmt, named):
    r = api.call(
        "POST", f"/models/{model_id}/training-data", content=image_bytes(fmt), headers={"content-type": declared}
    )
    assert named in _refused_upload_changes_nothing(api, model_id, r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("PNG", b""),
        ("PNG", b"definitely not an image"),
        ("PNG", image_bytes("PNG", (200, 200))[:-40]),
        ("PNG", image_bytes("PNG", (300, 300))[:60]),
        ("JPEG", image_bytes("JPEG", (300, 300))[:-200]),
        ("JPEG", image_bytes("JPEG", (300, 300))[:400]),
        ("WEBP", image_bytes("WEBP", (300, 300))[:-50]),
    ],
)
def test_corrupt_or_truncated_upload_is_422(api, model_id, fmt, data):
    r = api.call("POST", f"/models/{model_id}/training-data", content=data, headers={"content-type": MIME[fmt]})
    message = _refused_upload_changes_nothing(api, model_id, r, 422, "invalid_image")
    assert "empty" in message or "readable" in message


@pytest.mark.parametrize(("width", "height"), [(6000, 6000), (13000, 13000), (60000, 60000)])
def test_decompression_bomb_is_422(api, model_id, width, height):
    # 36 Mpx is over the fake's own limit; 169 Mpx trips Pillow's warning; 3.6 Gpx its hard error.
    r = api.upload(model_id, "PNG", png_header_only(width, height))
    assert "decompression bomb" in _refused_upload_changes_nothing(api, model_id, r, 422, "invalid_image")


def test_a_real_over_limit_image_is_a_bomb_too(api, model_id):
    r = api.upload(model_id, "PNG", image_bytes("PNG", (5001, 5001)))
    _refused_upload_changes_nothing(api, model_id, r, 422, "invalid_image")


def test_upload_over_10_mb_is_refused_from_its_declared_length(mockserver, model_id):
    """Only headers are sent: the answer comes before any of the 11 MB body, so it cannot have been buffered."""
    url = urlsplit(mockserver.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /models/{model_id}/training-data HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"x-api-key: {KEY}\r\ncontent-type: image/png\r\ncontent-length: {11 * 1024 * 1024}\r\n"
                "\r\n"
            ).encode()
        )
        reply = b""
        while b'"payload_too_large"' not in reply:
            chunk = sock.recv(65536)  # the whole answer may come in several segments
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b'"payload_too_large"' in reply


def test_streamed_upload_over_10_mb_is_refused_once_past_the_limit():
    """A chunked body with no length: the app stops pulling chunks as soon as it is past 10 MB."""
    with in_process() as mock:
        api = Api(mock.http)
        model_id = api.create_model()["id"]
        app = mock.app
        pulled: list[int] = []
        sent: list[dict] = []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": f"/models/{model_id}/training-data",
            "raw_path": b"",
            "root_path": "",
            "query_string": b"",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1234),
            "headers": [
                (b"host", b"testserver"),
                (b"x-api-key", KEY.encode()),
                (b"content-type", b"image/png"),
                (b"transfer-encoding", b"chunked"),
            ],
        }

        async def receive() -> dict:
            pulled.append(1)
            return {"type": "http.request", "body": b"\0" * (1024 * 1024), "more_body": len(pulled) < 40}

        async def send(message: dict) -> None:
            sent.append(message)

        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 413
        assert orjson.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
        assert len(pulled) == 11  # 10 MB, then the chunk that passes the limit; never the other 29
        assert api.call("GET", f"/models/{model_id}/training-data").json() == []


def test_refused_replacement_keeps_the_old_image(api, model_id):
    original = image_bytes("PNG", (30, 20))
    data_id = api.upload(model_id, "PNG", original).json()["dataId"]
    path = f"/models/{model_id}/training-data/{data_id}"
    for content_type, data, status in (
        ("image/png", b"garbage", 422),
        ("image/png", image_bytes("JPEG"), 415),
        ("text/plain", image_bytes(), 415),
    ):
        r = api.call("PUT", path, content=data, headers={"content-type": content_type})
        assert r.status_code == status
    item = api.call("GET", path).json()
    assert (item["width"], item["height"], item["contentType"]) == (30, 20, "image/png")
    assert httpx.get(item["dataUrl"]).content == original


# --- trainings ----------------------------------------------------------------------------------------------


def test_training_without_images_is_409(api, model_id):
    error = assert_error(api.train(model_id), 409, "no_training_data")
    assert model_id in error["message"]


def test_second_training_while_one_runs_is_409(mockserver, api, model_id):
    mockserver.clock.freeze()
    api.upload(model_id)
    first = api.train(model_id).json()["trainingId"]
    assert first in assert_error(api.train(model_id), 409, "training_in_progress")["message"]


@pytest.mark.parametrize("ending", ["succeeded", "cancelled", "failed"])
def test_cancelling_a_finished_training_is_409(mockserver, api, model_id, ending):
    mockserver.clock.freeze()
    api.upload(model_id)
    if ending == "failed":
        mockserver.faults.add(effect="job", surface="training", outcome="fail", times=1)
    training_id = api.train(model_id).json()["trainingId"]
    if ending == "cancelled":
        api.call("POST", f"/models/{model_id}/trainings/{training_id}/cancel")
    mockserver.clock.advance(10)
    assert api.training(model_id, training_id).json()["status"] == ending
    error = assert_error(
        api.call("POST", f"/models/{model_id}/trainings/{training_id}/cancel"), 409, "training_finished"
    )
    assert ending in error["message"]


# --- predictions --------------------------------------------------------------------------------------------


@pytest.mark.mockserver(profile="instant")
def test_prediction_references(mockserver, api):
    model_id, training_id, word = api.trained_model()
    other_model = api.create_model("other")["id"]

    r = api.predict([(model_id, training_id), ("ghost", training_id)], word)
    error = assert_error(r, 404, "not_found", "scaleConfigs.2.modelId")
    assert "ghost" in error["message"] and len(error["details"]) == 1
    assert_error(api.predict([(model_id, "nope")], word), 404, "not_found", "scaleConfigs.1.trainingId")
    assert_error(api.predict([(other_model, training_id)], word), 404, "not_found", "scaleConfigs.1.trainingId")

    mockserver.clock.freeze()
    api.upload(other_model)
    queued = api.train(other_model, x_mock_profile="fast").json()["trainingId"]
    error = assert_error(
        api.predict([(model_id, training_id), (other_model, queued)], word),
        409,
        "training_not_succeeded",
        "scaleConfigs.2.trainingId",
    )
    assert "queued" in error["message"] and queued in error["message"]
    both = assert_error(
        api.predict([("ghost", "t"), (other_model, queued)], word),
        404,
        "not_found",
        "scaleConfigs.1.modelId",
        "scaleConfigs.2.trainingId",
    )
    assert len(both["details"]) == 2

    api.call("POST", f"/models/{other_model}/trainings/{queued}/cancel")
    assert_error(api.predict([(other_model, queued)], word), 409, "training_not_succeeded")

    api.call("DELETE", f"/models/{model_id}")
    assert_error(api.predict([(model_id, training_id)], word), 404, "not_found", "scaleConfigs.1.modelId")


def test_failed_jobs_report_why(mockserver, api):
    mockserver.faults.add(effect="job", surface="training", path="/predictions", outcome="timeout", times=1)
    model_id, training_id, word = api.trained_model()
    prediction_id = api.predict([(model_id, training_id)], word).json()["predictionId"]
    mockserver.clock.advance(60)
    body = api.call("GET", f"/predictions/{prediction_id}").json()
    assert body["status"] == "failed" and body["outputImages"] == []
    assert body["error"]["code"] == "timeout"


@pytest.mark.parametrize("status", [403, 408, 500, 503])
def test_injected_http_faults_use_this_api_format(mockserver, api, status):
    mockserver.faults.add(effect="http", surface="training", path="/models/*", status=status, times=1)
    r = api.call("GET", "/models/anything")
    assert r.status_code == status
    assert set(r.json()["error"]) >= {"code", "message"}
