"""Two worker processes on one state dir, concurrent clients, then kill -9 and a restart (issue 11): everything a
client was told succeeded is still there, every signed URL still downloads, no fault rule is lost, the clock
counted every advance, and no model ever had two trainings at once.

Assertions are about invariants and acknowledged results, never about which worker served what or in which order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from test_training_support import image_bytes
from threads_support import run_all

from mockserver.testing import free_port, stop_process, wait_until_ready

THREADS = 4
SHARED_MODELS = 6
ADVANCES = 10
KEY = "mock-client-id"
TOKEN_FORM = {"grant_type": "client_credentials", "client_id": KEY, "client_secret": "mock-client-secret"}
CLOSE = {"connection": "close"}  # a new connection per request, so both workers take part


@contextmanager
def workers(state_dir: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`mockserver serve --workers 2` in its own process group (so kill -9 reaches the workers too)."""
    port = free_port()
    args = [sys.executable, "-m", "mockserver", "serve", "--workers", "2", "--state-dir", str(state_dir)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--profile", "realistic", "--no-access-log"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, proc, timeout=60)
        yield proc, base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        stop_process(proc, timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind


def kill_9(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)


class Acked:
    """What the server acknowledged, filled by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: list[str] = []
        self.jobs: list[str] = []
        self.canceled: list[str] = []
        self.models: list[str] = []
        self.images: dict[str, list[str]] = {}
        self.deleted_images: dict[str, list[str]] = {}
        self.rules: list[str] = []
        self.urls: list[str] = []
        self.advances = 0
        self.started: dict[str, int] = {}

    def add(self, name: str, value: Any) -> None:
        with self.lock:
            getattr(self, name).append(value)


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers=CLOSE, timeout=60)


def firefly_headers(http: httpx.Client, acked: Acked) -> dict[str, str]:
    answer = http.post("/ims/token/v3", data=TOKEN_FORM)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    acked.add("tokens", token)
    return {"x-api-key": KEY, "authorization": f"Bearer {token}"}


def firefly_work(base: str, acked: Acked, index: int) -> None:
    with client(base) as http:
        headers = firefly_headers(http, acked)
        for n in range(4):
            job = http.post(
                "/v3/images/generate-async",
                json={"prompt": f"thread {index} job {n}"},
                headers={**headers, "x-mock-profile": "instant" if n % 2 else "realistic"},
            )
            assert job.status_code == 202, job.text
            job_id = job.json()["jobId"]
            acked.add("jobs", job_id)
            if n % 2:
                status = http.get(f"/v3/status/{job_id}", headers=headers).json()
                assert status["status"] == "succeeded", status
                for output in status["result"]["outputs"]:
                    assert httpx.get(output["image"]["url"], headers=CLOSE).status_code == 200
                    acked.add("urls", output["image"]["url"])
            elif http.put(f"/v3/cancel/{job_id}", headers=headers).status_code == 200:
                acked.add("canceled", job_id)


def training_work(base: str, acked: Acked, index: int, shared: list[str]) -> None:
    with client(base) as http:
        http.headers["x-api-key"] = KEY
        model = http.post("/models", json={"displayName": f"own {index}"})
        assert model.status_code == 201, model.text
        model_id = model.json()["id"]
        acked.add("models", model_id)
        uploaded = []
        for n in range(3):
            answer = http.post(
                f"/models/{model_id}/training-data",
                content=image_bytes("PNG", (20 + n, 20)),
                headers={"content-type": "image/png"},
            )
            assert answer.status_code == 201, answer.text
            uploaded.append(answer.json()["dataId"])
        assert http.delete(f"/models/{model_id}/training-data/{uploaded[0]}").status_code == 204
        with acked.lock:
            acked.images[model_id] = uploaded[1:]
            acked.deleted_images[model_id] = uploaded[:1]
        for shared_id in shared:  # every thread tries to start a training of every shared model
            answer = http.post(f"/models/{shared_id}/trainings", json={})
            assert answer.status_code in (202, 409), answer.text
            if answer.status_code == 202:
                with acked.lock:
                    acked.started[shared_id] = acked.started.get(shared_id, 0) + 1


def admin_work(base: str, acked: Acked, index: int) -> None:
    with client(base) as http:
        for n in range(ADVANCES):
            assert http.post("/__admin/clock/advance", json={"seconds": 1}).status_code == 200
            with acked.lock:
                acked.advances += 1
            if n % 3 == 0:
                rule = http.post("/__admin/faults", json={"path": f"/never/{index}/{n}", "status": 500})
                assert rule.status_code == 201, rule.text
                acked.add("rules", rule.json()["id"])


def test_two_workers_concurrent_clients_kill_9_and_restart(tmp_path):
    acked = Acked()
    with workers(tmp_path) as (proc, base):
        with client(base) as http:
            start = http.post("/__admin/clock/freeze").json()["now"]
            http.headers["x-api-key"] = KEY
            shared = []
            for n in range(SHARED_MODELS):
                model_id = http.post("/models", json={"displayName": f"shared {n}"}).json()["id"]
                image = http.post(
                    f"/models/{model_id}/training-data", content=image_bytes(), headers={"content-type": "image/png"}
                )
                assert image.status_code == 201, image.text
                shared.append(model_id)
        targets: list[Callable[[], None]] = []
        for index in range(THREADS):
            targets += [
                lambda i=index: firefly_work(base, acked, i),
                lambda i=index: training_work(base, acked, i, shared),
                lambda i=index: admin_work(base, acked, i),
            ]
        run_all(targets)
        kill_9(proc)

    with workers(tmp_path) as (_, base), client(base) as http:
        # the clock counted every acknowledged advance, and stayed frozen
        clock = http.get("/__admin/clock").json()
        assert clock["frozen"] and clock["now"] == start + acked.advances == start + THREADS * ADVANCES
        # no fault rule lost, none overwritten
        listed = [rule["id"] for rule in http.get("/__admin/faults").json()["faults"]]
        assert sorted(listed) == sorted(acked.rules) and len(set(listed)) == len(listed)
        # every token, job and cancellation
        for token in acked.tokens:
            headers = {"x-api-key": KEY, "authorization": f"Bearer {token}"}
            assert http.get("/v3/custom-models", headers=headers).status_code == 200
        for job_id in acked.jobs:
            status = http.get(f"/v3/status/{job_id}", headers=headers)
            assert status.status_code == 200, status.text
            if job_id in acked.canceled:
                assert status.json()["status"] == "canceled"
        # every signed URL, whichever worker answers
        for url in acked.urls:
            moved = base + url[url.index("/files/") :]
            for _ in range(2):
                assert http.get(moved).status_code == 200
        # models and training images: uploads kept, deletions stay deleted
        http.headers["x-api-key"] = KEY
        for model_id in acked.models:
            assert http.get(f"/models/{model_id}").status_code == 200
            listed_images = {i["dataId"] for i in http.get(f"/models/{model_id}/training-data").json()}
            assert listed_images == set(acked.images[model_id])
            for data_id in acked.deleted_images[model_id]:
                assert http.get(f"/models/{model_id}/training-data/{data_id}").status_code == 404
        # one training per model: exactly one start was accepted, and it is the only training
        for model_id in shared:
            assert acked.started.get(model_id) == 1, (model_id, acked.started)
            trainings = http.get(f"/models/{model_id}/trainings").json()
            assert len(trainings) == 1 and trainings[0]["status"] in ("queued", "processing")
