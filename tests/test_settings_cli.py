"""Settings and start-up: one validation for flags, MOCKSERVER_* variables and `run_server(**settings)`; a bad value
exits 2 with a message naming the setting; "listening on" only once the port is bound; requests to paths no surface
claims are journaled."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import fields

import httpx
import pytest

from mockserver.settings import Settings, SettingsError, env_name
from mockserver.testing import run_server, serve_process

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `mockserver serve` expecting it to refuse to start (a timeout fails the test instead of hanging)."""
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", *args],
        env={**CLEAN_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


BAD = [
    ("auth_mode", "strcit", "not one of open, strict"),
    ("profile", "warp", "not one of instant, fast, realistic, polls"),
    ("port", "abc", "not an integer"),
    ("port", "99999", "out of range"),
    ("port", "-1", "out of range"),
    ("workers", "0", "out of range"),
    ("workers", "-3", "out of range"),
    ("seed", "9" * 5000, "not an integer"),
    ("public_url", "notaurl", "not an http(s) base URL"),
    ("public_url", "ftp://host", "not an http(s) base URL"),
    ("no_admin", "maybe", "not a boolean"),
    ("max_jobs", "1e3", "not an integer"),
    ("log_format", "xml", "not one of plain, json"),
]


@pytest.mark.parametrize(("name", "value", "why"), BAD)
def test_a_bad_variable_exits_2_naming_it(name: str, value: str, why: str) -> None:
    run = serve(env={env_name(name): value})
    assert run.returncode == 2, run.stderr
    assert env_name(name) in run.stderr and why in run.stderr
    assert "listening on" not in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr) < 500  # a huge value is not echoed back whole


@pytest.mark.parametrize(("name", "value", "why"), [b for b in BAD if b[0] != "no_admin"])
def test_a_bad_flag_exits_2_naming_it(name: str, value: str, why: str) -> None:
    flag = "--" + name.replace("_", "-")
    run = serve(f"{flag}={value}")
    assert run.returncode == 2, run.stderr
    assert flag in run.stderr and "Traceback" not in run.stderr and "listening on" not in run.stderr


@pytest.mark.parametrize(("name", "value", "why"), BAD)
def test_settings_from_code_are_checked_the_same_way(name: str, value: str, why: str) -> None:
    kind = next(f for f in fields(Settings) if f.name == name).type
    typed: object = value
    if kind.startswith("int") and value.lstrip("-").isdigit() and len(value) < 20:
        typed = int(value)
    with pytest.raises(SettingsError, match=name), run_server(**{name: typed}):
        pass


def test_unknown_settings_from_code_are_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'profil'"):
        Settings.from_env(env={}, profil="fast")


def test_version_and_help_show_every_default() -> None:
    version = subprocess.run([sys.executable, "-m", "mockserver", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("mockserver ")
    text = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True, text=True, env=CLEAN_ENV
    ).stdout
    flat = " ".join(text.split())
    for f in fields(Settings):  # each flag's help names its default and its variable
        assert re.search(rf"\(default: [^;)]+; env {env_name(f.name)}\)", flat), f.name


def test_a_port_in_use_exits_2_without_claiming_to_listen() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for extra in ([], ["--workers", "2"]):
            run = serve("--host", "127.0.0.1", "--port", str(port), *extra)
            assert run.returncode == 2, run.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
            assert "listening on" not in run.stderr


def test_port_0_listens_on_the_port_it_names() -> None:
    with serve_process([sys.executable, "-m", "mockserver", "serve", "--no-access-log"], CLEAN_ENV) as (proc, base):
        assert base.startswith("http://127.0.0.1:") and not base.endswith(":0")
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}


def test_requests_to_no_surface_are_journaled() -> None:
    with run_server() as mock:
        wrong = mock.http.get("/v2/images/generate", headers={"x-request-id": "wrong-base-url"})
        assert wrong.status_code == 404
        assert wrong.json() == {"error": "not_found", "message": "The requested resource was not found."}
        [entry] = mock.requests(surface="none")
        assert entry["path"] == "/v2/images/generate" and entry["status"] == 404
        assert entry["request_id"] == "wrong-base-url"
        mock.http.get("/health")
        assert mock.count(surface="none") == 1  # health checks and the like stay out of it


def test_run_server_refuses_workers_it_cannot_start() -> None:
    with pytest.raises(SettingsError, match="workers"), run_server(workers=2):
        pass


@pytest.mark.parametrize("token", ["", " ", "\t"])
def test_a_blank_admin_token_is_refused(token: str) -> None:
    if token == "":  # an empty variable counts as not set; an empty value from code is refused
        with pytest.raises(SettingsError, match="admin_token"):
            Settings(admin_token=token)
        return
    run = serve(env={"MOCKSERVER_ADMIN_TOKEN": token})
    assert run.returncode == 2 and "MOCKSERVER_ADMIN_TOKEN" in run.stderr


def test_the_journal_limit_must_be_a_count() -> None:
    with run_server() as mock:
        for bad in ("-1", "1e999", "x", "9" * 40):
            answer = mock.http.get("/__admin/requests", params={"limit": bad})
            assert answer.status_code == 400, (bad, answer.text)
        mock.http.get("/v3/custom-models")
        mock.http.get("/v3/custom-models")
        assert len(mock.http.get("/__admin/requests", params={"limit": "1"}).json()["requests"]) == 1
        assert mock.http.get("/__admin/requests", params={"limit": "0"}).json()["requests"] == []


def test_state_imports_of_another_version_or_with_duplicates_are_refused() -> None:
    with run_server() as mock:
        state = mock.export_state()
        before = mock.http.get("/__admin/state").json()
        future = mock.http.put("/__admin/state", json={**state, "version": 99})
        assert future.status_code == 422 and future.json()["error"] == "invalid_state"
        twice = mock.http.put("/__admin/state", json={**state, "objects": state["objects"] + state["objects"][:1]})
        assert twice.status_code == 422 and "twice" in twice.json()["message"]
        assert mock.http.get("/__admin/state").json() == before  # nothing changed


def test_schemathesis_finds_stay_fixed() -> None:
    """Two inputs random Schemathesis runs found: a non-ASCII signature (was a 500) and a whitespace-only body on
    an optional-body admin route (was accepted as no body)."""
    with run_server() as mock:
        answer = mock.http.get("/files/abc.jpg", params={"expires": "99999999999", "signature": "é"})
        assert answer.status_code == 403 and b"SignatureDoesNotMatch" in answer.content
        blank = mock.http.post("/__admin/reset", content=b"  \n", headers={"content-type": "application/json"})
        assert blank.status_code == 400 and blank.json()["error"] == "invalid_json"
        assert mock.http.post("/__admin/reset").status_code == 200  # no body at all is still fine
