"""The control API (/__admin) and its pytest handle: reset, clock, profiles, faults, journal, state, rate limits."""

from __future__ import annotations

import httpx
import pytest
from conftest import generate

from mockserver.testing import run_server

ORDER = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2, "canceled": 2, "timeout": 2}


def status_of(mock, job, headers):
    return mock.http.get(job["statusUrl"], headers=headers).json()


# --- reset ----------------------------------------------------------------------------------------------------


def test_reset_forgets_everything(firefly_mock, auth):
    job = generate(firefly_mock, {"prompt": "x"}, auth).json()
    firefly_mock.reset()
    assert firefly_mock.http.get("/v3/custom-models", headers=auth).status_code == 401  # tokens are gone too
    auth = firefly_mock.headers()
    assert firefly_mock.http.get(job["statusUrl"], headers=auth).status_code == 404
    assert firefly_mock.requests(path="/v3/status/*") == [
        r for r in firefly_mock.requests() if r["path"].startswith("/v3/status/")
    ]


def test_reset_one_tenant(firefly_mock, auth):
    other = firefly_mock.headers("other-client-id", "other-client-secret")
    mine, theirs = (generate(firefly_mock, {"prompt": "x"}, h).json() for h in (auth, other))
    firefly_mock.reset(tenant="other-client-id")
    assert firefly_mock.http.get(mine["statusUrl"], headers=auth).status_code == 200
    other = firefly_mock.headers("other-client-id", "other-client-secret")
    assert firefly_mock.http.get(theirs["statusUrl"], headers=other).status_code == 404


# --- clock ----------------------------------------------------------------------------------------------------


def test_clock_freeze_advance_resume(mockserver):
    frozen = mockserver.clock.freeze()
    assert frozen["frozen"] is True
    assert mockserver.clock.now() == frozen["now"]
    moved = mockserver.clock.advance(90)
    assert moved["now"] == pytest.approx(frozen["now"] + 90)
    resumed = mockserver.clock.resume()
    assert resumed["frozen"] is False and resumed["now"] >= moved["now"]
    r = mockserver.http.post("/__admin/clock/advance", json={"seconds": -1})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert mockserver.http.post("/__admin/clock/advance", json={}).status_code == 400


def test_advancing_moves_jobs(firefly_mock, auth):
    firefly_mock.profile("realistic")
    firefly_mock.clock.freeze()
    job = generate(firefly_mock, {"prompt": "slow"}, auth).json()
    assert status_of(firefly_mock, job, auth)["status"] == "pending"
    firefly_mock.clock.advance(4)
    running = status_of(firefly_mock, job, auth)
    assert running["status"] == "running"
    firefly_mock.clock.advance(1)
    assert status_of(firefly_mock, job, auth)["progress"] > running["progress"]
    firefly_mock.clock.advance(30)
    assert status_of(firefly_mock, job, auth)["status"] == "succeeded"


# --- profiles -------------------------------------------------------------------------------------------------


def test_profiles(firefly_mock, auth):
    assert firefly_mock.profile() == "fast"
    firefly_mock.profile("instant")
    job = generate(firefly_mock, {"prompt": "now"}, auth).json()
    assert status_of(firefly_mock, job, auth)["status"] == "succeeded"
    firefly_mock.profile("polls")
    job = generate(firefly_mock, {"prompt": "step"}, auth).json()
    assert [status_of(firefly_mock, job, auth)["status"] for _ in range(3)] == ["running", "succeeded", "succeeded"]
    # a header picks the profile for one job
    job = generate(firefly_mock, {"prompt": "one-off"}, auth, x_mock_profile="instant").json()
    assert status_of(firefly_mock, job, auth)["status"] == "succeeded"
    r = firefly_mock.http.put("/__admin/profile", json={"name": "warp"})
    assert r.status_code == 400


# --- faults ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "status", "code", "headers"),
    [
        (
            {"status": 429, "retry_after": 7},
            429,
            "rate_limited",
            {"retry-after": "7", "x-access-rate-limit-level": "org"},
        ),
        ({"status": 403, "error_code": "access_error"}, 403, "access_error", {"x-access-error": "quota_exhausted"}),
        ({"status": 408}, 408, "timeout_error", {}),
        ({"status": 500}, 500, "runtime_error", {}),
        ({"status": 503}, 503, "service_unavailable", {"retry-after": "1"}),
        (
            {"status": 429, "headers": {"x-access-rate-limit-level": "account"}},
            429,
            "rate_limited",
            {"x-access-rate-limit-level": "account"},
        ),
    ],
)
def test_http_fault_effects(firefly_mock, auth, rule, status, code, headers):
    firefly_mock.faults.add(path="/v3/images/generate-async", times=1, **rule)
    r = generate(firefly_mock, {"prompt": "x"}, auth)
    assert r.status_code == status
    assert r.json()["error_code"] == code and isinstance(r.json()["message"], str)
    for name, value in headers.items():
        assert r.headers[name] == value
    assert generate(firefly_mock, {"prompt": "x"}, auth).status_code == 202


