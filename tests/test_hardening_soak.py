"""Hardening: memory stays bounded under a long soak. With a 100-entry journal and a 2 MB image cache, a few
thousand jobs are created, finished and polled, and many images are downloaded (each more than once, so the
cache both hits and evicts); the journal never holds more than 100 requests and the cache never more than 2 MB.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from mockserver.testing import MockServer, run_server

JOURNAL = 100
CACHE_MB = 2
JOBS = 2000
DOWNLOADS = 120  # distinct images (1344x768 JPEGs of ~40 KB: about 5 MB in all, over twice the cache)
CONCURRENCY = 32


@pytest.fixture(scope="module")
def mock() -> MockServer:
    with run_server(profile="instant", seed=3, journal_size=JOURNAL, image_cache_mb=CACHE_MB) as handle:
        yield handle


async def _gather_limited(calls: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(call: Any) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(run(c) for c in calls))


async def _soak(mock: MockServer, headers: dict[str, str], watch: list[tuple[int, int]]) -> list[str]:
    ctx = mock.app.state.ctx
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=mock.base_url, limits=limits, timeout=30) as http:

        async def create(i: int) -> str:
            r = await http.post(
                "/v3/images/generate-async",
                headers=headers,
                json={"prompt": f"soak {i}", "numVariations": 1 + i % 3, "size": {"width": 1344, "height": 768}},
            )
            assert r.status_code == 202, r.text
            return r.json()["jobId"]

        async def poll(job: str) -> list[str]:
            r = await http.get(f"/v3/status/{job}", headers=headers)
            assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
            watch.append((len(ctx.journal.entries()), ctx.images.size))
            return [out["image"]["url"] for out in r.json()["result"]["outputs"]]

        async def download(url: str) -> int:
            r = await http.get(url)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            watch.append((len(ctx.journal.entries()), ctx.images.size))
            return len(r.content)

        jobs = await _gather_limited([lambda i=i: create(i) for i in range(JOBS)], CONCURRENCY)
        urls = [u for found in await _gather_limited([lambda j=j: poll(j) for j in jobs], CONCURRENCY) for u in found]
        chosen = urls[:: max(1, len(urls) // DOWNLOADS)][:DOWNLOADS]
        # twice over: the second pass finds some images still cached and re-renders the evicted ones
        sizes = await _gather_limited([lambda u=u: download(u) for u in chosen * 2], CONCURRENCY)
        assert sum(sizes[:DOWNLOADS]) > 2 * CACHE_MB * 1024 * 1024  # more bytes went out than the cache holds
        return jobs


def test_journal_and_image_cache_stay_within_their_limits_under_a_soak(mock: MockServer) -> None:
    mock.reset()
    ctx = mock.app.state.ctx
    watch: list[tuple[int, int]] = []
    jobs = asyncio.run(_soak(mock, mock.headers(), watch))
    assert len(set(jobs)) == JOBS

    limit = CACHE_MB * 1024 * 1024
    assert max(entries for entries, _ in watch) <= JOURNAL
    assert max(size for _, size in watch) <= limit
    assert 0 < ctx.images.size <= limit
    assert len(ctx.journal.entries()) == JOURNAL  # full, and no fuller
    seen = mock.requests()
    assert len(seen) == JOURNAL and mock.count() == JOURNAL
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)  # the newest 100, oldest first
    assert seen[-1]["seq"] > JOBS * 2  # many more requests than that went through

    # a full reset gives everything back
    tenant = ctx.world.tenants.tenant_of(mock.client_id)
    assert len(ctx.world.jobs.list(tenant, "firefly.generate")) == JOBS
    mock.reset()
    assert ctx.images.size == 0 and ctx.journal.entries() == []
    assert ctx.world.jobs.list(tenant, "firefly.generate") == [] and ctx.world.store.count("asset") == 0


def test_a_single_image_over_the_cache_limit_is_served_but_not_kept() -> None:
    """A 2048x2048 PNG (~120 KB) with a cache of 0 MB: served every time, never cached, never an error."""
    with run_server(profile="instant", image_cache_mb=0) as mock:
        headers = mock.headers()
        job = mock.http.post(
            "/v3/images/generate-async", json={"prompt": "big"}, headers={**headers, "x-accept-mimetype": "image/png"}
        ).json()
        url = mock.http.get(job["statusUrl"], headers=headers).json()["result"]["outputs"][0]["image"]["url"]
        first, second = httpx.get(url), httpx.get(url)
        assert first.status_code == second.status_code == 200 and first.content == second.content
        assert mock.app.state.ctx.images.size == 0


def test_finished_jobs_are_evicted_past_max_jobs() -> None:
    """With `max_jobs=200`, 1,000 finished jobs leave at most 200 in the store, with their images; the evicted ones
    answer like unknown jobs and unknown files, never with a server error."""
    with run_server(profile="instant", max_jobs=200) as mock:
        headers = mock.headers()
        world = mock.app.state.ctx.world
        tenant = world.tenants.tenant_of(mock.client_id)
        first = None
        for i in range(1000):
            r = mock.http.post("/v3/images/generate-async", headers=headers, json={"prompt": f"evict {i}"})
            assert r.status_code == 202
            if first is None:
                first = r.json()
                url = mock.http.get(first["statusUrl"], headers=headers).json()["result"]["outputs"][0]["image"]["url"]
            assert len(world.jobs.list(tenant, "firefly.generate")) <= 200
        assert world.store.count("asset") <= 200
        r = mock.http.get(first["statusUrl"], headers=headers)
        assert r.status_code == 404 and r.json()["error_code"] == "unknown_job_id"
        r = httpx.get(url)
        assert r.status_code == 404 and b"<Code>NoSuchKey</Code>" in r.content


def test_journal_entries_are_bounded_in_size_too() -> None:
    """Unauthenticated 512 KB JSON bodies and 256 KB headers: what the journal keeps of each request stays small.
    (It used to keep whole bodies and headers: 1,000 entries could hold a gigabyte.)"""
    with run_server(profile="instant", journal_size=20) as mock:
        body = orjson.dumps({"prompt": "p" * (512 * 1024)})
        for i in range(20):
            headers = {"content-type": "application/json", **({"x-big": "h" * (256 * 1024)} if i % 2 else {})}
            r = mock.http.post("/v3/images/generate-async", content=body, headers=headers)
            assert r.status_code in (400, 401)  # 400 when the HTTP parser refuses the header itself
        entries = mock.app.state.ctx.journal.entries()
        assert len(entries) == 20

        def kept(entry: dict) -> int:  # headers stay a raw ASGI list in memory until the journal is read
            raw = sum(len(k) + len(v) for k, v in entry["headers"])
            return len(orjson.dumps({k: v for k, v in entry.items() if k != "headers"})) + raw

        assert max(kept(entry) for entry in entries) <= 64 * 1024
