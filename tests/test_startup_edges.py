"""Edges of start-up and settings found in verification: a client may connect as soon as it reads "listening on";
a huge integer from code is refused naming the setting; `run_server(port=None)` still picks a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
import pytest

from mockserver.settings import SettingsError
from mockserver.testing import run_server, serve_process, stop_process

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_port_accepts_connections_once_listening_is_printed(workers: str) -> None:
    """docs/sidecar.md: "a script may read the address from it and connect at once". Connecting is not refused;
    the request is answered once the app has started."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--workers", workers, "--no-access-log"],
        env=CLEAN_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "listening on http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:  # refused before the fix
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            client.settimeout(30)
            assert client.recv(64).startswith(b"HTTP/1.1 200")
    finally:
        stop_process(process)
        if process.stderr is not None:
            process.stderr.close()


def test_a_huge_integer_from_code_is_refused_naming_the_setting() -> None:
    with (
        pytest.raises(SettingsError, match="setting 'port': an integer of .* bits is out of range"),
        run_server(port=10**5000),
    ):
        pass


def test_run_server_with_port_none_picks_a_free_port() -> None:
    with run_server(port=None) as mock:
        assert not mock.base_url.endswith(":8080")
        assert mock.http.get("/ready").status_code == 200


def test_a_marker_option_with_a_typo_or_a_bad_value_fails_saying_why(tmp_path) -> None:
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.mockserver(profle='instant')\n"
        "def test_typo(mockserver):\n    pass\n\n\n"
        "@pytest.mark.mockserver(profile='warp')\n"
        "def test_bad_profile(mockserver):\n    pass\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_marked.py"],
        cwd=tmp_path,
        env=CLEAN_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 errors" in run.stdout, run.stdout[-3000:]
    assert "takes only profile= and seed=, not ['profle']" in run.stdout  # ignored before: the test ran on "fast"
    assert "PUT /__admin/profile answered 400:" in run.stdout and "not a valid enumeration member" in run.stdout


def test_a_misspelt_variable_is_named_in_a_warning() -> None:
    """MOCKSERVER_AUTHMODE=strict left auth open without a word; now stderr says so before "listening on"."""
    env = {**CLEAN_ENV, "MOCKSERVER_AUTHMODE": "strict"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first == (
            "mockserver: warning: MOCKSERVER_AUTHMODE is not a setting and is ignored "
            "(did you mean MOCKSERVER_AUTH_MODE?)\n"
        )
        assert "listening on" in process.stderr.readline()
    finally:
        stop_process(process)
        process.stderr.close()  # type: ignore[union-attr]


def test_an_ipv6_host_is_announced_as_a_usable_url() -> None:
    """`--host ::1` printed "listening on http://::1:PORT", which no client can parse."""
    with serve_process(
        [sys.executable, "-m", "mockserver", "serve", "--host", "::1", "--no-access-log"], CLEAN_ENV
    ) as (_, base):
        assert base.startswith("http://[::1]:")
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}
