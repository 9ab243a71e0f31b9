"""Every Firefly error, in its exact wire body, plus tenant isolation."""

from __future__ import annotations

import httpx
import pytest
from conftest import PRIVATE_MODEL, WARM_MODEL, generate

from mockserver.testing import run_server

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "mock-client-id",
    "client_secret": "mock-client-secret",
    "scope": "openid",
}


# --- IMS ------------------------------------------------------------------------------------------------------


def test_wrong_secret_for_declared_client(mockserver):
    r = mockserver.http.post("/ims/token/v3", data={**TOKEN_FORM, "client_secret": "nope"})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_client", "error_description": "invalid client_secret parameter"}


def test_unsupported_grant_type(mockserver):
    r = mockserver.http.post("/ims/token/v3", data={**TOKEN_FORM, "grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_token_fields_in_query_string(mockserver):
    r = mockserver.http.post("/ims/token/v3", params=TOKEN_FORM)
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"


def test_open_mode_any_pair_is_its_own_tenant(mockserver):
    r = mockserver.http.post("/ims/token/v3", data={**TOKEN_FORM, "client_id": "brand-new", "client_secret": "x"})
    assert r.status_code == 200


def test_strict_mode_unknown_client():
    with run_server(auth_mode="strict") as mock:
        r = mock.http.post("/ims/token/v3", data={**TOKEN_FORM, "client_id": "stranger", "client_secret": "x"})
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_client", "error_description": "invalid client_id parameter"}
        assert mock.http.post("/ims/token/v3", data=TOKEN_FORM).status_code == 200


# --- gateway auth ---------------------------------------------------------------------------------------------

TOKEN_INVALID = {"error_code": "401013", "message": "Oauth token is not valid"}
KEY_INVALID = {"error_code": "403003", "message": "Api Key is invalid"}


@pytest.mark.parametrize("path", ["/v3/custom-models", "/v3/status/urn:ff:jobs:x"])
def test_missing_or_bad_token(firefly_mock, path):
    for headers in (
        {"x-api-key": "mock-client-id"},
        {"x-api-key": "mock-client-id", "authorization": "Bearer not-a-token"},
    ):
        r = firefly_mock.http.get(path, headers=headers)
        assert r.status_code == 401 and r.json() == TOKEN_INVALID


def test_expired_token(firefly_mock, auth):
    assert firefly_mock.http.get("/v3/custom-models", headers=auth).status_code == 200
    firefly_mock.clock.advance(86399)
    r = firefly_mock.http.get("/v3/custom-models", headers=auth)
    assert r.status_code == 401 and r.json() == TOKEN_INVALID


def test_missing_or_mismatched_api_key(firefly_mock, auth):
    bearer = {"authorization": auth["authorization"]}
    for headers in (bearer, {**bearer, "x-api-key": "other-client-id"}):
        r = firefly_mock.http.get("/v3/custom-models", headers=headers)
        assert r.status_code == 403 and r.json() == KEY_INVALID


def test_the_first_credential_header_of_each_name_counts(firefly_mock, auth):
    """As Starlette's `Headers.get` reads them: a second `Authorization` or `x-api-key` changes nothing."""
    path, body = "/v3/images/generate-async", {"prompt": "x"}
    good, bad = ("authorization", auth["authorization"]), ("authorization", "Bearer not-a-token")
    key, other = ("x-api-key", auth["x-api-key"]), ("x-api-key", "other-client-id")
    assert firefly_mock.http.post(path, json=body, headers=[good, bad, key, other]).status_code == 202
    r = firefly_mock.http.post(path, json=body, headers=[bad, good, key])
    assert r.status_code == 401 and r.json() == TOKEN_INVALID
    r = firefly_mock.http.post(path, json=body, headers=[good, other, key])
    assert r.status_code == 403 and r.json() == KEY_INVALID


# --- custom models --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["limit=0", "limit=51", "limit=x", "start=-1", "sortBy=size", "publishedState=gone"])
def test_custom_models_bad_query(firefly_mock, auth, query):
    r = firefly_mock.http.get(f"/v3/custom-models?{query}", headers=auth)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"reason", "message"} and body["reason"] == "Bad Request"


def test_custom_models_listing_filters_sorts_and_pages(firefly_mock, auth):
    get = lambda q: firefly_mock.http.get(f"/v3/custom-models?{q}", headers=auth).json()  # noqa: E731
    published = get("")
    assert {m["displayName"] for m in published["custom_models"]} == {"Warm Custom Model", "Private Logo Style"}
    unpublished = get("publishedState=unpublished")
    assert [m["displayName"] for m in unpublished["custom_models"]] == ["Ceramic Mug Subject"]
    everything = get("publishedState=all&sortBy=assetName&limit=2")
    assert everything["total_count"] == 3
    assert [m["displayName"] for m in everything["custom_models"]] == ["Ceramic Mug Subject", "Private Logo Style"]
    assert everything["_links"]["page"] == {
        "href": "/v3/custom-models?start={start}&limit={limit}",
        "rel": "page",
        "templated": True,
    }
    assert everything["_links"]["next"]["href"].startswith("/v3/custom-models?start=2&limit=2")
    last = get("publishedState=all&sortBy=assetName&limit=2&start=2")
    assert [m["displayName"] for m in last["custom_models"]] == ["Warm Custom Model"] and "next" not in last["_links"]
    newest_first = get("publishedState=all&sortBy=-createdDate")
    assert newest_first["custom_models"][0]["displayName"] == "Private Logo Style"
    item = published["custom_models"][0]
    assert set(item) == {
        "version",
        "assetName",
        "size",
        "etag",
        "trainingMode",
        "assetId",
        "mediaType",
        "createdDate",
        "modifiedDate",
        "publishedState",
        "baseModel",
        "samplePrompt",
        "displayName",
        "conceptId",
    }
    assert item["mediaType"] == "application/vnd.adobe.ffmodel+dcx" and isinstance(item["createdDate"], int)


def test_one_custom_model_and_404(firefly_mock, auth):
    r = firefly_mock.http.get(f"/v3/custom-models/{WARM_MODEL}", headers=auth)
    assert r.status_code == 200 and r.json()["baseModel"] == {"name": "clio_v2", "version": "2.0.0"}
    missing = firefly_mock.http.get(
        "/v3/custom-models/urn:aaid:sc:VA6C2:00000000-0000-0000-0000-000000000000", headers=auth
    )
    assert missing.status_code == 404 and missing.json()["reason"] == "Not Found"


def test_private_models_are_isolated(firefly_mock, auth):
    other = firefly_mock.headers("other-client-id", "other-client-secret")
    mine = firefly_mock.http.get("/v3/custom-models?publishedState=all", headers=auth).json()
    theirs = firefly_mock.http.get("/v3/custom-models?publishedState=all", headers=other).json()
    assert PRIVATE_MODEL in [m["assetId"] for m in mine["custom_models"]]
    assert PRIVATE_MODEL not in [m["assetId"] for m in theirs["custom_models"]]
    assert firefly_mock.http.get(f"/v3/custom-models/{PRIVATE_MODEL}", headers=other).status_code == 404
    r = generate(firefly_mock, {"prompt": "x", "customModelId": PRIVATE_MODEL}, other, version="image3_custom")
    assert r.status_code == 404


def test_jobs_are_isolated(firefly_mock, auth):
    job = generate(firefly_mock, {"prompt": "mine"}, auth).json()
    other = firefly_mock.headers("other-client-id", "other-client-secret")
    unknown = {"error_code": "unknown_job_id", "message": "The job id is unknown."}
    for method, url in (("GET", job["statusUrl"]), ("PUT", job["cancelUrl"])):
        r = firefly_mock.http.request(method, url, headers=other)
        assert r.status_code == 404 and r.json() == unknown
    assert firefly_mock.http.get(job["statusUrl"], headers=auth).status_code == 200


# --- generate-async -------------------------------------------------------------------------------------------


def test_wrong_content_type(firefly_mock, auth):
    r = firefly_mock.http.post(
        "/v3/images/generate-async", content=b"prompt=x", headers={**auth, "content-type": "text/plain"}
    )
    assert r.status_code == 415 and r.json()["error_code"] == "invalid_content_type"


def test_empty_and_unreadable_body(firefly_mock, auth):
    headers = {**auth, "content-type": "application/json"}
    empty = firefly_mock.http.post("/v3/images/generate-async", content=b"", headers=headers)
    assert empty.status_code == 400 and empty.json()["error_code"] == "empty_input_body"
    broken = firefly_mock.http.post("/v3/images/generate-async", content=b"{nope", headers=headers)
    assert broken.status_code == 400 and broken.json()["error_code"] == "bad_request"


def test_content_class_error_is_exactly_adobes(firefly_mock, auth):
    r = generate(firefly_mock, {"prompt": "x", "contentClass": "painting"}, auth)
    assert r.status_code == 422
    assert r.json() == {
        "error_code": "validation_error",
        "message": "Request validation failed.",
        "validation_errors": [
            {
                "ctx": {"enum_values": ["photo", "art"]},
                "loc": ["body", "contentClass"],
                "msg": "value is not a valid enumeration member; permitted: 'photo', 'art'",
                "type": "type_error.enum",
            }
        ],
    }


@pytest.mark.parametrize(
    ("body", "version", "loc"),
    [
        ({}, None, ["body", "prompt"]),
        ({"prompt": ""}, None, ["body", "prompt"]),
        ({"prompt": "x" * 1025}, None, ["body", "prompt"]),
        ({"prompt": "x", "negativePrompt": "n" * 1025}, None, ["body", "negativePrompt"]),
        ({"prompt": "x", "numVariations": 5}, None, ["body", "numVariations"]),
        ({"prompt": "x", "numVariations": 0}, None, ["body", "numVariations"]),
        ({"prompt": "x", "seeds": [1, 1]}, None, ["body", "seeds"]),
        ({"prompt": "x", "seeds": [1, 2, 3, 4, 5]}, None, ["body", "seeds"]),
        ({"prompt": "x", "seeds": [1, 2], "numVariations": 3}, None, ["body", "seeds"]),
        ({"prompt": "x", "size": {"width": 1000, "height": 1000}}, None, ["body", "size"]),
        ({"prompt": "x", "size": {"width": 1024, "height": 1024}}, "image4_standard", ["body", "size"]),
        ({"prompt": "x", "visualIntensity": 11}, None, ["body", "visualIntensity"]),
        (
            {"prompt": "x", "visualIntensity": 5, "customModelId": WARM_MODEL},
            "image4_custom",
            ["body", "visualIntensity"],
        ),
        ({"prompt": "x", "upsamplerType": "default"}, "image3", ["body", "upsamplerType"]),
        ({"prompt": "x"}, "image3_custom", ["body", "customModelId"]),
        ({"prompt": "x", "style": {"presets": ["a", "a"]}}, None, ["body", "style", "presets"]),
        ({"prompt": "x", "style": {"strength": 0}}, None, ["body", "style", "strength"]),
        ({"prompt": "x", "structure": {"strength": 101}}, None, ["body", "structure", "strength"]),
        ({"prompt": 5}, None, ["body", "prompt"]),
        ({"prompt": "x"}, "image5", ["header", "x-model-version"]),
    ],
)
def test_validation_errors(firefly_mock, auth, body, version, loc):
    r = generate(firefly_mock, body, auth, version=version)
    assert r.status_code == 422, r.text
    payload = r.json()
    assert payload["error_code"] == "validation_error"
    assert loc in [e["loc"] for e in payload["validation_errors"]]
    assert all({"loc", "msg", "type"} <= set(e) for e in payload["validation_errors"])


def test_bad_accept_mimetype(firefly_mock, auth):
    r = generate(firefly_mock, {"prompt": "x"}, auth, x_accept_mimetype="image/gif")
    assert r.status_code == 422 and r.json()["validation_errors"][0]["loc"] == ["header", "x-accept-mimetype"]


def test_unknown_custom_model(firefly_mock, auth):
    r = generate(
        firefly_mock, {"prompt": "x", "customModelId": "urn:aaid:sc:VA6C2:nope"}, auth, version="image4_custom"
    )
    assert r.status_code == 404 and r.json()["error_code"] == "not_found"


def test_oversized_body_refused(firefly_mock, auth):
    r = firefly_mock.http.post(
        "/v3/images/generate-async",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={**auth, "content-type": "application/json"},
    )
    # Adobe's spec documents the gateway's HTML page for 413 on generate-async, not a JSON body
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "413 Request Entity Too Large" in r.text


def test_deeply_nested_json_is_a_clean_error(firefly_mock, auth):
    deep = b"[" * 5000 + b"]" * 5000
    r = firefly_mock.http.post(
        "/v3/images/generate-async", content=deep, headers={**auth, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error_code"] == "bad_request"


# --- status, cancel, signed URLs ------------------------------------------------------------------------------


def test_unknown_job(firefly_mock, auth):
    unknown = {"error_code": "unknown_job_id", "message": "The job id is unknown."}
    for method, path in (("GET", "/v3/status/urn:ff:jobs:ue1:nope"), ("PUT", "/v3/cancel/nope")):
        r = firefly_mock.http.request(method, path, headers=auth)
        assert r.status_code == 404 and r.json() == unknown


def test_cancel_completed_job(firefly_mock, auth):
    job = generate(firefly_mock, {"prompt": "done"}, auth, x_mock_profile="instant").json()
    r = firefly_mock.http.put(job["cancelUrl"], headers=auth)
    assert r.status_code == 409
    assert r.json() == {"error_code": "job_completed", "message": "The job was already completed."}


def test_timed_out_job(firefly_mock, auth):
    firefly_mock.faults.add(surface="firefly", path="/v3/images/generate-async", outcome="timeout", times=1)
    job = generate(firefly_mock, {"prompt": "slow"}, auth, x_mock_profile="instant").json()
    status = firefly_mock.http.get(job["statusUrl"], headers=auth).json()
    assert status["status"] == "timeout" and status["error_code"] == "timeout_error"
    r = firefly_mock.http.put(job["cancelUrl"], headers=auth)
    assert r.status_code == 410 and r.json() == {"error_code": "job_timeout", "message": "The job timed out."}


def test_signed_urls_tampered_and_expired(firefly_mock, auth):
    job = generate(firefly_mock, {"prompt": "signed"}, auth, x_mock_profile="instant").json()
    url = firefly_mock.http.get(job["statusUrl"], headers=auth).json()["result"]["outputs"][0]["image"]["url"]
    assert httpx.get(url).status_code == 200
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    r = httpx.get(tampered)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    later = url.replace("expires=", "expires=9")
    assert httpx.get(later).status_code == 403
    traversal = url.replace("/files/", "/files/..%2F..%2Fetc%2Fpasswd")
    assert httpx.get(traversal).status_code in (403, 404)
    firefly_mock.clock.advance(3600)
    r = httpx.get(url)
    assert r.status_code == 403 and b"Request has expired" in r.content


def test_specs_are_served(mockserver):
    import yaml

    for name in ("firefly-v3.yaml", "admin.yaml", "training.yaml", "scenario.yaml"):
        r = mockserver.http.get(f"/openapi/{name}")
        assert r.status_code == 200 and yaml.safe_load(r.text)["openapi"].startswith("3.1")
    assert mockserver.http.get("/openapi/nope.yaml").status_code == 404
    assert mockserver.http.get("/ready").json() == {"status": "ready"}


def test_a_crash_is_a_500_in_the_providers_format(monkeypatch):
    from mockserver.testing import in_process

    with in_process() as mock:
        headers = mock.headers()
        job = mock.http.post("/v3/images/generate-async", json={"prompt": "x"}, headers=headers).json()
        monkeypatch.setattr(mock.app.state.ctx.world.jobs, "observe", lambda job: 1 / 0)
        r = mock.http.get(job["statusUrl"], headers=headers)
        assert r.status_code == 500 and r.json()["error_code"] == "runtime_error"
        assert mock.count(status=500) == 1
        monkeypatch.undo()
        assert mock.http.get(job["statusUrl"], headers=headers).status_code == 200  # still serving


@pytest.mark.parametrize("scheme", ["ftp", "file", "s3"])
def test_reference_url_on_an_allowed_domain_must_still_be_http(firefly_mock, scheme):
    """Adobe's `PublicBinaryInputV3.url` has `maxLength: 2083`, pydantic v1's `HttpUrl`: only http(s) pre-signed
    URLs; a storage domain under another scheme was accepted (202) before."""
    url = f"{scheme}://bucket.s3.amazonaws.com/a.png"
    r = generate(firefly_mock, {"prompt": "x", "structure": {"imageReference": {"source": {"url": url}}}})
    assert r.status_code == 422
    assert r.json()["validation_errors"] == [
        {
            "loc": ["body", "structure", "imageReference", "source", "url"],
            "msg": "URL scheme not permitted",
            "type": "value_error.url.scheme",
            "ctx": {"allowed_schemes": ["http", "https"]},
        }
    ]
