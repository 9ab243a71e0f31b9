"""`mockserver record`, `fixtures-from` and `drift` end to end, with real processes.

A fake in a thread is the "upstream" (the real services cannot be reached here); `mockserver record` runs as a
subprocess in front of it; a real httpx client works through the proxy as it would against Adobe and Scenario. The
recording then becomes fixtures a fresh `mockserver serve` loads, and `mockserver drift` replays it against an
unchanged fake (no drift, exit 0) and against one started from a deliberately edited fixture (drift, exit 1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver.testing import MockServer, run_server, serve_process

MOCKSERVER = [sys.executable, "-m", "mockserver"]
SCENARIO_KEY, SCENARIO_SECRET = "scenario-api-key", "scenario-api-secret"
BASIC = "Basic " + base64.b64encode(f"{SCENARIO_KEY}:{SCENARIO_SECRET}".encode()).decode()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One recorded session: what the client saw (tokens, URLs, bytes) and the folder the proxy wrote."""
    out = tmp_path_factory.mktemp("recording") / "rec"
    seen: dict[str, Any] = {"out": out}
    with run_server() as upstream:
        upstream.clock.freeze()  # jobs move only when the test moves the upstream's clock
        args = [*MOCKSERVER, "record", "--out", str(out)]
        for name in ("ims", "firefly", "training"):
            args += [f"--upstream-{name}", upstream.base_url]
        args += ["--upstream-scenario", f"{upstream.base_url}/v1"]  # given as the SDK's base URL: not doubled
        with serve_process(args) as (process, proxy), httpx.Client(base_url=proxy, timeout=30) as client:
            seen["proxy"] = proxy
            _firefly(client, upstream, seen)
            _scenario(client, upstream, seen)
            _training(client, seen)
            seen["unrouted"] = client.get("/nowhere")
        seen["log"] = "".join(process.stderr_lines)  # type: ignore[attr-defined]
    yield seen


def _firefly(client: httpx.Client, upstream: MockServer, seen: dict[str, Any]) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": MockServer.client_id,
        "client_secret": MockServer.client_secret,
    }
    token = client.post("/ims/token/v3", data=form).json()["access_token"]
    seen["token"] = token
    headers = {"x-api-key": MockServer.client_id, "authorization": f"Bearer {token}"}
    job = client.post("/v3/images/generate-async", headers=headers, json={"prompt": "a kite"})
    assert job.status_code == 202
    status_url = job.json()["statusUrl"]
    assert status_url.startswith(seen["proxy"])  # rewritten: the polls come through the proxy
    statuses = []
    for step in (0.3, 1.0, 0.0):
        poll = client.get(status_url, headers=headers).json()
        statuses.append(poll["status"])
        upstream.clock.advance(step)
    assert statuses == ["pending", "running", "succeeded"]
    image_url = poll["result"]["outputs"][0]["image"]["url"]
    seen["signature"] = httpx.URL(image_url).params["signature"]
    image = client.get(image_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    seen["image"] = image.content
    listing = client.get("/v3/custom-models", headers=headers)
    assert listing.status_code == 200
    seen["custom_models"] = listing.json()["custom_models"]


def _scenario(client: httpx.Client, upstream: MockServer, seen: dict[str, Any]) -> None:
    headers = {"authorization": BASIC}
    body = {"prompt": "a lighthouse", "numOutputs": 1}
    job = client.post("/v1/generate/custom/model_imagen4-ultra", headers=headers, json=body).json()["job"]
    upstream.clock.advance(5)
    done = client.get(f"/v1/jobs/{job['jobId']}", headers=headers).json()["job"]
    assert done["status"] == "success"
    assert client.get("/v1/models", headers=headers).status_code == 200
    model = client.get("/v1/models/model_imagen4-ultra", headers=headers)
    assert model.status_code == 200
    seen["scenario_model"] = model.json()["model"]


def _training(client: httpx.Client, seen: dict[str, Any]) -> None:
    headers = {"x-api-key": MockServer.client_id}
    model = client.post("/models", headers=headers, json={"displayName": "Mugs"})
    assert model.status_code == 201, model.text
    assert client.get(f"/models/{model.json()['id']}", headers=headers).status_code == 200


def _files(folder: Path) -> dict[str, Any]:
    return {str(p.relative_to(folder)): json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))}


def test_every_exchange_is_written_and_a_jobs_polls_are_one_sequence(recorded: dict[str, Any]) -> None:
    files = _files(recorded["out"])
    operations = [data["operation"] for name, data in files.items() if name.startswith("exchanges/")]
    assert operations == [
        "POST /ims/token/v3",
        "POST /v3/images/generate-async",
        "GET /files/{name}",
        "GET /v3/custom-models",
        "POST /v1/generate/custom/{model_id}",
        "GET /v1/models",
        "GET /v1/models/{model_id}",
        "POST /models",
        "GET /models/{model_id}",
    ]
    firefly_job = next(d for n, d in files.items() if n.startswith("jobs/") and d["surface"] == "firefly")
    assert firefly_job["operation"] == "GET /v3/status/{job_id:path}"
    assert firefly_job["created_by"].endswith("post-v3-images-generate-async.json")
    polls = firefly_job["polls"]
    assert [p["response"]["body"]["json"]["status"] for p in polls] == ["pending", "running", "succeeded"]
    assert [p["at"] for p in polls] == sorted(p["at"] for p in polls) and polls[0]["at"] >= 0
    scenario_job = next(d for n, d in files.items() if n.startswith("jobs/") and d["surface"] == "scenario")
    assert scenario_job["polls"][0]["response"]["body"]["json"]["job"]["status"] == "success"
    assert files["recording.json"]["format"] == 1
    # the download is kept as hash, size and type, not as bytes
    download = next(d for n, d in files.items() if "get-files-name" in n)
    image = recorded["image"]
    assert download["response"]["body"] == {
        "binary": {"sha256": hashlib.sha256(image).hexdigest(), "size": len(image), "content_type": "image/jpeg"}
    }
    # an exchange has the request and the answer as the client and the upstream saw them
    generate = next(d for n, d in files.items() if "post-v3-images-generate-async" in n)
    assert generate["request"]["body"] == {"json": {"prompt": "a kite"}}
    assert generate["request"]["headers"]["content-type"] == "application/json"
    assert generate["response"]["status"] == 202
    assert {"jobId", "statusUrl", "cancelUrl"} <= set(generate["response"]["body"]["json"])
    assert "POST /v3/images/generate-async -> 202 (firefly)" in recorded["log"]