def test_fault_on_custom_models_uses_that_services_shape(firefly_mock, auth):
    firefly_mock.faults.add(path="/v3/custom-models", status=503, times=1)
    r = firefly_mock.http.get("/v3/custom-models", headers=auth)
    assert r.status_code == 503 and r.json()["reason"] == "Service Unavailable"


def test_latency_fault(firefly_mock, auth):
    firefly_mock.faults.add(path="/v3/custom-models", latency_ms=150, times=1)
    firefly_mock.http.get("/v3/custom-models", headers=auth)
    [entry] = firefly_mock.requests(path="/v3/custom-models")
    assert entry["latency_ms"] >= 150


def test_dropped_connection(firefly_mock, auth):
    firefly_mock.faults.add(path="/v3/status/*", drop=True, times=1)
    job = generate(firefly_mock, {"prompt": "x"}, auth).json()
    with pytest.raises(httpx.TransportError):
        httpx.get(job["statusUrl"], headers=auth)
    assert httpx.get(job["statusUrl"], headers=auth).status_code == 200


def test_nth_tenant_prompt_matching_and_counts(firefly_mock, auth):
    other = firefly_mock.headers("other-client-id", "other-client-secret")
    nth = firefly_mock.faults.add(path="/v3/images/generate-async", nth=2, status=500)
    by_tenant = firefly_mock.faults.add(tenant="other-client-id", path="/v3/images/*", status=429)
    by_prompt = firefly_mock.faults.add(prompt="forbidden", status=403, error_code="access_error")
    results = [
        generate(firefly_mock, {"prompt": "a"}, auth).status_code,
        generate(firefly_mock, {"prompt": "b"}, auth).status_code,
        generate(firefly_mock, {"prompt": "c"}, auth).status_code,
        generate(firefly_mock, {"prompt": "d"}, other).status_code,
        generate(firefly_mock, {"prompt": "a forbidden word"}, auth).status_code,
    ]
    assert results == [202, 500, 202, 429, 403]
    listed = {r["id"]: r for r in firefly_mock.faults.list()}
    assert listed[nth["id"]]["fired"] == 1 and listed[nth["id"]]["matched"] == 5
    assert listed[by_tenant["id"]]["fired"] == 1
    assert listed[by_prompt["id"]]["fired"] == 1
    assert firefly_mock.http.delete(f"/__admin/faults/{nth['id']}").status_code == 204
    assert len(firefly_mock.faults.list()) == 2
    firefly_mock.faults.clear()
    assert firefly_mock.faults.list() == []
    assert firefly_mock.http.get("/__admin/faults/nope").status_code == 404


