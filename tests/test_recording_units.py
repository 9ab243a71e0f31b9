"""The parts of recording and drift on their own: redaction (asserted on the files written), the body format, the
proxy's own answers, shapes, reports, fixtures-from's measurements and the commands' usage errors."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import fixtures as fixture_files
from mockserver.cli import main
from mockserver.fixtures import FixtureError
from mockserver.recording import fixtures_from, report
from mockserver.recording.drift import OperationReport, Result, replay
from mockserver.recording.exchanges import Recording, Step, decode_body, encode_body, load
from mockserver.recording.proxy import Proxy
from mockserver.recording.redact import REDACTED, Redactor
from mockserver.recording.routes import Routes
from mockserver.recording.shape import Difference, compare, shape_of
from mockserver.testing import in_process

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJjbGllbnRfaWQiOiJzZWNyZXQtY2xpZW50In0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ"
S3 = (
    "https://bucket.s3.amazonaws.com/out/img.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLEKEY123%2F20260101%2Fus-east-1&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600"
    "&X-Amz-Security-Token=sessiontokenvalue987&X-Amz-Signature=deadbeefcafef00d1234"
)
AZURE = "https://acct.blob.core.windows.net/c/i.png?sv=2024-01-01&se=2026-01-01&sp=r&sig=azuresigvalue%2Bxyz"
CLOUDFRONT = "https://cdn.example.com/a.png?Expires=1700000000&Signature=cfsignaturevalue~~&Key-Pair-Id=APKAKEYPAIR77"
IMS_QUERY = f"grant_type=client_credentials&client_id={REDACTED}&client_secret={REDACTED}"
SECRETS = [
    "bearertokenvalue42",
    "apikeyvalue-1234",
    "cookievalue-5678",
    "setcookie-abcdef",
    "clientsecretvalue",
    "clientidvalue",
    "authcodevalue",
    "AKIAEXAMPLEKEY123",
    "sessiontokenvalue987",
    "deadbeefcafef00d1234",
    "azuresigvalue",
    "cfsignaturevalue",
    "APKAKEYPAIR77",
    "userpassword99",
    JWT,
    "c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ",
    "accesstokenvalue55",
    "refreshtokenvalue66",
    "scenariosecretvalue",
]


def _exchange(redactor: Redactor, keep_binary: bool = False) -> dict[str, Any]:
    form = b"grant_type=authorization_code&client_id=clientidvalue&client_secret=clientsecretvalue&code=authcodevalue"
    answer = {
        "access_token": "accesstokenvalue55",
        "refresh_token": "refreshtokenvalue66",
        "token_type": "bearer",
        "expires_in": 86399,
        "outputs": [{"image": {"url": S3}}, {"image": {"url": AZURE}}, {"image": {"url": CLOUDFRONT}}],
        "webhook": "https://user:userpassword99@hooks.example.com/x",
        "note": f"issued {JWT} for you",
        "echo": "your key apikeyvalue-1234 was used",  # a secret echoed where no rule looks: pass 3 finds it
        "credentials": {"apiSecret": "scenariosecretvalue"},
        "error": {"code": "not_found"},
    }
    return {
        "operation": "POST /ims/token/v3",
        "surface": "firefly",
        "upstream": "ims",
        "request": {
            "method": "POST",
            "path": "/ims/token/v3",
            "query": redactor.query("client_secret=clientsecretvalue&scope=openid"),
            "headers": redactor.headers(
                {
                    "authorization": "Bearer bearertokenvalue42",
                    "x-api-key": "apikeyvalue-1234",
                    "cookie": "session=cookievalue-5678; theme=dark",
                    "content-type": "application/x-www-form-urlencoded",
                }
            ),
            "body": encode_body(form, "application/x-www-form-urlencoded", redactor),
        },
        "response": {
            "status": 200,
            "headers": redactor.headers({"set-cookie": "sid=setcookie-abcdef; Path=/", "content-type": "text/plain"}),
            "body": encode_body(json.dumps(answer).encode(), "application/json", redactor, keep_binary),
        },
    }


def test_no_secret_reaches_the_files_written(tmp_path: Path) -> None:
    recording = Recording(tmp_path / "rec")
    recording.start({"ims": "https://ims.example.com"}, "2026-01-01T00:00:00Z")
    exchange = _exchange(recording.redactor)
    recording.add(exchange, None, 1.0)
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    recording.add(
        {
            **exchange,
            "operation": "GET /v3/status/{job_id:path}",
            "request": {**exchange["request"], "method": "GET"},
            "response": {
                "status": 200,
                "headers": {},
                "body": encode_body(image, "image/png", recording.redactor),
            },
        },
        "job-1",
        2.0,
    )
    written = {p: p.read_text(encoding="utf-8") for p in (tmp_path / "rec").rglob("*") if p.is_file()}
    assert len(written) == 3  # recording.json, the exchange, the job
    for path, text in written.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} written to {path}"
    saved = json.loads(next((tmp_path / "rec" / "exchanges").iterdir()).read_text())
    request, answer = saved["request"], saved["response"]["body"]["json"]
    assert request["headers"]["authorization"] == f"Bearer {REDACTED}"  # the scheme is kept
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert request["query"] == f"client_secret={REDACTED}&scope=openid"
    assert dict(request["body"]["form"]) == {
        "grant_type": "authorization_code",
        "client_id": REDACTED,
        "client_secret": REDACTED,
        "code": REDACTED,
    }
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 86399 and answer["error"]["code"] == "not_found"
    s3 = httpx.URL(answer["outputs"][0]["image"]["url"])
    assert s3.params["X-Amz-Signature"] == REDACTED and s3.params["X-Amz-Credential"] == REDACTED
    assert s3.params["X-Amz-Expires"] == "3600" and s3.host == "bucket.s3.amazonaws.com"  # the rest is kept
    assert httpx.URL(answer["outputs"][2]["image"]["url"]).params["Expires"] == "1700000000"
    assert answer["webhook"] == f"https://{REDACTED}@hooks.example.com/x"
    assert answer["echo"] == f"your key {REDACTED} was used"
    job = json.loads(next((tmp_path / "rec" / "jobs").iterdir()).read_text())
    assert job["job"] == "job-1" and job["created_by"] is None and job["polls"][0]["at"] == 0.0
    assert job["polls"][0]["response"]["body"]["binary"]["size"] == len(image)


def test_bodies_round_trip_as_far_as_they_were_kept() -> None:
    redactor = Redactor()
    data = bytes(range(256))
    kept = encode_body(data, "application/octet-stream", redactor, keep_binary=True)
    assert kept is not None and decode_body(kept) == data
    hashed = encode_body(data, "multipart/form-data; boundary=x", redactor)
    assert hashed is not None and "base64" not in hashed and decode_body(hashed) is None
    assert encode_body(b"not json", "application/json", redactor) == {"text": "not json"}
    assert encode_body(b"", "application/json", redactor) is None and decode_body(None) == b""
    assert decode_body(encode_body(b"a=1&b=2", "application/x-www-form-urlencoded", redactor)) == b"a=1&b=2"
    assert decode_body({"text": "hi"}) == b"hi"
    undecodable = encode_body(b"\xff\xfe", "text/plain", redactor)
    assert undecodable is not None and undecodable["binary"]["size"] == 2  # text that is not UTF-8: a hash


def _proxy(tmp_path: Path, upstreams: dict[str, str], handler: Any = None, follow: tuple[str, ...] = ()) -> Proxy:
    proxy = Proxy(upstreams, Recording(tmp_path / "rec"), _routes(), follow_hosts=follow, log=io.StringIO())
    proxy.start()
    if handler is not None:
        proxy.client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    else:
        proxy.client = httpx.AsyncClient(timeout=5)
    return proxy


@functools.cache
def _routes() -> Routes:
    return Routes()  # the fake's app, built once for the proxy tests that need it


def _call(proxy: Proxy, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
            try:
                return await client.request(method, path, **kwargs)
            finally:
                assert proxy.client is not None
                await proxy.client.aclose()

    return asyncio.run(go())


def test_a_surface_without_an_upstream_answers_502_in_its_own_format(tmp_path: Path) -> None:
    proxy = _proxy(tmp_path, {"firefly": "http://firefly.test"}, handler=lambda r: httpx.Response(500))
    answer = _call(proxy, "POST", "/models", json={"displayName": "x"})
    assert answer.status_code == 502
    assert answer.json()["error"]["message"] == "mockserver record: no upstream for /models (give --upstream-training)"
    proxy = _proxy(tmp_path / "2", {"firefly": "http://firefly.test"}, handler=lambda r: httpx.Response(500))
    assert _call(proxy, "GET", "/v1/models").json() == {
        "reason": "mockserver record: no upstream for /v1/models (give --upstream-scenario)"
    }
    assert list((tmp_path / "rec" / "exchanges").iterdir()) == []  # nothing was exchanged, nothing written


def test_an_unreachable_upstream_is_a_502_not_a_crash(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    proxy = _proxy(tmp_path, {"scenario": "http://user:upstreampassword@scenario.test"}, handler=refuse)
    answer = _call(proxy, "GET", "/v1/models")
    meta = (tmp_path / "rec" / "recording.json").read_text()
    assert json.loads(meta)["upstreams"] == {"scenario": "http://scenario.test"} and "upstreampassword" not in meta
    assert answer.status_code == 502
    assert answer.json() == {"reason": "mockserver record: the upstream failed: ConnectError"}
    assert _call(_proxy(tmp_path / "2", {}, handler=refuse), "GET", "/ready").json()["status"] == "ok"


def test_urls_of_followed_hosts_are_routed_through_the_proxy(tmp_path: Path) -> None:
    """Firefly's status URLs live on another host than the API: --follow-host sends them through the proxy."""
    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/v3/images/generate-async":
            status = "https://firefly-epo1.adobe.io/v3/status/urn:ff:jobs:1"
            return httpx.Response(202, json={"jobId": "urn:ff:jobs:1", "statusUrl": status}, headers={"link": status})
        return httpx.Response(200, json={"jobId": "urn:ff:jobs:1", "status": "running"})

    proxy = _proxy(tmp_path, {"firefly": "https://firefly-api.adobe.io/"}, upstream, follow=("*.adobe.io",))

    async def go() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
            job = await client.post("/v3/images/generate-async", json={"prompt": "p"})
            poll = await client.get(job.json()["statusUrl"])
            return job, poll

    job, poll = asyncio.run(go())
    assert job.json()["statusUrl"] == "http://proxy.test/v3/status/urn:ff:jobs:1"
    assert job.headers["link"] == "http://proxy.test/v3/status/urn:ff:jobs:1"
    assert poll.json()["status"] == "running"
    assert seen == [
        "https://firefly-api.adobe.io/v3/images/generate-async",
        "https://firefly-epo1.adobe.io/v3/status/urn:ff:jobs:1",
    ]
    steps = load(tmp_path / "rec")
    assert [s.operation for s in steps] == ["POST /v3/images/generate-async", "GET /v3/status/{job_id:path}"]
    assert steps[1].job is not None and steps[1].job["created_by"] == steps[0].source.split("/")[1]