def test_no_secret_reaches_the_disk(recorded: dict[str, Any]) -> None:
    secrets = [
        MockServer.client_secret,
        MockServer.client_id,  # sent as x-api-key and client_id: an identifier, but redacted too
        recorded["token"],
        recorded["token"].split(".")[2],  # the token's signature on its own
        recorded["signature"],  # the download URL's signature
        SCENARIO_SECRET,
        BASIC.split()[1],
    ]
    for path in recorded["out"].rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for secret in secrets:
                assert secret not in text, f"{secret[:12]}... written to {path}"
    token = json.loads(next(recorded["out"].glob("exchanges/*-post-ims-token-v3.json")).read_text())
    assert token["request"]["body"]["form"] == [
        ["grant_type", "client_credentials"],
        ["client_id", "REDACTED"],
        ["client_secret", "REDACTED"],
    ]
    assert token["response"]["body"]["json"]["access_token"] == "REDACTED"
    assert token["response"]["body"]["json"]["token_type"] == "bearer"  # not a secret: kept


def test_a_path_without_an_upstream_is_a_502_in_a_clear_format(recorded: dict[str, Any]) -> None:
    answer = recorded["unrouted"]
    assert answer.status_code == 502
    assert "no upstream for /nowhere" in answer.json()["message"]


def test_fixtures_from_a_recording_load_in_serve(recorded: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "fixtures"
    done = subprocess.run(
        [*MOCKSERVER, "fixtures-from", str(recorded["out"]), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Scenario model model_imagen4-ultra" in done.stdout
    assert (out / "scenario-model-model_imagen4-ultra.json").is_file()
    timing = (out / "timing.yaml").read_text()
    assert "generate:" in timing and "pending:" in timing
    args = [*MOCKSERVER, "serve", "--no-access-log", "--fixtures", str(out), "--profile", "realistic"]
    with serve_process(args) as (_, base), httpx.Client(base_url=base, timeout=30) as client:
        model = client.get("/v1/models/model_imagen4-ultra", headers={"authorization": BASIC})
        assert model.json()["model"] == recorded["scenario_model"]
        fake = MockServer(base, http=client)  # the handle on this client, closed with it
        token = fake.token()
        headers = {"x-api-key": MockServer.client_id, "authorization": f"Bearer {token}"}
        listed = client.get("/v3/custom-models", headers=headers).json()["custom_models"]
        assert [m["assetId"] for m in listed] == [m["assetId"] for m in recorded["custom_models"]]


def _drift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOCKSERVER, "drift", *args], capture_output=True, text=True, timeout=300)


def test_drift_against_an_unchanged_fake_finds_none(recorded: dict[str, Any]) -> None:
    done = _drift(str(recorded["out"]))  # against a fake of its own, started with the default fixtures
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no drift in 11 operations" in done.stdout
    for operation in ("GET /v3/status/{job_id:path}", "GET /files/{name}", "GET /models/{model_id}"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(operation))
        assert row.endswith("none") and "200 -> 200" in row, row


def test_drift_against_a_changed_fake_names_the_operation_and_the_difference(
    recorded: dict[str, Any], tmp_path: Path
) -> None:
    fixtures = tmp_path / "fixtures"
    subprocess.run([*MOCKSERVER, "fixtures-from", str(recorded["out"]), "--out", str(fixtures)], check=True)
    edited = fixtures / "scenario-model-model_imagen4-ultra.json"
    record = json.loads(edited.read_text())
    del record["model"]["shortDescription"]  # a field the real service has, gone from the fake
    record["model"]["privacy"] = "unlisted"  # an enumeration's value changed
    edited.write_text(json.dumps(record))
    report = tmp_path / "drift.json"
    args = [*MOCKSERVER, "serve", "--no-access-log", "--fixtures", str(fixtures)]
    with serve_process(args) as (_, base):
        done = _drift(str(recorded["out"]), "--against", base, "--format", "json", "--out", str(report))
        markdown = _drift(str(recorded["out"]), "--against", base, "--format", "markdown")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "operations drifted" in done.stderr  # the one-line summary, when the report goes to a file
    result = json.loads(report.read_text())
    assert result["drifted"] is True
    by_name = {op["operation"]: op for op in result["operations"]}
    model = by_name["GET /v1/models/{model_id}"]
    assert model["drifted"] is True
    assert {"kind": "missing", "where": "model.shortDescription", "recorded": "string", "replayed": ""} in model[
        "differences"
    ]
    assert {"kind": "enum", "where": "model.privacy", "recorded": "public", "replayed": "unlisted"} in model[
        "differences"
    ]
    assert by_name["POST /v3/images/generate-async"]["drifted"] is False
    assert markdown.returncode == 1
    assert "| `GET /v1/models/{model_id}` | 1 | 200 -> 200 | missing key model.shortDescription" in markdown.stdout
