"""Benchmarks of the running fake over real sockets, each beside a bare Starlette app on the same Uvicorn settings.

    python -m bench            # full run, about five minutes on 2 cores
    python -m bench --quick    # about a minute: one short window a figure, 1,000 jobs in the memory figure
    python -m bench --wrk      # also measure the status poll with wrk, when it is installed

Prints a table (figure, value, bare-app baseline, ratio, target, PASS/MISS). Targets are reported, not enforced:
the command exits 0 whatever they say (it exits 1 only when a measurement itself fails).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from mockserver.settings import Settings

from . import loadgen, servers
from .loadgen import request_bytes

CLIENT_ID, CLIENT_SECRET = "mock-client-id", "mock-client-secret"
SMALL_SIZE = {"width": 1344, "height": 768}  # the smallest image3 size (1344x768, 1152x896 and 896x1152 tie)
MOCK_FLAGS = ("--profile", "instant", "--seed", "1", "--no-access-log")


@dataclass
class Plan:
    duration: float  # one measured window, seconds
    warmup: float  # unmeasured load before each window
    rounds: int  # windows per figure, alternating fake and bare app
    startups: int  # start-up samples (servers started with the default fixtures)
    memory_jobs: int  # finished jobs, each with one rendered image, before reading the RSS
    renders: int  # 2048x2048 first renders timed
    resets: int

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(duration=0.8, warmup=0.2, rounds=1, startups=3, memory_jobs=1000, renders=5, resets=20)
        return cls(duration=1.5, warmup=0.3, rounds=3, startups=5, memory_jobs=10_000, renders=15, resets=100)


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline:
            self.ratio = self.value / self.baseline


@dataclass
class Bench:
    plan: Plan
    bare: servers.Server
    rows: list[Row] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.figure}: {_fmt(row.value, row.unit)}", file=sys.stderr, flush=True)


# --- helpers ------------------------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "KB":
        return f"{value:.2f} KB"
    return f"{value:g} {unit}"


def _auth(token: str) -> dict[str, str]:
    return {"x-api-key": CLIENT_ID, "authorization": f"Bearer {token}"}


def _token(base: str) -> str:
    r = httpx.post(
        f"{base}/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "openid,firefly_api",
        },
    )
    r.raise_for_status()
    return r.json()["access_token"]


DISTINCT_GENERATES = 4096  # more than any cache of recent requests holds: every generate is a new request


def generates(post: dict[str, str], label: str) -> list[bytes]:
    """Generate requests as clients send them, each with a prompt of its own (a load generator cycles through
    them), so no figure leans on the same request coming again."""
    path = "/v3/images/generate-async"
    return [request_bytes("POST", path, post, _generate_body(f"{label} {i}")) for i in range(DISTINCT_GENERATES)]


def _generate_body(prompt: str, size: dict[str, int] | None = None) -> bytes:
    body: dict[str, object] = {"prompt": prompt, "numVariations": 1}
    if size:
        body["size"] = size
    return json.dumps(body).encode()


def _path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def _check(result: loadgen.Result, what: str) -> None:
    if result.errors or result.non_2xx or result.completed == 0:
        raise RuntimeError(
            f"{what}: {result.completed} completed, statuses {result.statuses}, {result.errors} connection errors"
        )


@dataclass
class Comparison:
    fake: loadgen.Result
    bare: loadgen.Result
    cpu: float  # the fake's CPU use during its windows, as a share of one core
    fake_p99s: list[float] = field(default_factory=list)  # each window's p99, ms
    bare_p99s: list[float] = field(default_factory=list)


def compare(
    b: Bench,
    server: servers.Server,
    requests: list[bytes],
    conns: int,
    what: str,
    bare: servers.Server | None = None,
    bare_path: str = "/json",
) -> Comparison:
    """Alternate measured windows on the fake and on the bare app (the same requests sent to its `bare_path`), so
    drift in the machine's speed hits both sides alike; pool each side's windows."""
    ceiling = bare or b.bare
    bare_requests = [loadgen.retarget(r, bare_path) for r in requests]
    fake = loadgen.Result()
    base = loadgen.Result()
    fake_p99s: list[float] = []
    bare_p99s: list[float] = []
    cpu = busy = 0.0
    for _ in range(b.plan.rounds):
        before, began = server.cpu_seconds(), time.perf_counter()
        window = loadgen.load(server.host, server.port, requests, conns, b.plan.duration, b.plan.warmup)
        cpu += server.cpu_seconds() - before
        busy += time.perf_counter() - began
        fake_p99s.append(window.percentile(99) * 1000)
        fake.merge(window)
        window = loadgen.load(ceiling.host, ceiling.port, bare_requests, conns, b.plan.duration, b.plan.warmup)
        bare_p99s.append(window.percentile(99) * 1000)
        base.merge(window)
    _check(fake, what)
    _check(base, f"{what} (bare app)")
    return Comparison(fake, base, cpu / busy, fake_p99s, bare_p99s)


def throughput(
    b: Bench,
    server: servers.Server,
    figure: str,
    requests: list[bytes],
    conns: int = 32,
    target: str = "",
    goal: Callable[[float], bool] | None = None,
    note: str = "",
    bare: servers.Server | None = None,
    bare_path: str = "/json",
) -> Comparison:
    c = compare(b, server, requests, conns, figure, bare, bare_path)
    ratio = c.fake.rate / c.bare.rate
    notes = [f"server CPU {c.cpu * 100:.0f}%", *([note] if note else [])]
    b.add(
        Row(
            f"{figure} @{conns} conns",
            c.fake.rate,
            "req/s",
            c.bare.rate,
            target,
            goal(ratio) if goal else None,
            "; ".join(notes),
        )
    )
    return c


def latency(
    b: Bench,
    server: servers.Server,
    label: str,
    requests: list[bytes],
    conns: int = 4,
    p99_target: float | None = None,
    bare: servers.Server | None = None,
    bare_path: str = "/json",
) -> Comparison:
    """p50 over all windows; p99 as the median of the windows' p99s (one window hit by the machine's hiccups does
    not decide it; every window's p99 is in the notes)."""
    c = compare(b, server, requests, conns, label, bare, bare_path)
    n = f"{len(c.fake.latencies):,} requests"
    b.add(Row(f"{label} p50 @{conns} conns", c.fake.percentile(50) * 1000, "ms", c.bare.percentile(50) * 1000, note=n))
    p99 = statistics.median(c.fake_p99s)
    windows = ", ".join(f"{x:.2f}" for x in c.fake_p99s)
    bare_windows = ", ".join(f"{x:.2f}" for x in c.bare_p99s)
    b.add(
        Row(
            f"{label} p99 @{conns} conns",
            p99,
            "ms",
            statistics.median(c.bare_p99s),
            f"< {p99_target:g} ms" if p99_target else "",
            (p99 < p99_target) if p99_target else None,
            f"{n}; p99 of each window {windows} ms (bare app {bare_windows} ms); p99.9 "
            f"{c.fake.percentile(99.9) * 1000:.2f} ms, max {max(c.fake.latencies) * 1000:.1f} ms",
        )
    )
    return c