def test_bodies_too_large_to_hold_are_refused_in_the_surfaces_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.recording.proxy.MAX_BODY", 10)
    proxy = _proxy(tmp_path, {"scenario": "http://scenario.test"}, lambda r: httpx.Response(200, content=b"x" * 11))
    refused = _call(proxy, "POST", "/v1/generate/custom/m", content=b"x" * 11)
    assert refused.status_code == 413 and refused.json() == {"reason": "Request body is too large to record."}
    proxy = _proxy(
        tmp_path / "2", {"scenario": "http://scenario.test"}, lambda r: httpx.Response(200, content=b"x" * 11)
    )
    too_large = _call(proxy, "GET", "/v1/models")
    assert too_large.status_code == 502 and "too large" in too_large.json()["reason"]


def test_shapes_compare_types_keys_items_and_enumerations() -> None:
    recorded = {"status": "succeeded", "progress": 0, "items": [{"a": 1}, {"b": "x"}], "empty": [], "gone": True}
    same = {"status": "succeeded", "progress": 0.5, "items": [{"b": "y", "a": 2}], "empty": [{"z": 1}], "gone": False}
    assert compare(shape_of(recorded), shape_of(same)) == []
    changed = {"status": "done", "progress": "50%", "items": [{"a": 1, "c": None}], "empty": []}
    assert compare(shape_of(recorded), shape_of(changed)) == [
        Difference("enum", "status", "succeeded", "done"),
        Difference("type", "progress", "number", "string"),
        Difference("missing", "items[].b", "string", ""),
        Difference("extra", "items[].c", "", "null"),
        Difference("missing", "gone", "boolean", ""),
    ]
    assert compare(shape_of([1]), shape_of({"a": 1})) == [Difference("type", "(body)", "array", "object")]
    assert Difference("extra", "x", "", "null").describe() == "extra key x (null)"


