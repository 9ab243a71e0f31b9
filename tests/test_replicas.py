"""Several replicas, one world (issue 17): three `mockserver serve --database-url` processes on one PostgreSQL
database, clients spread across them, then a replica killed with kill -9 and restarted; and a replica that loses
the database answers 503 in each surface's format and recovers when it is back.

Every client request goes to a different replica than the one before, so nothing passes unless the replicas share
one world. Assertions are about what was acknowledged, never about timing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import postgres_support as pg
import pytest
from test_training_support import image_bytes
from threads_support import run_all

from mockserver.settings import Settings, SettingsError
from mockserver.testing import free_port, serve_process, stop_process, wait_until_ready

FLAGS = ["--no-access-log", "--profile", "realistic", "--rate-limits", "realistic"]
CLOSE = {"connection": "close"}


def start(url: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    args = [sys.executable, "-m", "mockserver", "serve", "--database-url", url, "--port", str(port), *FLAGS]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    return proc, f"http://127.0.0.1:{port}"


@contextmanager
def replicas(url: str, n: int) -> Iterator[list[tuple[subprocess.Popen[str], str]]]:
    """n replicas started at the same moment (their schema set-ups race), each stopped at the end."""
    started: list[tuple[subprocess.Popen[str], str]] = []
    try:
        started += [start(url) for _ in range(n)]
        for proc, base in started:
            wait_until_ready(base, proc, timeout=60)
        yield started
    finally:
        for proc, _ in started:
            stop_process(proc)


class Spread:
    """Clients that send each request to the next replica in turn."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.turn = 0
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.lock:
            base = self.bases[self.turn % len(self.bases)]
            self.turn += 1
        return httpx.request(method, base + path, timeout=60, headers={**CLOSE, **kwargs.pop("headers", {})}, **kwargs)


def token(call: Spread, client_id: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "secret"}
    answer = call("POST", "/ims/token/v3", data=form)
    assert answer.status_code == 200, answer.text
    return {"x-api-key": client_id, "authorization": f"Bearer {answer.json()['access_token']}"}


def test_three_replicas_share_one_world_and_a_killed_one_loses_nothing(database_url: str) -> None:
    acked: dict[str, Any] = {"done": [], "canceled": [], "models": {}, "urls": []}
    lock = threading.Lock()
    with replicas(database_url, 3) as running:
        call = Spread([base for _, base in running])
        frozen = call("POST", "/__admin/clock/freeze").json()["now"]

        def firefly(index: int) -> None:
            headers = token(call, f"tenant-{index}")  # a tenant each: four generations a minute each
            upload = call("POST", "/v2/storage/image", content=image_bytes(), headers={**headers, **PNG})
            assert upload.status_code == 200, upload.text
            similar = {"image": {"source": {"uploadId": upload.json()["images"][0]["id"]}}}
            job = call("POST", "/v3/images/generate-similar-async", json=similar, headers=headers)
            assert job.status_code == 202, job.text
            instant = {**headers, "x-mock-profile": "instant"}
            done = call("POST", "/v3/images/generate-async", json={"prompt": f"{index}"}, headers=instant).json()
            status = call("GET", f"/v3/status/{done['jobId']}", headers=headers).json()
            assert status["status"] == "succeeded", status
            url = status["result"]["outputs"][0]["image"]["url"]
            assert httpx.get(url, headers=CLOSE).status_code == 200  # signed by one replica, served by another
            slow = call("POST", "/v3/images/generate-async", json={"prompt": "slow"}, headers=headers).json()
            assert call("GET", f"/v3/status/{slow['jobId']}", headers=headers).json()["status"] == "pending"
            assert call("PUT", f"/v3/cancel/{slow['jobId']}", headers=headers).status_code == 200
            with lock:
                acked["done"].append((headers, done["jobId"]))
                acked["canceled"].append((headers, slow["jobId"]))
                acked["urls"].append(url)

        def training(index: int) -> None:
            key = {"x-api-key": f"trainer-{index}"}
            model = call("POST", "/models", json={"displayName": f"model {index}"}, headers=key)
            assert model.status_code == 201, model.text
            model_id = model.json()["id"]
            for n in range(2):
                data = image_bytes("PNG", (20 + n, 20))
                image = call("POST", f"/models/{model_id}/training-data", content=data, headers={**key, **PNG})
                assert image.status_code == 201, image.text
            path = f"/models/{model_id}/trainings"
            started = together(3, lambda: call("POST", path, json={}, headers=key).status_code)
            assert sorted(started) == [202, 409, 409]  # one at a time, whichever replicas are asked at once
            with lock:
                acked["models"][model_id] = key

        run_all([lambda i=i: firefly(i) for i in range(3)] + [lambda i=i: training(i) for i in range(3)])

        # a fault that fires once fires once, however many replicas see matching requests at the same moment
        rule = call("POST", "/__admin/faults", json={"path": "/v3/custom-models", "status": 503, "times": 1}).json()
        headers = token(call, "tenant-0")
        statuses = together(6, lambda: call("GET", "/v3/custom-models", headers=headers).status_code)
        assert sorted(statuses) == [200] * 5 + [503]
        [listed] = [r for r in call("GET", "/__admin/faults").json()["faults"] if r["id"] == rule["id"]]
        assert (listed["matched"], listed["fired"]) == (6, 1)

        # four generations a minute per organisation, counted across the replicas
        limited = token(call, "limited")
        body = {"prompt": "limited"}
        statuses = together(
            8, lambda: call("POST", "/v3/images/generate-async", json=body, headers=limited).status_code
        )
        assert sorted(statuses) == [202] * 4 + [429] * 4
        call("POST", "/__admin/clock/advance", json={"seconds": 60})
        assert call("POST", "/v3/images/generate-async", json=body, headers=limited).status_code == 202

        # kill -9 one replica and start it again: it comes back to the same world
        victim, _ = running[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=20)
        running[1] = start(database_url)
        wait_until_ready(running[1][1], running[1][0], timeout=60)
        call = Spread([running[1][1]])
        assert call("GET", "/__admin/clock").json()["now"] == frozen + 60
        for headers, job_id in acked["done"]:
            assert call("GET", f"/v3/status/{job_id}", headers=headers).json()["status"] == "succeeded"
        for headers, job_id in acked["canceled"]:
            assert call("GET", f"/v3/status/{job_id}", headers=headers).json()["status"] == "canceled"
        for url in acked["urls"]:
            assert httpx.get(running[1][1] + url[url.index("/files/") :], headers=CLOSE).status_code == 200
        for model_id, key in acked["models"].items():
            assert len(call("GET", f"/models/{model_id}/training-data", headers=key).json()) == 2
            [started] = call("GET", f"/models/{model_id}/trainings", headers=key).json()
            assert started["status"] in ("queued", "processing")
        assert call("POST", "/v3/images/generate-async", json=body, headers=limited).status_code == 202
        assert call("GET", "/__admin/requests/count", params={"path": "/v3/custom-models"}).json()["count"] == 6


