"""Operations: the Docker entrypoint run as a subprocess, durable state across restarts and kill -9, several
workers on one store, graceful shutdown, logs, start-up errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import decode

from mockserver.testing import serve_process

ROOT = Path(__file__).resolve().parent.parent
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "mock-client-id",
    "client_secret": "mock-client-secret",
    "scope": "openid",
}


def dockerfile() -> tuple[list[str], dict[str, str]]:
    """The image's command line and environment, read from the Dockerfile itself."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line[4:])))
    [command] = [line for line in text.splitlines() if line.startswith("CMD ")]
    return json.loads(command[4:]), env


@contextmanager
def serve(args: list[str], env: dict[str, str] | None = None, port: int | None = None) -> Iterator[tuple]:
    """Run the CLI in a subprocess on 127.0.0.1 (port 0 unless one is given) and wait until it is ready."""
    full_env = {**(env or {}), "MOCKSERVER_HOST": "127.0.0.1", "MOCKSERVER_PORT": str(port or 0)}
    with serve_process(args, full_env) as (proc, base):
        yield proc, base


def token_headers(base: str) -> dict[str, str]:
    token = httpx.post(f"{base}/ims/token/v3", data=TOKEN_FORM).json()["access_token"]
    return {"x-api-key": "mock-client-id", "authorization": f"Bearer {token}"}


def generate_and_finish(base: str, headers: dict[str, str]) -> dict:
    job = httpx.post(
        f"{base}/v3/images/generate-async",
        json={"prompt": "ops", "numVariations": 2},
        headers={**headers, "x-mock-profile": "instant"},
    ).json()
    status = httpx.get(job["statusUrl"], headers=headers).json()
    assert status["status"] == "succeeded"
    return status


def test_dockerfile_lints_clean():
    hadolint = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert hadolint.returncode == 0, hadolint.stdout + hadolint.stderr


def test_docker_entrypoint_serves_the_generate_flow():
    command, env = dockerfile()
    assert command == ["mockserver", "serve"] and env["MOCKSERVER_HOST"] == "0.0.0.0"
    # Same command and variables as the container; only host paths stand in for the image's folders, and tests
    # bind to loopback rather than 0.0.0.0.
    env["MOCKSERVER_FIXTURES"] = str(ROOT / "fixtures")
    started = time.monotonic()
    with serve(command, env) as (proc, base):
        assert time.monotonic() - started < 10
        headers = token_headers(base)
        status = generate_and_finish(base, headers)
        image = decode(httpx.get(status["result"]["outputs"][0]["image"]["url"]).content)
        assert image.size == (2048, 2048)
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_state_survives_restart_and_kill_9(tmp_path, how):
    args = [sys.executable, "-m", "mockserver", "serve", "--state-dir", str(tmp_path), "--profile", "realistic"]
    with serve(args) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        headers = token_headers(base)
        httpx.post(f"{base}/__admin/clock/freeze")
        job = httpx.post(f"{base}/v3/images/generate-async", json={"prompt": "durable"}, headers=headers).json()
        done = generate_and_finish(base, headers)
        assert httpx.get(job["statusUrl"], headers=headers).json()["status"] == "pending"
        proc.send_signal(how)
        proc.wait(timeout=10)
    with serve(args, port=port) as (_, base):
        # the token, the jobs and the frozen clock are all still there
        assert httpx.get(job["statusUrl"], headers=headers).json()["status"] == "pending"
        httpx.post(f"{base}/__admin/clock/advance", json={"seconds": 3600})
        assert httpx.get(job["statusUrl"], headers=headers).json()["status"] == "succeeded"
        again = httpx.get(done["result"]["outputs"][0]["image"]["url"].replace("expires=", "expires="))
        assert again.status_code == 403  # its URL expired on the clock an hour later, as it should
        fresh = httpx.get(f"{base}/v3/status/{done['jobId']}", headers=headers).json()
        assert decode(httpx.get(fresh["result"]["outputs"][0]["image"]["url"]).content).format == "JPEG"


def test_two_workers_share_one_state(tmp_path):
    args = [
        sys.executable,
        "-m",
        "mockserver",
        "serve",
        "--state-dir",
        str(tmp_path),
        "--workers",
        "2",
        "--profile",
        "polls",
    ]
    with serve(args) as (_, base):
        headers = token_headers(base)
        jobs = []
        for i in range(10):
            with httpx.Client() as fresh:  # a new connection each time, so both workers take part
                r = fresh.post(f"{base}/v3/images/generate-async", json={"prompt": f"w{i}"}, headers=headers)
                assert r.status_code == 202
                jobs.append(r.json())
        assert len({j["jobId"] for j in jobs}) == 10
        for job in jobs:  # polls profile: each poll, whichever worker answers it, moves the job one step
            seen = []
            for _ in range(3):
                with httpx.Client() as fresh:
                    seen.append(fresh.get(job["statusUrl"], headers=headers).json()["status"])
            assert seen == ["running", "succeeded", "succeeded"]
        with httpx.Client() as fresh:
            assert fresh.get(f"{base}/__admin/requests/count", params={"method": "POST"}).json()["count"] == 11


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_the_request_in_flight(stop):
    with serve([sys.executable, "-m", "mockserver", "serve"]) as (proc, base):
        httpx.post(f"{base}/__admin/faults", json={"path": "/v3/custom-models", "latency_ms": 1500})
        headers = token_headers(base)
        result: dict = {}
        thread = threading.Thread(
            target=lambda: result.update(r=httpx.get(f"{base}/v3/custom-models", headers=headers, timeout=10))
        )
        thread.start()
        # the rule has fired once the gateway holds the request (inside its 1.5 s delay): it is in flight
        deadline = time.monotonic() + 10
        while httpx.get(f"{base}/__admin/faults").json()["faults"][0]["fired"] == 0:
            assert time.monotonic() < deadline, "the request never reached the server"
            time.sleep(0.02)
        proc.send_signal(stop)
        thread.join(timeout=10)
        assert result["r"].status_code == 200
        assert proc.wait(timeout=5) == 0


def test_json_logs_and_request_ids():
    with serve([sys.executable, "-m", "mockserver", "serve", "--log-format", "json"]) as (proc, base):
        httpx.get(f"{base}/v3/custom-models", headers={"x-request-id": "abc-123"})
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=5)
        proc.stderr_reader.join(timeout=5)
    lines = [json.loads(line) for line in proc.stderr_lines if line.startswith("{")]
    [entry] = [e for e in lines if e["request_id"] == "abc-123"]
    assert entry["method"] == "GET" and entry["path"] == "/v3/custom-models" and entry["status"] == 401
    assert {"time", "latency_ms", "tenant"} <= set(entry)


def test_bad_fixture_stops_start_up_naming_file_and_field(tmp_path):
    (tmp_path / "broken.yaml").write_text("custom_models:\n  - displayName: X\n    trainingMode: sideways\n")
    run = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--fixtures", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert "broken.yaml" in run.stderr and "custom_models/0/trainingMode" in run.stderr


def test_env_variables_configure_every_flag():
    from mockserver.cli import settings_from_args

    env = {"MOCKSERVER_PORT": "9999", "MOCKSERVER_SEED": "4", "MOCKSERVER_NO_ADMIN": "true"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = settings_from_args(["serve", "--port", "7777"])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert (settings.port, settings.seed, settings.no_admin) == (7777, 4, True)
    assert shlex.split("mockserver serve")  # the documented command line parses