def test_reports_in_every_format() -> None:
    result = Result("http://fake.test")
    ok = result.report("GET /v1/models")
    ok.add_status(200, 200)
    bad = result.report("GET /v3/status/{job_id:path}")
    bad.add_status(200, 404)
    bad.add([Difference("status", "", "200", "404"), Difference("status", "", "200", "404")])
    bad.notes.append("a | note")
    assert result.drifted and len(bad.differences) == 1
    table = report.render(result, "table")
    assert table.splitlines()[0] == "mockserver drift against http://fake.test: 1 of 2 operations drifted"
    assert "GET /v3/status/{job_id:path}  1      200 -> 404  status: recorded 200, replayed 404" in table
    assert "note: a | note" in table
    markdown = report.render(result, "markdown")
    assert "| `GET /v1/models` | 1 | 200 -> 200 | none |" in markdown
    assert "status: recorded 200, replayed 404<br>note: a \\| note |" in markdown
    data = json.loads(report.render(result, "json"))
    assert data["operations"][1]["differences"] == [
        {"kind": "status", "where": "", "recorded": "200", "replayed": "404"}
    ]
    assert (
        report.summary(Result("x", {"a": OperationReport("a")}))
        == "mockserver drift against x: no drift in 1 operations"
    )


def _step(seq: int, operation: str, request: dict[str, Any], status: int, body: Any = None) -> Step:
    exchange = {
        "seq": seq,
        "operation": operation,
        "surface": "training",
        "request": {"query": "", "headers": {}, **request},
        "response": {"status": status, "headers": {"content-type": "application/json"}, "body": body},
    }
    return Step(seq, operation, f"exchanges/{seq}.json", exchange=exchange)