def each(
    server: servers.Server, requests: list[bytes], conns: int, keep_bodies: bool = False, what: str = "requests"
) -> loadgen.Result:
    result = loadgen.each(server.host, server.port, requests, conns, keep_bodies)
    _check(result, what)
    return result


def _create_jobs(
    server: servers.Server,
    post: dict[str, str],
    headers: dict[str, str],
    prompts: list[str],
    size: dict[str, int] | None = None,
    conns: int = 8,
) -> list[dict]:
    """Create one job per prompt, poll each once (finished: instant profile), return the status documents."""
    created = each(
        server,
        [request_bytes("POST", "/v3/images/generate-async", post, _generate_body(p, size)) for p in prompts],
        conns,
        True,
        "generate",
    )
    ids = [json.loads(created.bodies[i])["jobId"] for i in range(len(prompts))]
    polled = each(server, [request_bytes("GET", f"/v3/status/{job}", headers) for job in ids], conns, True, "status")
    docs = [json.loads(polled.bodies[i]) for i in range(len(ids))]
    for doc in docs:
        if doc["status"] != "succeeded":
            raise RuntimeError(f"job not finished at its first poll: {doc}")
    return docs


# --- the figures --------------------------------------------------------------------------------------------


def hot_paths(b: Bench) -> None:
    print("status poll, generate accept, downloads, reset", file=sys.stderr, flush=True)
    with servers.mockserver(*MOCK_FLAGS) as server:
        b.startups.append(server.startup)
        base = f"http://{server.host}:{server.port}"
        headers = _auth(_token(base))
        post = {**headers, "content-type": "application/json"}

        docs = _create_jobs(server, post, headers, [f"poll {i}" for i in range(32)])
        polls = [request_bytes("GET", f"/v3/status/{doc['jobId']}", headers) for doc in docs]
        c = throughput(
            b, server, "status poll (finished job)", polls, target="≥ 80% of bare", goal=lambda ratio: ratio >= 0.8
        )
        b.rows.insert(
            len(b.rows) - 1,
            Row(
                "bare app: fixed JSON (same request) @32 conns",
                c.bare.rate,
                "req/s",
                c.bare.rate,
                note="the ceiling; measured in turns with every figure",
            ),
        )
        latency(b, server, "status poll", polls, p99_target=5.0)

        generate = generates(post, "a lighthouse in a storm")
        past_the_limit(server, generate)
        c = throughput(
            b,
            server,
            "generate-async accept",
            generate,
            target="≥ 50% of bare",
            goal=lambda ratio: ratio >= 0.5,
            note="each creates a job (instant profile); 4,096 distinct prompts in turn",
        )
        jobs_created = Settings().max_jobs + 500 + c.fake.completed + int(c.fake.rate * b.plan.warmup * b.plan.rounds)
        c = latency(b, server, "generate-async accept", generate, p99_target=5.0)
        jobs_created += c.fake.completed

        # first render of 2048x2048 JPEGs: distinct jobs, downloaded one after another on one connection
        docs = _create_jobs(
            server, post, headers, [f"render {i}" for i in range(b.plan.renders)], {"width": 2048, "height": 2048}
        )
        urls = [_path_of(doc["result"]["outputs"][0]["image"]["url"]) for doc in docs]
        renders = each(server, [request_bytes("GET", u) for u in urls], 1)
        times = [t * 1000 for t in renders.latencies]
        size_kb = renders.bytes_received / len(urls) / 1024
        median = statistics.median(times)
        b.add(
            Row(
                "download: first render 2048x2048 JPEG (median)",
                median,
                "ms",
                target="< 60 ms",
                passed=median < 60,
                note=f"{len(times)} images, max {max(times):.1f} ms, ~{size_kb:.0f} KB each",
            )
        )
        cached = [request_bytes("GET", urls[0])]
        with tempfile.NamedTemporaryFile(prefix="bench-blob-", suffix=".jpg") as blob:
            image = httpx.get(base + urls[0]).content
            blob.write(image)
            blob.flush()
            # the ceiling for a download: the bare app answering the very same bytes
            with servers.bare_app("--blob", blob.name) as same_bytes:
                c = throughput(
                    b,
                    server,
                    "download: cached 2048x2048 JPEG",
                    cached,
                    target="≥ 70% of bare",
                    goal=lambda ratio: ratio >= 0.7,
                    note=f"against the bare app answering the same {len(image):,} bytes",
                    bare=same_bytes,
                    bare_path="/blob",
                )
                b.rows[-1].note += f"; {c.fake.bytes_received / c.fake.elapsed / 2**20:,.0f} MB/s"
                latency(
                    b, server, "download: cached 2048x2048 JPEG", cached, 4, 5.0, bare=same_bytes, bare_path="/blob"
                )

        # reset: the first one clears what the load above created; the others reload the fixtures only
        reset = request_bytes("POST", "/__admin/reset", {"content-type": "application/json"}, b"{}")
        first = each(server, [reset], 1)
        b.add(
            Row(
                "reset after the load above",
                first.latencies[0] * 1000,
                "ms",
                note=f"after about {jobs_created + 32 + b.plan.renders:,} generates (10,000 jobs kept)",
            )
        )
        result = each(server, [reset] * b.plan.resets, 1)
        p50 = result.percentile(50) * 1000
        b.add(
            Row(
                "reset p50 (fixtures only)",
                p50,
                "ms",
                target="< 10 ms",
                passed=p50 < 10,
                note=f"{b.plan.resets} resets one after another, p99 {result.percentile(99) * 1000:.2f} ms",
            )
        )


