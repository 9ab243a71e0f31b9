"""Server CPU per request on the hot paths, the fake's and the bare app's, measured in turns.

    python -m bench.cpu [--rounds 3] [--seconds 1.5]

On a shared machine a throughput ratio says as much about the neighbours as about the fake: a server that waits for
a CPU answers fewer requests without doing more work. This counts the work instead: the user + system time of
the server process (from /proc) over windows at 32 connections, divided by the requests answered; the median of
the rounds, for the fake and for the bare app (the same bytes for the download). Shared caches and frequency still
move it on a busy machine, less than they move throughput. Run it from another checkout to compare two versions.
The generate figures are taken past the 10,000-job limit (the steady state of a long load test), and the last two
rows are the generate's floor (bench/floor_app.py), in memory and with the fake's SQLite rows.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import httpx

from . import loadgen, run, servers
from .loadgen import request_bytes


def _per_request(server: servers.Server, requests: list[bytes], seconds: float) -> float:
    before = server.cpu_seconds()
    result = loadgen.load(server.host, server.port, requests, 32, seconds, 0.2)
    return (server.cpu_seconds() - before) / max(result.completed, 1) * 1e6


def _compare(
    name: str, fake: servers.Server, requests: list[bytes], bare: servers.Server, args: argparse.Namespace, path: str
) -> None:
    bare_requests = [loadgen.retarget(r, path) for r in requests]
    mine, theirs = [], []
    for _ in range(args.rounds):
        mine.append(_per_request(fake, requests, args.seconds))
        theirs.append(_per_request(bare, bare_requests, args.seconds))
    m, t = sorted(mine)[len(mine) // 2], sorted(theirs)[len(theirs) // 2]
    print(f"{name:<32} fake {m:6.0f} µs   bare app {t:6.0f} µs   ratio {t / m:.2f}", flush=True)


def _download(server: servers.Server) -> tuple[str, bytes]:
    base = f"http://{server.host}:{server.port}"
    headers = run._auth(run._token(base))
    post = {**headers, "content-type": "application/json"}
    docs = run._create_jobs(server, post, headers, ["cpu"], {"width": 2048, "height": 2048})
    url = run._path_of(docs[0]["result"]["outputs"][0]["image"]["url"])
    return url, httpx.get(base + url).content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    servers.pin(True)
    print("server CPU per request at 32 connections (median of the rounds)", flush=True)
    with servers.bare_app() as bare:
        with servers.mockserver(*run.MOCK_FLAGS) as server:
            headers = run._auth(run._token(f"http://{server.host}:{server.port}"))
            post = {**headers, "content-type": "application/json"}
            docs = run._create_jobs(server, post, headers, [f"cpu {i}" for i in range(32)])
            polls = [request_bytes("GET", f"/v3/status/{d['jobId']}", headers) for d in docs]
            _compare("status poll", server, polls, bare, args, "/json")
            generate = run.generates(post, "cpu")
            run.past_the_limit(server, generate)
            _compare("generate-async accept", server, generate, bare, args, "/json")
        with tempfile.TemporaryDirectory(prefix="bench-fixtures-") as folder:
            run.write_fixtures(Path(folder), 500)
            with servers.mockserver(*run.MOCK_FLAGS, "--fixtures", folder) as server:
                headers = run._auth(run._token(f"http://{server.host}:{server.port}"))
                listing = [request_bytes("GET", "/v3/custom-models?publishedState=all&limit=50", headers)]
                _compare("custom-models (500 models)", server, listing, bare, args, "/json")
        with (
            tempfile.TemporaryDirectory(prefix="bench-state-") as folder,
            servers.mockserver(*run.MOCK_FLAGS, "--state-dir", folder) as server,
        ):
            polls, generate = run._durable_polls(server, "cpu")
            _compare("--state-dir: status poll", server, polls, bare, args, "/json")
            run.past_the_limit(server, generate)
            _compare("--state-dir: generate accept", server, generate, bare, args, "/json")
        floor_requests = run.generates({"content-type": "application/json"}, "cpu")
        for name, durable in (("generate floor (memory)", False), ("generate floor (SQLite rows)", True)):
            with (
                tempfile.TemporaryDirectory(prefix="bench-floor-") as folder,
                servers.floor_app(*(("--state-dir", folder) if durable else ())) as floor,
            ):
                run.past_the_limit(floor, floor_requests)
                _compare(name, floor, floor_requests, bare, args, "/json")
    with servers.mockserver(*run.MOCK_FLAGS) as server, tempfile.NamedTemporaryFile(suffix=".jpg") as blob:
        url, data = _download(server)
        blob.write(data)
        blob.flush()
        with servers.bare_app("--blob", blob.name) as bare:
            _compare("cached 2048x2048 JPEG download", server, [request_bytes("GET", url)], bare, args, "/blob")


if __name__ == "__main__":
    main()