def test_replays_that_cannot_be_made_are_noted_and_a_job_that_never_ends_is_reported() -> None:
    hashed = {"binary": {"sha256": "0" * 64, "size": 3, "content_type": "application/zip"}}
    image = {"binary": {"sha256": "0" * 64, "size": 3, "content_type": "image/png"}}
    created = {"json": {"id": "recorded-model-id"}}
    poll = {
        "at": 0.0,
        "seq": 4,
        "request": {"method": "GET", "path": "/v1/jobs/job_recorded0001", "query": "", "headers": {}},
        "response": {"status": 200, "headers": {}, "body": {"json": {"job": {"status": "success"}}}},
    }
    key = {"x-api-key": REDACTED}
    firefly = {
        "at": 0.0,
        "seq": 6,
        "request": {
            "method": "GET",
            "path": "/v3/status/urn:ff:jobs:ue1:recorded-1",
            "headers": {"authorization": f"Bearer {REDACTED}", **key},
        },
        "response": {"status": 200, "headers": {}, "body": {"json": {"status": "succeeded"}}},
    }
    NAMED = {"displayName": "m"}
    upload = "POST /models/{model_id}/training-data"
    token = "POST /ims/token/v3"
    steps = [
        _step(0, token, {"method": "POST", "path": "/ims/token/v3", "query": IMS_QUERY}, 200, {"json": {}}),
        _step(1, upload, {"method": "POST", "path": "/models/x/training-data", "body": hashed}, 201),
        _step(
            2,
            "POST /models",
            {"method": "POST", "path": "/models", "headers": key, "body": {"json": NAMED}},
            201,
            created,
        ),
        _step(
            3,
            upload,
            {
                "method": "POST",
                "path": "/models/recorded-model-id/training-data",  # the id POST /models answered when recorded
                "headers": {"content-type": "image/png", **key},
                "body": image,
            },
            201,
        ),
        Step(4, "GET /v1/jobs/{job_id}", "j", job={"job": "job_recorded0001", "surface": "scenario", "polls": [poll]}),
        _step(
            5,
            "POST /v3/images/generate-async",
            {
                "method": "POST",
                "path": "/v3/images/generate-async",
                "headers": {"authorization": f"Bearer {REDACTED}", **key},  # no token exchange was recorded
                "body": {"json": {"prompt": "p"}},
            },
            202,
            {"json": {"jobId": "urn:ff:jobs:ue1:recorded-1"}},
        ),
        Step(6, "GET /v3/status/{job_id:path}", "f", job={"job": "urn:ff:jobs:ue1:recorded-1", "polls": [firefly]}),
    ]
    credentials = {
        "ims_client_id": "mock-client-id",
        "ims_client_secret": "mock-client-secret",
        "training_api_key": "mock-client-id",
        "scenario_api_key": "k",
        "scenario_api_secret": "s",
    }
    with in_process() as fake:
        fake.clock.freeze()  # the Firefly job stays pending: it cannot end within the timeout
        result = replay(steps, fake.http, credentials, admin=False, timeout=0)
        sent = [r["query"] for r in fake.requests(path="/ims/token/v3")]
    assert any("client_id=mock-client-id&client_secret=mock-client-secret" in query for query in sent)
    assert result.operations[token].replayed == [200]  # the replay's own credentials went in the query
    uploads = result.operations[upload]
    assert uploads.notes == ["a binary body recorded as a hash cannot be replayed (record with --keep-binary)"]
    assert uploads.replayed == [201]  # the image body was stood in for by a placeholder of its type
    created_model = result.operations["POST /models"]
    assert not [d for d in created_model.differences if d.kind == "header"]  # the fake's x-request-id is its own
    assert created_model.replayed == [201]  # the recorded answer was only {"id"}: the rest is reported as extra
    assert Difference("extra", "displayName", "", "string") in created_model.differences
    assert result.operations["POST /v3/images/generate-async"].replayed == [202]  # a token was fetched for it
    waited = result.operations["GET /v3/status/{job_id:path}"]
    assert waited.notes == ["the replayed job had not ended after 0 s"]
    assert Difference("enum", "status", "succeeded", "pending") in waited.differences
    job = result.operations["GET /v1/jobs/{job_id}"]
    assert job.replayed == [401] and Difference("status", "", "200", "401") in job.differences


def test_fixtures_from_measures_job_phases_and_prices() -> None:
    def polls(*seen: tuple[float, str]) -> list[dict[str, Any]]:
        return [{"at": at, "response": {"body": {"json": {"status": status}}}} for at, status in seen]

    assert fixtures_from._phases(polls((0.5, "pending"), (1.5, "running"), (3.5, "succeeded"))) == (1.0, 1.5)
    assert fixtures_from._phases(polls((2.0, "succeeded"))) == (0.0, 1.0)
    assert fixtures_from._phases(polls((1.0, "running"))) is None  # never ended: no measurement
    assert fixtures_from._work("GET /models/{model_id}/trainings/{training_id}", "") == "training"
    assert fixtures_from._work("GET /v3/status/{job_id:path}", "POST /v3/videos/generate") == "video"
    assert fixtures_from._work("GET /models/{model_id}", "") is None
    generate = _step(
        1,
        "POST /v1/generate/custom/{model_id}",
        {"method": "POST", "path": "/v1/generate/custom/model_x", "body": {"json": {"numOutputs": 2}}},
        200,
        {"json": {"costDetails": {"custom-generation": 24}}},
    )
    assert fixtures_from.scenario_costs([generate]) == [{"model": "model_x", "creativeUnits": 12}]