def custom_models(b: Bench) -> None:
    print("custom-models listing with 500 models", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-fixtures-") as folder:
        count = write_fixtures(Path(folder), 500)
        with servers.mockserver(*MOCK_FLAGS, "--fixtures", folder) as server:
            base = f"http://{server.host}:{server.port}"
            headers = _auth(_token(base))
            path = "/v3/custom-models?publishedState=all&limit=50"
            first = httpx.get(base + path, headers=headers).json()
            if len(first["custom_models"]) != 50 or first["total_count"] != count:
                raise RuntimeError(f"unexpected listing: total_count {first['total_count']}")
            listing = [request_bytes("GET", path, headers)]
            throughput(
                b,
                server,
                "GET /v3/custom-models?publishedState=all&limit=50 (500 models)",
                listing,
                target="≥ 50% of bare",
                goal=lambda ratio: ratio >= 0.5,
                note=f"start-up with 500 models {server.startup:.2f} s",
            )
            latency(b, server, "custom-models (500 models)", listing, p99_target=5.0)


def write_fixtures(folder: Path, n: int) -> int:
    """`n` Firefly custom models in the format of fixtures/default.yaml (every tenth private to mock-client-id),
    plus the default clients. Returns how many models mock-client-id sees."""
    lines = [
        "clients:",
        "  - {client_id: mock-client-id, client_secret: mock-client-secret, name: Default test client}",
        "  - {client_id: other-client-id, client_secret: other-client-secret, name: A second tenant}",
        "custom_models:",
    ]
    for i in range(n):
        lines += [
            f"  - displayName: Bench Model {i:03d}",
            f"    assetId: urn:aaid:sc:VA6C2:{i:08x}-0000-4000-8000-{i:012x}",
            f"    assetName: Bench Model {i:03d}",
            f"    trainingMode: {'subject' if i % 3 == 0 else 'style'}",
            '    baseModel: {name: clio_v2, version: "2.0.0"}',
            f"    publishedState: {'unpublished' if i % 4 == 0 else 'published'}",
            f"    samplePrompt: a sample prompt for bench model {i}",
            f"    conceptId: bench-concept-{i}",
            f"    createdDate: {1717200000000 + i * 3_600_000}",
            f"    modifiedDate: {1717200000000 + i * 7_200_000}",
        ]
        if i % 10 == 9:
            lines.append("    tenant: mock-client-id")
    (folder / "models.yaml").write_text("\n".join(lines) + "\n")
    return n


def memory(b: Bench) -> None:
    n = b.plan.memory_jobs
    print(f"memory after {n:,} finished jobs with rendered images", file=sys.stderr, flush=True)
    with servers.mockserver(*MOCK_FLAGS) as server:
        b.startups.append(server.startup)
        idle = server.rss_mb()
        base = f"http://{server.host}:{server.port}"
        headers = _auth(_token(base))
        post = {**headers, "content-type": "application/json"}
        began = time.perf_counter()
        docs = _create_jobs(server, post, headers, [f"memory {i}" for i in range(n)], SMALL_SIZE, conns=16)
        urls = [_path_of(doc["result"]["outputs"][0]["image"]["url"]) for doc in docs]
        first_job = docs[0]["jobId"]
        del docs
        downloads = each(server, [request_bytes("GET", u) for u in urls], 8, what="download")
        took = time.perf_counter() - began
        rss, peak = server.rss_mb(), server.peak_rss_mb()
        mb = downloads.bytes_received / 2**20
        defaults = Settings.from_env(env={})
        limits = f"image cache {defaults.image_cache_mb} MB"
        if hasattr(defaults, "max_jobs"):
            limits += f", max_jobs {defaults.max_jobs:,}"
        b.add(
            Row(
                f"RSS after {n:,} finished jobs, {n:,} images rendered",
                rss,
                "MB",
                b.bare.rss_mb(),
                "< 150 MB",
                rss < 150,
                f"1344x768 JPEGs, each downloaded once ({mb:,.0f} MB in all); idle {idle:.0f} MB, "
                f"peak {peak:.0f} MB; defaults ({limits}); {took:.0f} s to build",
            )
        )
        b.add(
            Row(
                "RSS growth per finished job",
                (rss - idle) * 1024 / n,
                "KB",
                note="everything the jobs left behind, the filled image cache included",
            )
        )
        if b.plan.rounds > 1:  # the full run only: how the hot paths fare with a full store
            latency(
                b,
                server,
                f"status poll, {n:,} jobs in the store",
                [request_bytes("GET", f"/v3/status/{first_job}", headers)],
            )
            latency(
                b,
                server,
                f"custom-models, default fixtures, {n:,} jobs of the caller",
                [request_bytes("GET", "/v3/custom-models?publishedState=all", headers)],
            )
        reset = each(server, [request_bytes("POST", "/__admin/reset", {"content-type": "application/json"}, b"{}")], 1)
        b.add(Row(f"reset with {n:,} jobs in the store", reset.latencies[0] * 1000, "ms"))


def raw_ceiling(b: Bench) -> None:
    """The raw ASGI app against the bare Starlette app: how much of the ceiling Starlette itself takes."""
    print("raw ASGI app (no framework)", file=sys.stderr, flush=True)
    with servers.raw_app() as raw:
        c = compare(b, raw, [request_bytes("GET", "/json")], 32, "raw ASGI app")
        b.add(
            Row(
                "raw ASGI app: fixed JSON (no framework) @32 conns",
                c.fake.rate,
                "req/s",
                c.bare.rate,
                note="the second ceiling; ratio to the bare Starlette app, measured in turns with it",
            )
        )


def past_the_limit(server: servers.Server, requests: list[bytes]) -> None:
    """Generate past the default 10,000-job limit before a generate figure, so it is measured in the steady state of
    a long load test (each new job past the limit drops finished ones), not in a store still filling up."""
    n = Settings().max_jobs + 500
    _check(loadgen.each(server.host, server.port, (requests * (n // len(requests) + 1))[:n], 32), "fill")


def generate_floor(b: Bench) -> None:
    """The generate's floor (bench/floor_app.py): a raw ASGI app doing only what any fake must to accept a generate,
    in memory and keeping the fake's SQLite rows, each filled past its 10,000-job limit first (as the fake is
    when measured), against the bare app: what the generate targets leave for everything else the fake does."""
    print("generate floor (raw ASGI, memory and SQLite rows)", file=sys.stderr, flush=True)
    requests = generates({"content-type": "application/json"}, "floor")
    for label, durable, fake_figure in (
        ("memory", False, "generate-async accept"),
        ("SQLite rows", True, "--state-dir: generate-async accept"),
    ):
        with (
            tempfile.TemporaryDirectory(prefix="bench-floor-") as folder,
            servers.floor_app(*(("--state-dir", folder) if durable else ())) as floor,
        ):
            past_the_limit(floor, requests)
            c = compare(b, floor, requests, 32, f"generate floor ({label})")
        b.add(
            Row(
                f"generate floor ({label}) @32 conns",
                c.fake.rate,
                "req/s",
                c.bare.rate,
                note="parse, a job id and a seed, keep the job with its output, 202 with the fake's headers; "
                f"compare with '{fake_figure}': the rest of that ratio's gap is the fake's own work",
            )
        )


def _durable_polls(server: servers.Server, label: str) -> tuple[list[bytes], list[bytes]]:
    """Status polls of 32 finished jobs, and one generate request, on a fresh server."""
    base = f"http://{server.host}:{server.port}"
    headers = _auth(_token(base))
    post = {**headers, "content-type": "application/json"}
    docs = _create_jobs(server, post, headers, [f"{label} {i}" for i in range(32)])
    polls = [request_bytes("GET", f"/v3/status/{doc['jobId']}", headers) for doc in docs]
    return polls, generates(post, label)


def state_dir(b: Bench) -> None:
    """The hot paths on the durable store (SQLite in --state-dir), with one worker and with two."""
    print("status poll and generate accept with --state-dir (SQLite)", file=sys.stderr, flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as folder,
        servers.mockserver(*MOCK_FLAGS, "--state-dir", folder) as server,
    ):
        polls, generate = _durable_polls(server, "durable")
        one = throughput(b, server, "--state-dir: status poll", polls, target="≥ 50% of bare", goal=lambda r: r >= 0.5)
        latency(b, server, "--state-dir: status poll", polls, p99_target=5.0)
        past_the_limit(server, generate)
        throughput(
            b,
            server,
            "--state-dir: generate-async accept",
            generate,
            target="≥ 30% of bare",
            goal=lambda r: r >= 0.3,
            note="each creates a job in the SQLite file",
        )
        latency(b, server, "--state-dir: generate-async accept", generate, p99_target=5.0)
    with (
        tempfile.TemporaryDirectory(prefix="bench-state-") as folder,
        servers.mockserver(*MOCK_FLAGS, "--state-dir", folder, "--workers", "2") as server,
    ):
        polls, _ = _durable_polls(server, "workers")
        two = compare(b, server, polls, 32, "--workers 2")
        cpus = sorted(servers.SERVER_CPUS) if servers.SERVER_CPUS else "any"
        b.add(
            Row(
                "--workers 2 --state-dir: status poll @32 conns",
                two.fake.rate,
                "req/s",
                two.bare.rate,
                note=f"{two.fake.rate / one.fake.rate:.2f}x one worker's rate (in turns with the bare app "
                f"both times); both workers on CPUs {cpus}",
            )
        )


def postgres(b: Bench) -> None:
    """The hot paths on PostgreSQL (--database-url), on a throwaway local cluster; skipped without PostgreSQL."""
    from mockserver.testing import postgres_bin, throwaway_postgres

    if postgres_bin() is None:
        print("no PostgreSQL installed: skipping the --database-url figures", file=sys.stderr, flush=True)
        return
    print("status poll and generate accept with --database-url (PostgreSQL)", file=sys.stderr, flush=True)
    with throwaway_postgres() as url, servers.mockserver(*MOCK_FLAGS, "--database-url", url) as server:
        where = _pin_postgres(url)
        polls, generate = _durable_polls(server, "postgres")
        note = f"PostgreSQL on this machine, {where} (fsync off: a throwaway cluster)"
        throughput(b, server, "--database-url: status poll", polls, target="reported", note=note)
        latency(b, server, "--database-url: status poll", polls)
        throughput(b, server, "--database-url: generate-async accept", generate, target="reported", note=note)
        latency(b, server, "--database-url: generate-async accept", generate)


def _pin_postgres(url: str) -> str:
    """Put the PostgreSQL server on the servers' CPU (its backends are forked from the postmaster, so they follow):
    the fake and its database then share one CPU, as the fake alone does in the other figures."""
    import psycopg

    if not servers.SERVER_CPUS:
        return "not pinned"
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
    postmaster = int(Path(f"/proc/{row[0] if row else 0}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for pid in [postmaster, *_children(postmaster)]:
        os.sched_setaffinity(pid, servers.SERVER_CPUS)
    return f"on the server's CPU {sorted(servers.SERVER_CPUS)[0]} too"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return found


def access_log(b: Bench) -> None:
    print("status poll with the access log on (the CLI default)", file=sys.stderr, flush=True)
    with servers.mockserver("--profile", "instant", "--seed", "1") as server:
        b.startups.append(server.startup)
        base = f"http://{server.host}:{server.port}"
        headers = _auth(_token(base))
        post = {**headers, "content-type": "application/json"}
        docs = _create_jobs(server, post, headers, ["log"])
        throughput(
            b,
            server,
            "status poll, access log on",
            [request_bytes("GET", f"/v3/status/{docs[0]['jobId']}", headers)],
            note="one line a request to stderr (a file here)",
        )


def startup(b: Bench) -> None:
    print("start-up to ready", file=sys.stderr, flush=True)
    while len(b.startups) < b.plan.startups:
        with servers.mockserver(*MOCK_FLAGS) as server:
            b.startups.append(server.startup)
    median = statistics.median(b.startups)
    b.add(
        Row(
            "start-up to ready (median)",
            median,
            "s",
            b.bare.startup,
            "< 1 s",
            median < 1.0,
            f"{len(b.startups)} starts of `python -m mockserver serve` until GET /ready answers 200, "
            f"max {max(b.startups):.3f} s",
        )
    )


def with_wrk(b: Bench) -> None:
    """Cross-check the headline throughput with wrk (C, one thread), when it is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: no cross-check (apt-get install -y wrk)", file=sys.stderr)
        return
    print("wrk cross-check", file=sys.stderr, flush=True)
    seconds = f"-d{max(1, round(b.plan.duration * b.plan.rounds))}s"

    def run(url: str, headers: dict[str, str]) -> float:
        args = [wrk, "-t1", "-c32", seconds]
        for k, v in headers.items():
            args += ["-H", f"{k}: {v}"]
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not match:
            raise RuntimeError(f"cannot read wrk's output: {out}")
        return float(match.group(1))

    with servers.mockserver(*MOCK_FLAGS) as server:
        base = f"http://{server.host}:{server.port}"
        headers = _auth(_token(base))
        docs = _create_jobs(server, {**headers, "content-type": "application/json"}, headers, ["wrk"])
        rate = run(f"{base}/v3/status/{docs[0]['jobId']}", headers)
    bare_rate = run(f"http://{b.bare.host}:{b.bare.port}/json", headers)
    b.add(Row("wrk: bare app fixed JSON @32 conns", bare_rate, "req/s", bare_rate))
    b.add(
        Row(
            "wrk: status poll (finished job) @32 conns",
            rate,
            "req/s",
            bare_rate,
            "≥ 50% of bare",
            rate / bare_rate >= 0.5,
            "wrk -t1 -c32, in place of the Python load generator",
        )
    )


# --- output -------------------------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ("figure", "value", "bare app", "ratio", "target", "result")
    body = []
    for r in rows:
        body.append(
            (
                r.figure,
                _fmt(r.value, r.unit),
                _fmt(r.baseline, r.unit) if r.baseline else "—",
                f"{r.ratio:.2f}" if r.ratio is not None else "—",
                r.target or "—",
                "—" if r.passed is None else ("PASS" if r.passed else "MISS"),
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths, strict=False)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)) for row in body]
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | value | bare app | ratio | target | result | notes |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.figure} | {_fmt(r.value, r.unit)} | "
            f"{_fmt(r.baseline, r.unit) if r.baseline else '—'} | "
            f"{f'{r.ratio:.2f}' if r.ratio is not None else '—'} | {r.target or '—'} | "
            f"{'—' if r.passed is None else ('PASS' if r.passed else 'MISS')} | {r.note} |"
        )
    return "\n".join(lines)


def _stack() -> str:
    """What Uvicorn's "auto" settings pick on this machine (the fake and the bare app alike)."""
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "?"

    loop = f"uvloop {ver('uvloop')}" if find_spec("uvloop") else "asyncio"
    http = f"httptools {ver('httptools')}" if find_spec("httptools") else f"h11 {ver('h11')}"
    return f"Uvicorn {ver('uvicorn')} ({loop}, {http}), Starlette {ver('starlette')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one short window a figure, 1,000 jobs (about a minute)")
    parser.add_argument("--wrk", action="store_true", help="also measure the status poll with wrk")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load generator to CPUs")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table, with notes, as Markdown")
    parser.add_argument("--json", metavar="FILE", help="also write every row as JSON")
    args = parser.parse_args(argv)
    servers.pin(not args.no_pin)
    began = time.perf_counter()
    try:
        with servers.bare_app() as bare:
            b = Bench(Plan.for_mode(args.quick), bare)
            loadgen.load(bare.host, bare.port, [request_bytes("GET", "/json")], 32, 0.5, 0.0)  # warm it up
            raw_ceiling(b)
            hot_paths(b)
            custom_models(b)
            state_dir(b)
            generate_floor(b)
            postgres(b)
            memory(b)
            if not args.quick:
                access_log(b)
            startup(b)
            if args.wrk:
                with_wrk(b)
    except (RuntimeError, OSError, httpx.HTTPError) as exc:
        print(f"bench: a measurement failed: {exc!r}", file=sys.stderr)
        return 1
    took = time.perf_counter() - began
    pinned = (
        f"servers on CPU {sorted(servers.SERVER_CPUS)[0]}, load generator on CPU {sorted(os.sched_getaffinity(0))[0]}"
        if servers.SERVER_CPUS
        else "not pinned"
    )
    print(table(b.rows))
    print(
        f"\n{'quick' if args.quick else 'full'} run in {took:.0f} s on {os.cpu_count()} CPUs ({pinned}); "
        f"Python {sys.version.split()[0]}, {_stack()}; {b.plan.rounds} window(s) of {b.plan.duration:g} s a "
        "figure, alternating with the bare app"
    )
    for row in b.rows:
        if row.note:
            print(f"  {row.figure}: {row.note}")
    if args.markdown:
        Path(args.markdown).write_text(markdown(b.rows) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in b.rows], indent=2) + "\n")
    return 0
