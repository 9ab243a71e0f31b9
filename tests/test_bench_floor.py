"""The benchmark's generate floor (bench/floor_app.py) does what it claims: a 202 shaped as the fake's, the job with
its output kept up to the limit, and with a state folder the fake's rows (one a generate: its job, which draws its
output), deleted past the limit, and a journal row, each committed before the answer."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from bench import floor_app


async def _generate(client: httpx.AsyncClient, n: int) -> httpx.Response:
    return await client.post("/v3/images/generate-async", json={"prompt": f"a lighthouse {n}", "numVariations": 1})


async def _two(app: object) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await _generate(client, 1), await _generate(client, 2)


@pytest.mark.parametrize("durable", [False, True])
def test_a_generate_is_answered_as_the_fake_answers_it(durable: bool, tmp_path: Path) -> None:
    first, second = asyncio.run(_two(floor_app.build(str(tmp_path) if durable else None)))
    assert first.status_code == 202
    body = first.json()
    assert set(body) == {"jobId", "statusUrl", "cancelUrl"}
    assert body["jobId"].startswith("urn:ff:jobs:ue1:") and body["statusUrl"].endswith(body["jobId"])
    assert first.headers["link"] == f'<{body["statusUrl"]}>; rel="status", <{body["cancelUrl"]}>; rel="cancel"'
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.json()["jobId"] != body["jobId"]


def test_with_a_state_folder_the_rows_are_kept_to_the_limit_and_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(floor_app, "LIMIT", 3)

    async def five() -> tuple[list[str], list[tuple[str, str, bytes]], list[tuple[bytes]]]:
        transport = httpx.ASGITransport(app=floor_app.build(str(tmp_path)))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            jobs = [(await _generate(client, n)).json()["jobId"] for n in range(5)]
            # read while the app still runs: each answer waited for its commit, so another connection sees them
            with closing(sqlite3.connect(tmp_path / "mockserver.db")) as objects:
                rows = objects.execute("SELECT kind, key, data FROM objects ORDER BY rowid").fetchall()
            with closing(sqlite3.connect(tmp_path / "journal.db")) as entries:
                journal = entries.execute("SELECT entry FROM journal").fetchall()
            return jobs, rows, journal

    jobs, rows, journal = asyncio.run(five())
    assert [key for kind, key, _ in rows] == jobs[2:]  # the oldest two deleted; a job row each, nothing else
    assert all(kind == "job:firefly.generate" and json.loads(data)["outputs"][0]["seed"] > 0 for kind, _, data in rows)
    assert [json.loads(entry)["status"] for (entry,) in journal] == [202] * 5