def test_fixtures_from_an_empty_recording_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Recording(tmp_path / "rec").start({}, "now")
    assert main(["fixtures-from", str(tmp_path / "rec"), "--out", str(tmp_path / "fx")]) == 0
    assert "nothing in the recording maps onto fixtures" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["record", "--out", "{tmp}/r"], "give at least one --upstream-ims"),
        (["record", "--out", "{tmp}/r", "--upstream-ims", "ftp://x"], "is not an http(s) URL"),
        (["record", "--out", "{tmp}/full", "--upstream-ims", "http://x"], "exists and is not an empty folder"),
        (["record", "--out", "{tmp}/r", "--upstream-ims", "http://x", "--port", "70000"], "out of range"),
        (["drift", "{tmp}/nothing"], "not a recording"),
        (["drift", "{tmp}/empty"], "holds no exchanges"),
        (["drift", "{tmp}/empty", "--against", "localhost:8080"], "not an http(s) base URL"),
        (["drift", "{tmp}/empty", "--against", "http://x", "--fixtures", "{tmp}"], "not with --against"),
        (["drift", "{tmp}/empty", "--fixtures", "{tmp}/nothing"], "no such folder"),
        (["fixtures-from", "{tmp}/nothing", "--out", "{tmp}/fx"], "not a recording"),
        (["drift", "{tmp}/broken"], "cannot be read"),
        (["drift", "{tmp}/empty", "--timeout", "-1"], "out of range"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    Recording(tmp_path / "empty").start({}, "now")
    Recording(tmp_path / "broken").start({}, "now")
    (tmp_path / "broken" / "exchanges" / "000001-x.json").write_text("{")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    assert message in capsys.readouterr().err


def test_fixtures_the_drift_fake_cannot_load_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = Recording(tmp_path / "rec")
    recording.start({}, "now")
    recording.add(_step(1, "GET /v1/models", {"method": "GET", "path": "/v1/models"}, 200).exchange or {}, None, 0)
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "bad.yaml").write_text("custom_models: [{trainingMode: painting}]")
    assert main(["drift", str(tmp_path / "rec"), "--fixtures", str(tmp_path / "fx")]) == 2
    assert "bad fixtures:" in capsys.readouterr().err


def test_a_bad_flag_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["drift", "x", "--format", "xml"])
    assert exited.value.code == 2


def test_credentials_come_from_flags_then_the_environment_then_the_fakes_defaults() -> None:
    from mockserver.cli import _parser
    from mockserver.recording.commands import credentials

    args = _parser().parse_args(["drift", "d", "--ims-client-id", "flag-id"])
    found = credentials(args, {"DRIFT_IMS_CLIENT_ID": "env-id", "DRIFT_SCENARIO_API_KEY": "env-key"})
    assert found["ims_client_id"] == "flag-id" and found["scenario_api_key"] == "env-key"
    assert found["ims_client_secret"] == "mock-client-secret"


def test_memory_stays_bounded_and_a_job_let_go_carries_on_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.recording.exchanges.MAX_OPEN_JOBS", 1)
    monkeypatch.setattr("mockserver.recording.exchanges.MAX_POLLS", 2)
    monkeypatch.setattr("mockserver.recording.redact.MAX_SEEN", 2)
    recording = Recording(tmp_path / "rec")
    recording.start({}, "now")
    poll = {"operation": "GET /v1/jobs/{job_id}", "surface": "scenario", "upstream": "scenario", "request": {}}
    poll["response"] = {"status": 200, "headers": {}, "body": None}
    recording.add(poll, "job-a", 10.0)
    recording.add(poll, "job-b", 11.0)  # job-a is let go from memory
    recording.add(poll, "job-a", 12.5)
    recording.add(poll, "job-a", 13.0)  # past MAX_POLLS
    assert list(recording.jobs) == ["job-a"]
    files = {json.loads(p.read_text())["job"]: json.loads(p.read_text()) for p in (tmp_path / "rec/jobs").iterdir()}
    assert [p["at"] for p in files["job-a"]["polls"]] == [0.0, 2.5] and files["job-a"]["truncated"] is True
    assert [p["seq"] for p in files["job-a"]["polls"]] == [1, 3]
    redactor = Redactor()
    for secret in ("first-secret", "second-secret", "third-secret"):
        redactor.header("x-api-key", secret)
    assert list(redactor.seen) == ["second-secret", "third-secret"]


