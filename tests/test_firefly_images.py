"""Firefly uploads and the image-to-image operations over a real socket: flows, every documented error body,
tenant isolation, expiry, multipart bodies, status/cancel, faults, journal, rate limits and state import."""

from __future__ import annotations

import io

import httpx
import pytest
from conftest import with_picture
from PIL import Image

from mockserver.testing import run_server

MISSING_UPLOAD = "8a1c1e3e-3c5e-4d55-9f4b-2a4f1c3d5e6f"
TOKEN_INVALID = {"error_code": "401013", "message": "Oauth token is not valid"}
KEY_INVALID = {"error_code": "403003", "message": "Api Key is invalid"}
OPERATIONS = {
    "expand": "/v3/images/expand-async",
    "fill": "/v3/images/fill-async",
    "similar": "/v3/images/generate-similar-async",
    "composite": "/v3/images/generate-object-composite-async",
}


def picture(width: int = 640, height: int = 480, colour: str = "teal", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


def mask_png(width: int = 640, height: int = 480) -> bytes:
    """White (the region to fill) in the middle, black around it."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def upload(mock, data: bytes, content_type: str = "image/png", headers=None) -> httpx.Response:
    return mock.http.post(
        "/v2/storage/image", headers={**(headers or mock.headers()), "content-type": content_type}, content=data
    )


def requests_for(image_id: str, mask_id: str) -> dict[str, dict]:
    return {
        "expand": {
            "image": {"source": {"uploadId": image_id}},
            "size": {"width": 1792, "height": 1024},
            "placement": {"alignment": {"horizontal": "left", "vertical": "top"}},
        },
        "fill": {
            "image": {"source": {"uploadId": image_id}},
            "mask": {"source": {"uploadId": mask_id}},
            "prompt": "balloons",
            "size": {"width": 1024, "height": 1024},
        },
        "similar": {
            "image": {"source": {"uploadId": image_id}},
            "numVariations": 2,
            "size": {"width": 1152, "height": 896},
        },
        "composite": {
            "image": {"source": {"uploadId": image_id}},
            "mask": {"source": {"uploadId": mask_id}},
            "prompt": "a bottle on a beach",
            "contentClass": "art",
            "size": {"width": 1344, "height": 768},
        },
    }


def wait_done(mock, headers, status_url: str) -> dict:
    mock.clock.advance(5)  # the fast profile finishes in 0.8 s of the fake's clock
    return mock.http.get(status_url, headers=headers).json()


def download(url: str) -> Image.Image:
    response = httpx.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


# --- the whole flow of each operation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_flow_upload_operation_status_image(firefly_mock, name):
    headers = firefly_mock.headers()
    first = upload(firefly_mock, picture())
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    image_id = first.json()["images"][0]["id"]
    mask_id = firefly_mock.upload(mask_png())
    body = requests_for(image_id, mask_id)[name]
    job = firefly_mock.http.post(OPERATIONS[name], headers=headers, json=body)
    assert job.status_code == 202, job.text
    accepted = job.json()
    assert set(accepted) == {"jobId", "statusUrl", "cancelUrl"} and accepted["jobId"].startswith("urn:ff:jobs:")
    assert job.headers["link"] == f'<{accepted["statusUrl"]}>; rel="status", <{accepted["cancelUrl"]}>; rel="cancel"'
    assert firefly_mock.http.get(accepted["statusUrl"], headers=headers).json()["status"] == "pending"
    status = wait_done(firefly_mock, headers, accepted["statusUrl"])
    assert status["status"] == "succeeded" and status["progress"] == 100
    result = status["result"]
    assert result["size"] == body["size"]
    assert len(result["outputs"]) == body.get("numVariations", 1)
    expected_keys = {"size", "outputs", "contentClass"} if name == "composite" else {"size", "outputs"}
    assert set(result) == expected_keys
    if name == "composite":
        assert result["contentClass"] == "art"
    for output in result["outputs"]:
        image = download(output["image"]["url"])
        assert image.size == (body["size"]["width"], body["size"]["height"]) and image.format == "JPEG"


def test_expand_draws_the_source_at_its_placement(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture(400, 300, "#ff0000"))
    body = {
        "image": {"source": {"uploadId": image_id}},
        "size": {"width": 1024, "height": 1024},
        "placement": {"inset": {"left": 100, "top": 500, "right": 124, "bottom": 24}},
    }
    job = firefly_mock.http.post(OPERATIONS["expand"], headers={**headers, "x-accept-mimetype": "image/png"}, json=body)
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    image = download(status["result"]["outputs"][0]["image"]["url"]).convert("RGB")
    assert image.size == (1024, 1024)
    # the 400x300 source fits the 800x500 inset box at 667x500, centred horizontally: red at the box's middle
    assert image.getpixel((500, 750)) == (255, 0, 0)


def test_fill_keeps_the_source_outside_the_mask(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture(640, 480, "#0000ff"))
    mask_id = firefly_mock.upload(mask_png())
    body = {
        "image": {"source": {"uploadId": image_id}},
        "mask": {"source": {"uploadId": mask_id}},
        "size": {"width": 1024, "height": 1024},
    }
    job = firefly_mock.http.post(OPERATIONS["fill"], headers={**headers, "x-accept-mimetype": "image/png"}, json=body)
    image = download(wait_done(firefly_mock, headers, job.json()["statusUrl"])["result"]["outputs"][0]["image"]["url"])
    assert image.convert("RGB").getpixel((20, 1000)) == (0, 0, 255)  # outside the white square: the source


def test_same_request_and_seed_give_identical_bytes(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture())
    body = {"image": {"source": {"uploadId": image_id}}, "seeds": [7], "size": {"width": 1024, "height": 1024}}
    urls = []
    for _ in range(2):
        job = firefly_mock.http.post(OPERATIONS["similar"], headers=headers, json=body)
        urls.append(wait_done(firefly_mock, headers, job.json()["statusUrl"])["result"]["outputs"][0]["image"]["url"])
    assert httpx.get(urls[0]).content == httpx.get(urls[1]).content


def test_seeded_server_repeats_upload_ids_and_job_ids():
    runs = []
    for _ in range(2):
        with run_server(seed=3) as mock:
            upload_id = mock.upload(picture())
            body = {"image": {"source": {"uploadId": upload_id}}}
            runs.append(
                (upload_id, mock.http.post(OPERATIONS["similar"], headers=mock.headers(), json=body).json()["jobId"])
            )
    assert runs[0] == runs[1]


# --- uploads --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_upload_accepts_the_three_types(firefly_mock, fmt, mime):
    response = upload(firefly_mock, picture(fmt=fmt), mime)
    assert response.status_code == 200 and len(response.json()["images"]) == 1


def test_upload_errors_in_the_storage_shape(firefly_mock):
    headers = firefly_mock.headers()
    for data, mime in ((b"", "image/png"), (b"not an image", "image/png"), (picture(fmt="JPEG"), "image/png")):
        response = upload(firefly_mock, data, mime, headers)
        assert response.status_code == 400
        assert response.json()["error_code"] == "10075" and set(response.json()) == {"message", "error_code"}
    truncated = picture(fmt="JPEG")[:-200]
    assert upload(firefly_mock, truncated, "image/jpeg", headers).json()["error_code"] == "10075"
    unsupported = upload(firefly_mock, picture(), "image/gif", headers)
    assert unsupported.status_code == 415 and unsupported.json()["error_code"] == "415"
    assert upload(firefly_mock, picture(), "", headers).status_code == 415
    too_big = upload(firefly_mock, b"\0" * (15 * 1024 * 1024 + 1), "image/png", headers)
    assert too_big.status_code == 413 and too_big.json()["error_code"] == "413"


def test_upload_refuses_a_decompression_bomb(firefly_mock):
    out = io.BytesIO()
    Image.new("1", (6000, 6000)).save(out, "PNG")  # 36 Mpx in a few kB
    response = upload(firefly_mock, out.getvalue())
    assert response.status_code == 400 and "decompression bomb" in response.json()["message"]


def test_upload_credentials(firefly_mock):
    headers = firefly_mock.headers()
    no_token = upload(firefly_mock, picture(), headers={"x-api-key": "mock-client-id"})
    assert no_token.status_code == 401 and no_token.json() == TOKEN_INVALID
    wrong_key = upload(firefly_mock, picture(), headers={**headers, "x-api-key": "other-client-id"})
    assert wrong_key.status_code == 403 and wrong_key.json() == KEY_INVALID


def scoped_headers(mock, scope: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": mock.client_id, "client_secret": mock.client_secret}
    token = mock.http.post("/ims/token/v3", data={**form, "scope": scope}).json()["access_token"]
    return {"x-api-key": mock.client_id, "authorization": f"Bearer {token}"}


def test_missing_firefly_scope(firefly_mock):
    openid_only = scoped_headers(firefly_mock, "openid,AdobeID")
    refused = upload(firefly_mock, picture(), headers=openid_only)
    assert refused.status_code == 403
    assert refused.json() == {"message": "Missing required IMS scope", "error_code": "10007"}
    job = firefly_mock.http.post(OPERATIONS["similar"], headers=openid_only, json={"image": {"source": {}}})
    assert job.status_code == 403 and job.json()["error_code"] == "access_error"
    assert job.headers["x-access-error"] == "invalid_ims_scope"
    assert upload(firefly_mock, picture(), headers=scoped_headers(firefly_mock, "")).status_code == 200


def test_uploads_belong_to_their_tenant(firefly_mock):
    mine = firefly_mock.upload(picture())
    theirs = firefly_mock.headers("other-client-id", "other-client-secret")
    body = {"image": {"source": {"uploadId": mine}}}
    refused = firefly_mock.http.post(OPERATIONS["similar"], headers=theirs, json=body)
    assert refused.status_code == 422
    assert refused.json()["validation_errors"][0]["loc"] == ["body", "image", "source", "uploadId"]
    assert firefly_mock.http.post(OPERATIONS["similar"], headers=firefly_mock.headers(), json=body).status_code == 202


def test_uploads_expire_after_seven_days(firefly_mock):
    upload_id = firefly_mock.upload(picture())
    body = {"image": {"source": {"uploadId": upload_id}}}
    firefly_mock.clock.advance(7 * 86400 - 10)
    headers = firefly_mock.headers()
    assert firefly_mock.http.post(OPERATIONS["similar"], headers=headers, json=body).status_code == 202
    firefly_mock.clock.advance(20)
    headers = firefly_mock.headers()
    expired = firefly_mock.http.post(OPERATIONS["similar"], headers=headers, json=body)
    assert expired.status_code == 422 and "expired" in expired.json()["validation_errors"][0]["msg"]


def test_uploads_are_bounded_per_tenant():
    with run_server() as mock:
        from mockserver.providers import firefly_uploads

        headers = mock.headers()
        small = picture(8, 8)
        for _ in range(firefly_uploads.PER_TENANT):
            assert upload(mock, small, headers=headers).status_code == 200
        full = upload(mock, small, headers=headers)
        assert full.status_code == 429 and full.json()["error_code"] == "10011"
        assert upload(mock, small, headers=mock.headers("other-client-id", "other-client-secret")).status_code == 200
        mock.clock.advance(7 * 86400 + 1)  # expired uploads make room again
        assert upload(mock, small, headers=mock.headers()).status_code == 200


# --- the operations' errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_body_errors(firefly_mock, name):
    headers = firefly_mock.headers()
    path = OPERATIONS[name]
    empty = firefly_mock.http.post(path, headers={**headers, "content-type": "application/json"}, content=b"")
    assert empty.status_code == 400 and empty.json() == {
        "error_code": "empty_input_body",
        "message": "Request body is empty.",
    }
    bad = firefly_mock.http.post(path, headers={**headers, "content-type": "application/json"}, content=b"{")
    assert bad.status_code == 400 and bad.json()["error_code"] == "bad_request"
    text = firefly_mock.http.post(path, headers={**headers, "content-type": "text/plain"}, content=b"{}")
    assert text.status_code == 415 and text.json()["error_code"] == "invalid_content_type"
    big = firefly_mock.http.post(path, headers=headers, json={"prompt": "x" * (2 * 1024 * 1024)})
    assert big.status_code == 413 and big.headers["content-type"].startswith("text/html")
    no_token = firefly_mock.http.post(path, headers={"x-api-key": "mock-client-id"}, json={})
    assert no_token.status_code == 401 and no_token.json() == TOKEN_INVALID
    required = firefly_mock.http.post(path, headers=headers, json={})
    assert required.status_code == 422
    assert ["body", "image"] in [e["loc"] for e in required.json()["validation_errors"]]


def validation(mock, name: str, body: dict, headers=None) -> list[dict]:
    response = mock.http.post(OPERATIONS[name], headers=headers or mock.headers(), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "validation_error"
    return response.json()["validation_errors"]


def test_validation_rules(firefly_mock):
    image_id = firefly_mock.upload(picture())
    mask_id = firefly_mock.upload(mask_png())
    image = {"source": {"uploadId": image_id}}
    mask = {"source": {"uploadId": mask_id}}
    cases = [
        ("expand", {"image": image, "size": {"width": 4000, "height": 1024}}, ["body", "size"]),
        ("expand", {"image": image, "mask": mask, "placement": {}}, ["body", "placement"]),
        (
            "expand",
            {"image": image, "placement": {"inset": {"left": 1500, "right": 600}}},
            ["body", "placement", "inset"],
        ),
        (
            "expand",
            {"image": image, "placement": {"alignment": {"horizontal": "middle"}}},
            ["body", "placement", "alignment", "horizontal"],
        ),
        ("fill", {"image": image, "mask": mask, "size": {"width": 1792, "height": 1024}}, ["body", "size"]),
        ("fill", {"image": image}, ["body", "mask"]),
        ("similar", {"image": image, "seeds": [1, 2], "numVariations": 3}, ["body", "seeds"]),
        ("similar", {"image": image, "numVariations": 5}, ["body", "numVariations"]),
        ("similar", {"image": {"source": {}}}, ["body", "image", "source"]),
        ("similar", {"image": {"source": {"uploadId": "not-a-uuid"}}}, ["body", "image", "source", "uploadId"]),
        ("similar", {"image": {"source": {"uploadId": MISSING_UPLOAD}}}, ["body", "image", "source", "uploadId"]),
        ("similar", {"image": {"source": {"url": "https://example.com/a.png"}}}, ["body", "image", "source", "url"]),
        ("composite", {"image": image}, ["body", "prompt"]),
        ("composite", {"image": image, "prompt": "p", "contentClass": "video"}, ["body", "contentClass"]),
        ("composite", {"image": image, "prompt": "p", "style": {"strength": 0}}, ["body", "style", "strength"]),
    ]
    for name, body, loc in cases:
        errors = validation(firefly_mock, name, body)
        assert loc in [e["loc"] for e in errors], (name, body, errors)


def test_enum_error_has_adobes_shape(firefly_mock):
    image_id = firefly_mock.upload(picture())
    body = {"image": {"source": {"uploadId": image_id}}, "prompt": "p", "contentClass": "video"}
    assert validation(firefly_mock, "composite", body) == [
        {
            "ctx": {"enum_values": ["photo", "art"]},
            "loc": ["body", "contentClass"],
            "msg": "value is not a valid enumeration member; permitted: 'photo', 'art'",
            "type": "type_error.enum",
        }
    ]


def test_url_sources_on_storage_domains_are_accepted(firefly_mock):
    headers = firefly_mock.headers()
    body = {"image": {"source": {"url": "https://bucket.s3.amazonaws.com/photo.png?sig=1"}}}
    job = firefly_mock.http.post(OPERATIONS["similar"], headers=headers, json=body)
    assert job.status_code == 202
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    assert download(status["result"]["outputs"][0]["image"]["url"]).size == (2048, 2048)


# --- multipart --------------------------------------------------------------------------------------------------


def test_multipart_files_fill_the_empty_sources(firefly_mock):
    headers = firefly_mock.headers()
    files = [("files", ("photo.png", picture(), "image/png")), ("files", ("mask.png", mask_png(), "image/png"))]
    request = '{"image": {"source": {}}, "mask": {"source": {}}, "size": {"width": 1024, "height": 1024}}'
    job = firefly_mock.http.post(OPERATIONS["fill"], headers=headers, data={"request": request}, files=files)
    assert job.status_code == 202, job.text
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    assert download(status["result"]["outputs"][0]["image"]["url"]).size == (1024, 1024)


def test_multipart_errors(firefly_mock):
    headers = firefly_mock.headers()
    path = OPERATIONS["fill"]
    one_file = [("files", ("photo.png", picture(), "image/png"))]
    request = '{"image": {"source": {}}, "mask": {"source": {}}}'
    missing = firefly_mock.http.post(path, headers=headers, data={"request": request}, files=one_file)
    assert missing.status_code == 422
    assert missing.json()["validation_errors"][0]["loc"] == ["body", "mask", "source"]
    bad_file = [("files", ("photo.png", b"junk", "image/png")), ("files", ("m.png", mask_png(), "image/png"))]
    refused = firefly_mock.http.post(path, headers=headers, data={"request": request}, files=bad_file)
    assert refused.status_code == 422 and refused.json()["validation_errors"][0]["loc"] == ["body", "files", 0]
    no_request = firefly_mock.http.post(path, headers=headers, files=one_file)
    assert no_request.status_code == 422 and no_request.json()["validation_errors"][0]["loc"] == ["body", "request"]
    no_files = firefly_mock.http.post(
        path,
        headers={**headers, "content-type": "multipart/form-data; boundary=x"},
        content=b'--x\r\nContent-Disposition: form-data; name="request"\r\n\r\n{}\r\n--x--\r\n',
    )
    assert no_files.status_code == 422 and no_files.json()["validation_errors"][0]["loc"] == ["body", "files"]
    garbled = firefly_mock.http.post(path, headers={**headers, "content-type": "multipart/form-data"}, content=b"--")
    assert garbled.status_code in (400, 422) and "error_code" in garbled.json()


# --- shared status, cancel, faults, journal, limits, state -----------------------------------------------------------


def test_cancel_and_status_find_the_new_kinds(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture())
    job = firefly_mock.http.post(
        OPERATIONS["similar"], headers=headers, json={"image": {"source": {"uploadId": image_id}}}
    ).json()
    assert firefly_mock.http.put(job["cancelUrl"], headers=headers).json() == {}
    again = firefly_mock.http.put(job["cancelUrl"], headers=headers)
    assert again.status_code == 409 and again.json()["error_code"] == "job_already_canceled"
    assert firefly_mock.http.get(job["statusUrl"], headers=headers).json()["status"] == "canceled"
    theirs = firefly_mock.headers("other-client-id", "other-client-secret")
    unknown = firefly_mock.http.get(job["statusUrl"], headers=theirs)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "unknown_job_id"


def test_faults_match_path_globs_and_fail_jobs(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture())
    firefly_mock.faults.add(surface="firefly", path="/v3/images/*-async", effect="http", status=503, times=1)
    refused = firefly_mock.http.post(
        OPERATIONS["similar"], headers=headers, json={"image": {"source": {"uploadId": image_id}}}
    )
    assert refused.status_code == 503 and refused.json()["error_code"] == "service_unavailable"
    firefly_mock.faults.add(
        surface="firefly", path="/v3/images/expand-async", effect="job", outcome="fail", error_code="runtime_error"
    )
    job = firefly_mock.http.post(
        OPERATIONS["expand"], headers=headers, json={"image": {"source": {"uploadId": image_id}}}
    )
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    assert status["status"] == "failed" and status["error_code"] == "runtime_error"
    firefly_mock.faults.add(surface="firefly", path="/v2/storage/*", effect="http", status=429)
    limited = upload(firefly_mock, picture(), headers=headers)
    assert limited.status_code == 429 and limited.json() == {"message": "Too Many Requests", "error_code": "10011"}
    assert "retry-after" in limited.headers
    firefly_mock.faults.clear()
    firefly_mock.faults.add(surface="firefly", path="/v2/storage/image", effect="http", status=500)
    assert upload(firefly_mock, picture(), headers=headers).json() == {
        "message": "Internal Server Error",
        "error_code": "10002",
    }


def test_journal_records_uploads_and_operations(firefly_mock):
    image_id = firefly_mock.upload(picture())
    firefly_mock.http.post(
        OPERATIONS["similar"], headers=firefly_mock.headers(), json={"image": {"source": {"uploadId": image_id}}}
    )
    [stored] = firefly_mock.requests(path="/v2/storage/image")
    assert stored["surface"] == "firefly" and stored["status"] == 200 and stored["tenant"] == "mock-client-id"
    [started] = firefly_mock.requests(path=OPERATIONS["similar"])
    assert started["status"] == 202 and started["body"]["image"]["source"]["uploadId"] == image_id


def test_realistic_rate_limits_cover_each_operation():
    with run_server(rate_limits="realistic", profile="instant") as mock:
        headers = mock.headers()
        image_id = mock.upload(picture())
        body = {"image": {"source": {"uploadId": image_id}}}
        answers = [mock.http.post(OPERATIONS["similar"], headers=headers, json=body).status_code for _ in range(5)]
        assert answers == [202, 202, 202, 202, 429]
        assert mock.http.post(OPERATIONS["expand"], headers=headers, json=body).status_code == 202


def test_state_export_import_keeps_uploads_and_jobs(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture())
    job = firefly_mock.http.post(
        OPERATIONS["expand"], headers=headers, json={"image": {"source": {"uploadId": image_id}}}
    ).json()
    state = firefly_mock.export_state()
    assert any(o["kind"] == "upload" for o in state["objects"])
    firefly_mock.reset()
    firefly_mock.import_state(state)
    headers = firefly_mock.headers()
    status = wait_done(firefly_mock, headers, job["statusUrl"])
    assert download(status["result"]["outputs"][0]["image"]["url"]).size == (2048, 2048)
    again = firefly_mock.http.post(
        OPERATIONS["similar"], headers=headers, json={"image": {"source": {"uploadId": image_id}}}
    )
    assert again.status_code == 202


def test_state_import_refuses_bad_uploads_and_layers(firefly_mock):
    image_id = firefly_mock.upload(picture())
    firefly_mock.http.post(
        OPERATIONS["expand"], headers=firefly_mock.headers(), json={"image": {"source": {"uploadId": image_id}}}
    )
    state = firefly_mock.export_state()
    orphan = {**state, "objects": [o for o in state["objects"] if not (o["kind"] == "asset" and o["key"] == image_id)]}
    refused = firefly_mock.http.put("/__admin/state", json=orphan)
    assert refused.status_code == 422 and "upload" in refused.json()["message"]
    for bad in ([0, 0, 0, 10], [0, 0, 99999, 10], "box", [0, 0, 1.5, 10]):
        # the expand draws its outputs from the picture it keeps (with_picture applies the change at once)
        layers = lambda drawn: {**drawn, "layers": [{**drawn["layers"][0], "box": bad}]}  # noqa: B023, E731
        boxed = with_picture(state, "job:firefly.expand", layers)
        refused = firefly_mock.http.put("/__admin/state", json=boxed)
        assert refused.status_code == 422 and "layers" in refused.json()["message"], bad
    for bad_picture in (None, "x", {"mime": "image/jpeg", "width": 10, "height": 10, "key": ["a"], "lines": [[], []]}):
        bad_state = with_picture(state, "job:firefly.expand", lambda _: bad_picture)  # noqa: B023
        refused = firefly_mock.http.put("/__admin/state", json=bad_state)
        assert refused.status_code == 422 and "extra.picture" in refused.json()["message"], bad_picture


def test_whole_numbers_sent_as_floats_are_drawn(firefly_mock):
    headers = firefly_mock.headers()
    image_id = firefly_mock.upload(picture())
    body = {
        "image": {"source": {"uploadId": image_id}},
        "size": {"width": 1024.0, "height": 1024.0},
        "numVariations": 1.0,
        "placement": {"inset": {"left": 10.0, "top": 20.0, "right": 30.0, "bottom": 40.0}},
    }
    job = firefly_mock.http.post(OPERATIONS["expand"], headers=headers, json=body)
    assert job.status_code == 202, job.text
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    assert status["result"]["size"] == {"width": 1024, "height": 1024}
    assert download(status["result"]["outputs"][0]["image"]["url"]).size == (1024, 1024)


def test_uploads_and_jobs_survive_a_restart_on_a_durable_store(tmp_path):
    with run_server(state_dir=str(tmp_path), profile="instant") as mock:
        upload_id = mock.upload(picture())
        job = mock.http.post(
            OPERATIONS["expand"], headers=mock.headers(), json={"image": {"source": {"uploadId": upload_id}}}
        )
        status_url = job.json()["statusUrl"].replace(mock.base_url, "")
    with run_server(state_dir=str(tmp_path)) as mock:
        headers = mock.headers()
        status = mock.http.get(status_url, headers=headers).json()
        assert status["status"] == "succeeded"
        assert download(status["result"]["outputs"][0]["image"]["url"]).size == (2048, 2048)
        again = mock.http.post(
            OPERATIONS["fill"],
            headers=headers,
            json={"image": {"source": {"uploadId": upload_id}}, "mask": {"source": {"uploadId": upload_id}}},
        )
        assert again.status_code == 202


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "access_error"), (408, "timeout_error"), (429, "rate_limited"), (500, "runtime_error")],
)
def test_injected_errors_have_the_specs_codes(firefly_mock, status, code):
    """The operations' documented error codes per status (Adobe's examples), as faults inject them."""
    firefly_mock.faults.add(surface="firefly", path="/v3/images/*", effect="http", status=status)
    for path in OPERATIONS.values():
        response = firefly_mock.http.post(path, headers=firefly_mock.headers(), json={})
        assert response.status_code == status and response.json()["error_code"] == code
    if status == 403:
        assert response.headers["x-access-error"] == "quota_exhausted"
    if status == 429:
        assert response.headers["x-access-rate-limit-level"] == "org" and "retry-after" in response.headers


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"message": "Bad Request", "error_code": "10075"}),
        (403, {"message": "Missing required IMS scope", "error_code": "10007"}),
        (451, {"message": "Unavailable For Legal Reasons", "error_code": "10008"}),
    ],
)
def test_injected_upload_errors_are_the_specs_examples(firefly_mock, status, body):
    firefly_mock.faults.add(surface="firefly", path="/v2/storage/image", effect="http", status=status)
    response = upload(firefly_mock, picture())
    assert response.status_code == status and response.json() == body


def test_unrouted_storage_paths_answer_in_the_storage_shape(firefly_mock):
    wrong_method = firefly_mock.http.get("/v2/storage/image", headers=firefly_mock.headers())
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"message", "error_code"}
    unknown = firefly_mock.http.post("/v2/storage/video", headers=firefly_mock.headers())  # storage, not /v2 at large
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "404"


def test_generate_reference_images_must_be_live_uploads_of_the_caller(firefly_mock):
    headers = firefly_mock.headers()
    mine = firefly_mock.upload(picture())
    for key in ("style", "structure"):
        body = {"prompt": "a kite", key: {"imageReference": {"source": {"uploadId": MISSING_UPLOAD}}}}
        refused = firefly_mock.http.post("/v3/images/generate-async", headers=headers, json=body)
        assert refused.status_code == 422
        assert refused.json()["validation_errors"][0]["loc"] == ["body", key, "imageReference", "source", "uploadId"]
        body[key]["imageReference"]["source"]["uploadId"] = mine
        assert firefly_mock.http.post("/v3/images/generate-async", headers=headers, json=body).status_code == 202
        theirs = firefly_mock.headers("other-client-id", "other-client-secret")
        assert firefly_mock.http.post("/v3/images/generate-async", headers=theirs, json=body).status_code == 422


def test_generate_takes_multipart_with_a_style_reference_file(firefly_mock):
    headers = firefly_mock.headers()
    request = (
        '{"prompt": "a kite", "style": {"imageReference": {"source": {}}}, "size": {"width": 1024, "height": 1024}}'
    )
    files = [("files", ("style.png", picture(), "image/png"))]
    job = firefly_mock.http.post("/v3/images/generate-async", headers=headers, data={"request": request}, files=files)
    assert job.status_code == 202, job.text
    status = wait_done(firefly_mock, headers, job.json()["statusUrl"])
    assert download(status["result"]["outputs"][0]["image"]["url"]).size == (1024, 1024)
    two = files + [("files", ("extra.png", picture(), "image/png"))]
    left_over = firefly_mock.http.post(
        "/v3/images/generate-async", headers=headers, data={"request": request}, files=two
    )
    assert left_over.status_code == 422 and left_over.json()["validation_errors"][0]["loc"] == ["body", "files"]
    text = firefly_mock.http.post(
        "/v3/images/generate-async", headers={**headers, "content-type": "text/plain"}, content=b"{}"
    )
    assert text.json() == {
        "error_code": "invalid_content_type",
        "message": "Content type must be application/json or multipart/form-data.",
    }


def test_an_upload_id_reused_after_a_reset_or_import_never_gets_the_old_picture() -> None:
    """Seeded ids repeat after a reset or an import, and rendered pictures are cached (per replica, and an import
    or another replica's reset clears no cache): the cache key must change with the uploaded pixels."""
    from mockserver.testing import in_process

    with in_process(seed=3) as mock:

        def expand(colour: str) -> tuple[str, bytes]:
            uploaded = upload(mock, picture(64, 64, colour)).json()["images"][0]["id"]
            body = {"image": {"source": {"uploadId": uploaded}}, "size": {"width": 256, "height": 256}, "seeds": [7]}
            job = mock.http.post("/v3/images/expand-async", headers=mock.headers(), json=body).json()["jobId"]
            mock.clock.advance(600)
            return job, download(job)

        def download(job: str) -> bytes:
            status = mock.http.get(f"/v3/status/{job}", headers=mock.headers()).json()
            return mock.http.get(status["result"]["outputs"][0]["image"]["url"]).content

        job, red = expand("red")
        red_state = mock.http.get("/__admin/state").json()
        mock.reset()
        assert expand("blue") == (job, download(job)) and download(job) != red  # same ids, other pixels
        assert mock.http.put("/__admin/state", json=red_state).status_code == 200  # back to the red upload
        assert download(job) == red