PNG = {"content-type": "image/png"}


def together(n: int, request: Callable[[], int]) -> list[int]:
    """n requests let go at the same moment, from n threads."""
    barrier = threading.Barrier(n)
    results: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        status = request()
        with lock:
            results.append(status)

    run_all([one] * n)
    return results


def test_a_replica_that_loses_the_database_answers_503_then_recovers(database_url: str) -> None:
    proxy = pg.Proxy(database_url)
    with ExitStack() as stack:
        stack.callback(proxy.close)
        proc, base = stack.enter_context(
            serve_process([sys.executable, "-m", "mockserver", "serve", "--database-url", proxy.url, "--no-access-log"])
        )
        http = stack.enter_context(httpx.Client(base_url=base, timeout=60))
        form = {
            "grant_type": "client_credentials",
            "client_id": "mock-client-id",
            "client_secret": "mock-client-secret",
        }
        headers = {
            "x-api-key": "mock-client-id",
            "authorization": f"Bearer {http.post('/ims/token/v3', data=form).json()['access_token']}",
        }
        job = http.post("/v3/images/generate-async", json={"prompt": "kept"}, headers=headers).json()

        proxy.cut()
        lost = http.get(f"/v3/status/{job['jobId']}", headers=headers)
        assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
        assert "error_code" in lost.json()  # Firefly's own shape
        training = http.get("/models", headers={"x-api-key": "k"})
        assert training.status_code == 503 and "error" in training.json()
        scenario = http.get("/v1/models", auth=("scenario-api-key", "scenario-api-secret"))
        assert scenario.status_code == 503 and "reason" in scenario.json()
        download = http.get("/files/anything")
        assert download.status_code == 503 and b"<Code>ServiceUnavailable</Code>" in download.content
        admin = http.get("/__admin/faults")
        assert admin.status_code == 503 and "database is unavailable" in admin.json()["message"]
        page = http.get("/__admin/ui/jobs")  # the dashboard: an HTML page that says why
        assert page.status_code == 503 and "database is unavailable" in page.text
        unrouted = http.get("/no/such/route")
        assert unrouted.status_code == 503 and unrouted.json()["error"] == "unavailable"
        assert http.get("/ready").status_code == 503
        assert http.get("/health").status_code == 200
        assert proc.poll() is None

        proxy.restore()
        deadline = time.monotonic() + 60
        while http.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "the replica did not recover"
            time.sleep(0.1)
        status = http.get(f"/v3/status/{job['jobId']}", headers=headers)
        assert status.status_code == 200 and status.json()["jobId"] == job["jobId"]

        # a database restart drops every connection: the next request takes a fresh one and is answered
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'mockserver' AND datname = current_database()"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        assert http.get(f"/v3/status/{job['jobId']}", headers=headers).status_code == 200
        assert not any("Traceback" in line for line in proc.stderr_lines)  # type: ignore[attr-defined]