def test_answers_compare_status_headers_a_client_relies_on_and_body_kinds() -> None:
    from mockserver.recording.drift import compare_answers

    request = httpx.Request("GET", "http://fake.test/x")
    recorded = {
        "status": 429,
        "headers": {"Retry-After": "1", "Content-Type": "application/json; charset=utf-8"},
        "body": {"json": {"error_code": "too_many_requests"}},
    }
    same = httpx.Response(429, json={"error_code": "too_many_requests"}, headers={"x-request-id": "r"}, request=request)
    assert compare_answers({**recorded, "headers": {"content-type": "application/json"}}, same) == []
    assert compare_answers(recorded, same) == [Difference("header", "retry-after", "present", "absent")]
    html = httpx.Response(413, text="<html>", headers={"content-type": "text/html"}, request=request)
    assert compare_answers(recorded, html) == [
        Difference("status", "", "429", "413"),
        Difference("header", "content-type", "application/json", "text/html"),
        Difference("header", "retry-after", "present", "absent"),
        Difference("body", "(body)", "json", "other"),
    ]
    empty = {"status": 204, "headers": {}, "body": None}
    assert compare_answers(empty, httpx.Response(204, content=b"x", request=request)) == [
        Difference("body", "(body)", "empty", "present")
    ]


def test_a_fixtures_timing_is_what_the_realistic_profile_takes(tmp_path: Path) -> None:
    (tmp_path / "timing.yaml").write_text("timing: {generate: {pending: 0.5, running: 1.0}}\n")
    with in_process(fixtures=str(tmp_path), profile="realistic") as fake:
        fake.clock.freeze()
        headers = fake.headers()
        job = fake.http.post("/v3/images/generate-async", headers=headers, json={"prompt": "p"}).json()
        fake.clock.advance(1.9)  # past 1.5 s ± 25%, far short of the built-in 2 s + 8 s
        assert fake.http.get(job["statusUrl"], headers=headers).json()["status"] == "succeeded"
    (tmp_path / "timing.yaml").write_text("timing: {painting: {pending: 1, running: 1}}\n")
    with pytest.raises(FixtureError, match="timing"):
        fixture_files.load(tmp_path)


def _written(tmp_path: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.json"))


def test_json_and_form_bodies_sent_without_their_content_type_are_redacted() -> None:
    redactor = Redactor()
    json_body = json.dumps({"client_secret": "plainsecretvalue1", "prompt": "a cat"}).encode()
    form_body = b"grant_type=client_credentials&client_id=formclientid2&client_secret=formsecretvalue3"
    for content_type in ("", "text/plain", "text/plain; charset=utf-8"):
        as_json = json.dumps(encode_body(json_body, content_type, redactor))
        as_form = json.dumps(encode_body(form_body, content_type, redactor))
        assert "plainsecretvalue1" not in as_json and "a cat" in as_json
        assert "formsecretvalue3" not in as_form and "formclientid2" not in as_form and "client_credentials" in as_form


def test_secret_values_held_in_lists_are_redacted() -> None:
    redactor = Redactor()
    body = {"secret": ["listsecretvalue1", "listsecretvalue2"], "items": [{"password": ["nestedpassword9"]}]}
    kept = json.dumps(encode_body(json.dumps(body).encode(), "application/json", redactor))
    for secret in ("listsecretvalue1", "listsecretvalue2", "nestedpassword9"):
        assert secret not in kept


def test_basic_credentials_echoed_decoded_are_scrubbed(tmp_path: Path) -> None:
    recording = Recording(tmp_path / "rec")
    recording.start({}, "2026-01-01T00:00:00Z")
    redactor = recording.redactor
    basic = base64.b64encode(b"scenariokeyid7:scenariosecret8").decode()
    error = b"Unknown API key scenariokeyid7 (secret scenariosecret8)"
    recording.add(
        {
            "operation": "GET /v1/models",
            "surface": "scenario",
            "upstream": "scenario",
            "request": {
                "method": "GET",
                "path": "/v1/models",
                "query": "",
                "headers": redactor.headers({"authorization": f"Basic {basic}"}),
                "body": None,
            },
            "response": {"status": 401, "headers": {}, "body": encode_body(error, "text/plain", redactor)},
        },
        None,
        1.0,
    )
    text = _written(tmp_path)
    for secret in (basic, "scenariokeyid7", "scenariosecret8"):
        assert secret not in text


def test_secrets_with_characters_json_escapes_are_scrubbed_where_echoed(tmp_path: Path) -> None:
    recording = Recording(tmp_path / "rec")
    recording.start({}, "2026-01-01T00:00:00Z")
    redactor = recording.redactor
    secret = 'pa"ss\\word-12345'
    request = json.dumps({"password": secret}).encode()
    answer = json.dumps({"message": f"password {secret} is wrong"}).encode()
    recording.add(
        {
            "operation": "POST /x",
            "surface": "firefly",
            "upstream": "firefly",
            "request": {
                "method": "POST",
                "path": "/x",
                "query": "",
                "headers": {},
                "body": encode_body(request, "application/json", redactor),
            },
            "response": {"status": 400, "headers": {}, "body": encode_body(answer, "application/json", redactor)},
        },
        None,
        1.0,
    )
    saved = json.loads(next((tmp_path / "rec" / "exchanges").iterdir()).read_text(encoding="utf-8"))
    assert (
        secret not in json.dumps(saved, ensure_ascii=False)
        and secret not in saved["response"]["body"]["json"]["message"]
    )


def test_an_answer_header_beyond_latin_1_is_passed_on_not_a_crash(tmp_path: Path) -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"models": []}, headers=[(b"x-note", "模型".encode())])

    proxy = _proxy(tmp_path, {"scenario": "http://scenario.test"}, upstream)
    answer = _call(proxy, "GET", "/v1/models")
    assert answer.status_code == 200 and answer.json() == {"models": []}
    assert (b"x-note", "模型".encode()) in answer.headers.raw