def test_probability_is_seeded_and_repeatable(firefly_mock, auth):
    def run() -> list[int]:
        firefly_mock.reset(seed=3)
        headers = firefly_mock.headers()
        firefly_mock.faults.add(path="/v3/images/generate-async", status=500, probability=0.5)
        return [generate(firefly_mock, {"prompt": "p"}, headers).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 500 in first and 202 in first


@pytest.mark.parametrize(
    "rule",
    [{}, {"status": 200}, {"outcome": "explode"}, {"path": "/x", "bogus": 1}, {"effect": "http"}, {"latency_ms": -5}],
)
def test_bad_fault_rules(mockserver, rule):
    r = mockserver.http.post("/__admin/faults", json=rule)
    assert r.status_code == 400 and set(r.json()) == {"error", "message"}


# --- journal --------------------------------------------------------------------------------------------------


def test_journal_filters_and_counts(firefly_mock, auth):
    firefly_mock.clear_requests()
    job = generate(firefly_mock, {"prompt": "journal me", "numVariations": 2}, auth).json()
    for _ in range(3):
        firefly_mock.http.get(job["statusUrl"], headers=auth)
    firefly_mock.http.get("/v3/status/unknown", headers=auth)
    [post] = firefly_mock.requests(method="POST")
    assert post["body"] == {"prompt": "journal me", "numVariations": 2}
    assert post["tenant"] == "mock-client-id" and post["status"] == 202 and post["surface"] == "firefly"
    assert firefly_mock.count(path="/v3/status/*") == 4
    assert firefly_mock.count(path="/v3/status/*", status=200) == 3
    assert firefly_mock.count(tenant="someone-else") == 0
    assert len(firefly_mock.requests(limit=2)) == 2
    assert "authorization" not in post["headers"]
    firefly_mock.clear_requests()
    assert firefly_mock.count() == 0


def test_journal_is_bounded_and_echoes_request_ids():
    with run_server(journal_size=5) as mock:
        headers = mock.headers()
        for _ in range(12):
            mock.http.get("/v3/custom-models", headers=headers)
        assert mock.count() == 5
        r = mock.http.get("/v3/custom-models", headers={**headers, "x-request-id": "trace-me"})
        assert r.headers["x-request-id"] == "trace-me"
        assert mock.requests()[-1]["request_id"] == "trace-me"
        assert len(mock.http.get("/health").headers["x-request-id"]) == 32


# --- state export / import ------------------------------------------------------------------------------------


def test_state_snapshot_and_restore(firefly_mock, auth):
    firefly_mock.clock.freeze()
    job = generate(firefly_mock, {"prompt": "keep me"}, auth).json()
    firefly_mock.clock.advance(10)
    before = status_of(firefly_mock, job, auth)
    snapshot = firefly_mock.export_state()
    kinds = {o["kind"] for o in snapshot["objects"]}
    assert kinds >= {"job:firefly.generate", "token", "model"}
    assert "asset" not in kinds  # the job draws its outputs (core.outputs): nothing stored for them
    firefly_mock.reset()
    firefly_mock.import_state(snapshot)
    after = status_of(firefly_mock, job, auth)
    assert after["status"] == before["status"] == "succeeded"
    assert [o["seed"] for o in after["result"]["outputs"]] == [o["seed"] for o in before["result"]["outputs"]]
    assert httpx.get(after["result"]["outputs"][0]["image"]["url"]).status_code == 200
    bad = firefly_mock.http.put("/__admin/state", json={"objects": [{"kind": "job", "key": "x", "data": {}}]})
    assert bad.status_code == 422
    assert status_of(firefly_mock, job, auth)["status"] == "succeeded"  # a refused import changes nothing


# --- rate limits and admin access -----------------------------------------------------------------------------


def test_realistic_rate_limits():
    with run_server(rate_limits="realistic") as mock:
        headers = mock.headers()
        mock.clock.freeze()
        assert [generate(mock, {"prompt": "x"}, headers).status_code for _ in range(4)] == [202] * 4
        limited = generate(mock, {"prompt": "x"}, headers)
        assert limited.status_code == 429 and limited.json()["error_code"] == "rate_limited"
        assert limited.headers["retry-after"] == "60"
        other = mock.headers("other-client-id", "other-client-secret")
        assert generate(mock, {"prompt": "x"}, other).status_code == 202  # per organisation
        mock.clock.advance(30)
        assert generate(mock, {"prompt": "x"}, headers).headers["retry-after"] == "30"
        mock.clock.advance(30)
        assert generate(mock, {"prompt": "x"}, headers).status_code == 202


def test_admin_token_and_no_admin():
    with run_server(admin_token="s3cret") as mock:
        r = httpx.get(f"{mock.base_url}/__admin/clock")
        assert r.status_code == 401
        assert mock.clock.now() > 0  # the handle sends the token
    with run_server(no_admin=True) as mock:
        assert httpx.get(f"{mock.base_url}/__admin/clock").status_code == 404


def test_in_process_mode(mockserver_inprocess):
    headers = mockserver_inprocess.headers()
    mockserver_inprocess.profile("instant")
    job = generate(mockserver_inprocess, {"prompt": "no socket"}, headers).json()
    assert job["statusUrl"].startswith("http://testserver/")
    assert status_of(mockserver_inprocess, job, headers)["status"] == "succeeded"
    assert mockserver_inprocess.count(method="POST", path="/v3/images/generate-async") == 1


def test_finished_jobs_are_evicted_past_the_limit():
    with run_server(max_jobs=20, profile="instant") as mock:
        headers = mock.headers()
        jobs = [generate(mock, {"prompt": "job 0"}, headers).json()]
        oldest = mock.http.get(jobs[0]["statusUrl"], headers=headers).json()["result"]["outputs"][0]["image"]["url"]
        assert httpx.get(oldest).status_code == 200
        jobs += [generate(mock, {"prompt": f"job {i}"}, headers).json() for i in range(1, 25)]
        store = mock.app.state.ctx.world.store
        assert store.count("job:firefly.generate") <= 20
        assert mock.http.get(jobs[0]["statusUrl"], headers=headers).status_code == 404  # the oldest went
        newest = mock.http.get(jobs[-1]["statusUrl"], headers=headers).json()
        assert newest["status"] == "succeeded"
        assert httpx.get(newest["result"]["outputs"][0]["image"]["url"]).status_code == 200
        gone = httpx.get(oldest)  # its image went with it (a signed URL still good, to nothing)
        assert gone.status_code == 404 and b"<Code>NoSuchKey</Code>" in gone.content
        assert store.count("asset") == 0  # a job draws its outputs: one object a generate