def test_a_value_too_long_to_index_is_one_refusal_not_a_lost_database(database_url: str) -> None:
    """An 8 kB API key is a tenant, and PostgreSQL cannot index it: that request is refused in its surface's
    format; the replica must not take the server's refusal for a lost database (503 to everyone, /ready 503)."""
    import secrets

    from mockserver.testing import in_process

    with in_process(database_url=database_url) as mock:
        body = {"displayName": "mugs", "customModelType": "subject"}
        long_key = secrets.token_urlsafe(6000)
        refused = mock.http.post("/models", headers={"x-api-key": long_key}, json=body)
        assert refused.status_code == 400 and "2000 bytes" in refused.json()["error"]["message"]
        assert mock.http.get("/ready").status_code == 200
        assert mock.http.post("/models", headers={"x-api-key": "k"}, json=body).status_code == 201


# --- the setting ------------------------------------------------------------------------------------------------


def serve(*args: str, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [*(python or [sys.executable, "-m", "mockserver"]), "serve", "--port", "0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_database_url_is_checked_and_its_password_never_shown(tmp_path: Any, monkeypatch: Any) -> None:
    secret = "s3cret-pw"
    refused = serve("--database-url", f"postgresql://user:{secret}@127.0.0.1:{free_port()}/db")
    assert refused.returncode == 2 and "cannot use the database postgresql://user:***@127.0.0.1" in refused.stderr
    assert secret not in refused.stderr
    from mockserver.store_postgres import redact

    assert redact(f"postgresql://u:{secret}@h:5/db?sslmode=require&password={secret}") == (
        "postgresql://u:***@h:5/db?sslmode=require&password=***"
    )
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    wrong = serve("--database-url", f"mysql://user:{secret}@host/db")
    assert wrong.returncode == 2 and "not a PostgreSQL URL" in wrong.stderr and secret not in wrong.stderr
    both = serve("--database-url", "postgresql://host/db", "--state-dir", str(tmp_path))
    assert both.returncode == 2 and "'state_dir' and 'database_url' exclude each other" in both.stderr
    # without psycopg (the `postgres` extra) the message says what to install
    blocked = "import sys; sys.modules['psycopg'] = None; from mockserver.cli import main; sys.exit(main())"
    missing = serve("--database-url", "postgresql://host/db", python=[sys.executable, "-c", blocked])
    assert missing.returncode == 2 and "pip install 'mockserver[postgres]'" in missing.stderr
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(SettingsError, match=r"mockserver\[postgres\]"):
        Settings.from_env(env={}, database_url="postgresql://host/db")


def test_a_schema_is_made_once_and_a_newer_one_refused(database_url: str) -> None:
    import psycopg

    from mockserver.store_postgres import PostgresStore

    PostgresStore(database_url).close()  # creates the schema
    again = PostgresStore(database_url)  # finds it, migrates nothing
    again.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE mockserver_schema SET version = 99")
    newer = serve("--database-url", database_url)
    assert newer.returncode == 2 and "schema version 99, newer than this mockserver's 1" in newer.stderr


def test_the_deployment_examples_are_quoted_and_hang_together() -> None:
    """docs/replicas.md shows the files in examples/replicas as they are; they name the pieces the docs promise."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    page = (root / "docs/replicas.md").read_text(encoding="utf-8")
    for name in ("compose.yaml", "nginx.conf", "kubernetes.yaml"):
        assert (root / "examples/replicas" / name).read_text(encoding="utf-8").rstrip() in page, name
    compose = yaml.safe_load((root / "examples/replicas/compose.yaml").read_text(encoding="utf-8"))["services"]
    assert compose["mockserver"]["deploy"]["replicas"] == 3
    assert compose["mockserver"]["environment"]["MOCKSERVER_DATABASE_URL"].startswith("postgresql://")
    assert compose["mockserver"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "nginx.conf" in compose["proxy"]["volumes"][0]
    assert "server mockserver:8080;" in (root / "examples/replicas/nginx.conf").read_text(encoding="utf-8")
    items = yaml.safe_load((root / "examples/replicas/kubernetes.yaml").read_text(encoding="utf-8"))["items"]
    kinds = {item["kind"]: item for item in items}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert kinds["Deployment"]["spec"]["replicas"] == 3
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    assert container["env"][0]["name"] == "MOCKSERVER_DATABASE_URL"
    assert kinds["Service"]["spec"]["selector"] == kinds["Deployment"]["spec"]["selector"]["matchLabels"]


def test_a_throwaway_cluster_starts_and_is_gone_afterwards() -> None:
    """The helper the benchmarks (and, without MOCKSERVER_TEST_DATABASE_URL, these tests) start PostgreSQL with."""
    import psycopg

    from mockserver.testing import postgres_bin, throwaway_postgres

    if postgres_bin() is None:
        pg.unavailable()
    with throwaway_postgres() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SHOW fsync").fetchone()
        assert row is not None and row[0] == "off"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5).close()