def test_a_request_header_beyond_ascii_is_forwarded_not_a_crash(tmp_path: Path) -> None:
    seen: list[bytes] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.extend(v for k, v in request.headers.raw if k == b"x-note")
        return httpx.Response(200, json={"models": []})

    proxy = _proxy(tmp_path, {"scenario": "http://scenario.test"}, upstream)
    answer = _call(proxy, "GET", "/v1/models", headers=[(b"x-note", "café".encode())])
    assert answer.status_code == 200 and seen == ["café".encode()]


def test_a_head_answer_keeps_the_upstreams_content_length(tmp_path: Path) -> None:
    """A client asks HEAD to learn an image's size before downloading it: the proxy must not say 0."""

    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.method == "HEAD"
        return httpx.Response(200, headers={"content-length": "123456", "content-type": "image/png"})

    proxy = _proxy(tmp_path, {"firefly": "http://firefly.test"}, upstream)
    answer = _call(proxy, "HEAD", "/v3/images/x.png")
    assert answer.status_code == 200 and answer.headers["content-length"] == "123456" and answer.content == b""


def test_a_target_that_does_not_answer_is_drift_not_a_clean_run() -> None:
    """A scheduled drift job whose target is down (or refuses connections) must fail, not report no drift."""
    steps = [
        _step(1, "GET /models", {"method": "GET", "path": "/models"}, 200, {"json": {"models": []}}),
        Step(
            2,
            "GET /v1/jobs/{job_id}",
            "j",
            job={
                "job": "job_1",
                "polls": [
                    {
                        "at": 0.0,
                        "seq": 2,
                        "request": {"method": "GET", "path": "/v1/jobs/job_1", "query": "", "headers": {}},
                        "response": {"status": 200, "headers": {}, "body": {"json": {"job": {"status": "success"}}}},
                    }
                ],
            },
        ),
    ]
    credentials = dict.fromkeys(
        ("ims_client_id", "ims_client_secret", "training_api_key", "scenario_api_key", "scenario_api_secret"), "x"
    )
    with httpx.Client(base_url="http://127.0.0.1:1", timeout=10) as http:  # port 1: nothing listens there
        result = replay(steps, http, credentials, admin=False, timeout=0)
    assert result.drifted
    for operation in ("GET /models", "GET /v1/jobs/{job_id}"):
        assert Difference("status", "", "200", "no answer") in result.operations[operation].differences


def test_an_answer_that_is_not_utf_8_reaches_the_client_byte_for_byte(tmp_path: Path) -> None:
    raw = b'{"name": "caf\xe9"}'  # Latin-1 labelled JSON: the proxy passes it on, it does not "repair" it

    proxy = _proxy(
        tmp_path,
        {"scenario": "http://scenario.test"},
        lambda r: httpx.Response(200, content=raw, headers={"content-type": "application/json"}),
    )
    answer = _call(proxy, "GET", "/v1/models")
    assert answer.status_code == 200 and answer.content == raw


def test_a_path_is_forwarded_as_the_client_encoded_it(tmp_path: Path) -> None:
    """%3F, %2F and %00 in a path segment are data: decoding them would send another URL upstream, or crash."""
    seen: list[bytes] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path)
        return httpx.Response(404, json={"reason": "no such model"})

    for n, path in enumerate(("/v1/models/a%3Fb%2Fc", "/v1/models/a%00b")):
        answer = _call(_proxy(tmp_path / str(n), {"scenario": "http://scenario.test"}, upstream), "GET", path)
        assert answer.status_code == 404 and seen[-1] == path.encode()


def test_scrubbing_keeps_the_files_valid_json_and_cookie_attributes_are_not_secrets(tmp_path: Path) -> None:
    """Only a cookie's value is a secret (not Max-Age, Domain, SameSite), and a remembered secret made of digits
    is never cut out of a number: either would leave a file that no longer loads."""
    recording = Recording(tmp_path / "rec")
    recording.start({}, "2026-01-01T00:00:00Z")
    redactor = recording.redactor
    cookie = "sid=cookiesecretvalue7; Max-Age=31536000; Domain=.adobe.com; Path=/; SameSite=Strict; Secure"
    login = json.dumps({"password": 345678}).encode()
    answer = json.dumps({"expires_in": 31536000, "seed": 93456789, "mode": "Strict", "host": "ims.adobe.com"})
    recording.add(
        {
            "operation": "POST /ims/token/v3",
            "surface": "firefly",
            "upstream": "ims",
            "request": {
                "method": "POST",
                "path": "/ims/token/v3",
                "query": "",
                "headers": {},
                "body": encode_body(login, "application/json", redactor),
            },
            "response": {
                "status": 200,
                "headers": redactor.headers({"set-cookie": cookie}),
                "body": encode_body(answer.encode(), "application/json", redactor),
            },
        },
        None,
        1.0,
    )
    text = _written(tmp_path)
    assert "cookiesecretvalue7" not in text
    steps = load(tmp_path / "rec")  # every file still loads
    assert steps[0].exchange is not None
    assert steps[0].exchange["response"]["body"]["json"] == json.loads(answer)


def test_fixtures_from_a_listing_in_the_real_apis_formats_still_loads(tmp_path: Path) -> None:
    """Adobe's spec gives createdDate as a date-time string and etag as any string: fields the fixture format
    takes otherwise are converted (dates) or left for the fake to fill, so the folder written always loads."""
    recording = Recording(tmp_path / "rec")
    recording.start({}, "2026-01-01T00:00:00Z")
    row = {
        "displayName": "Real model",
        "assetId": "urn:aaid:sc:VA6C2:bc1f46cd-be98-4a7b-9ffe-1111111111",
        "etag": 'W/"1-abc"',
        "createdDate": "2024-05-01T12:00:00Z",
        "modifiedDate": "2024-05-02T12:00:00.500Z",
        "trainingMode": "subject",
        "publishedState": "draft",
        "size": 1024,
    }
    listing = json.dumps({"custom_models": [row], "total_count": 1}).encode()
    recording.add(
        {
            "operation": "GET /v3/custom-models",
            "surface": "firefly",
            "upstream": "firefly",
            "request": {"method": "GET", "path": "/v3/custom-models", "query": "", "headers": {}, "body": None},
            "response": {"status": 200, "headers": {}, "body": encode_body(listing, "application/json", Redactor())},
        },
        None,
        1.0,
    )
    assert main(["fixtures-from", str(tmp_path / "rec"), "--out", str(tmp_path / "fx")]) == 0
    [model] = fixture_files.load(tmp_path / "fx").custom_models
    assert model["displayName"] == "Real model" and model["assetId"] == row["assetId"] and model["size"] == 1024
    assert model["createdDate"] == 1714564800000 and model["modifiedDate"] == 1714651200500
    assert "etag" not in model and "publishedState" not in model  # not in the fixture format's terms: the fake's own


def test_temporary_cloud_credentials_in_an_answer_are_redacted() -> None:
    """An STS-style answer (`AccessKeyId`, `SecretAccessKey`), and anything held under a secret-named key (an
    object under `credentials`), is a secret however its own keys are named."""
    body = {
        "Credentials": {"AccessKeyId": "ASIATEMPKEY0001", "SecretAccessKey": "tempsecretkey0002", "Expiration": 1},
        "upload": {"credentials": {"user": "uploaduser0003", "pass": "uploadpass0004"}, "bucket": "my-bucket"},
        "accessKeyId": "ASIATEMPKEY0005",
        "secretAccessKey": "tempsecretkey0006",
    }
    kept = json.dumps(encode_body(json.dumps(body).encode(), "application/json", Redactor()))
    for n, secret in enumerate(
        ["ASIATEMPKEY0001", "tempsecretkey0002", "uploaduser0003", "uploadpass0004", "ASIATEMPKEY0005"], 1
    ):
        assert secret not in kept, n
    assert "tempsecretkey0006" not in kept and "my-bucket" in kept


def test_a_followed_url_with_escapes_in_its_path_goes_back_to_its_own_host(tmp_path: Path) -> None:
    seen: list[str] = []
    status = "https://firefly-epo1.adobe.io/v3/status/urn%3Aff%3Ajobs%3A1"

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/v3/images/generate-async":
            return httpx.Response(202, json={"jobId": "urn:ff:jobs:1", "statusUrl": status})
        return httpx.Response(200, json={"jobId": "urn:ff:jobs:1", "status": "running"})

    proxy = _proxy(tmp_path, {"firefly": "https://firefly-api.adobe.io"}, upstream, follow=("*.adobe.io",))

    async def go() -> None:
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
            job = await client.post("/v3/images/generate-async", json={"prompt": "p"})
            await client.get(job.json()["statusUrl"])
        assert proxy.client is not None
        await proxy.client.aclose()

    asyncio.run(go())
    assert seen[1] == status
