"""Profile the fake's hot paths under load: status poll, generate accept, cached and first-render downloads, and
the custom-models listing.

    python -m bench.profile [--seconds 4] [--out DIR]

For each path a fresh server (`python -m mockserver serve --profile instant --seed 1 --no-access-log`) is driven
at 32 connections by the load generator while a profiler samples it: py-spy (`pip install py-spy`) when it is
installed, else cProfile inside the server. Prints, per path, where the server's time goes: the top functions by
inclusive and by own time, and a roll-up by package (the fake, Starlette, Uvicorn/h11, asyncio, jsonschema...).
Raw profiles are kept in DIR (default: a temporary folder) for flame graphs (`py-spy` raw format, or .pstats).
"""

from __future__ import annotations

import argparse
import json
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from . import loadgen, run, servers
from .loadgen import request_bytes

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
PACKAGES = (
    ("mockserver/", "mockserver"),
    ("starlette/", "starlette"),
    ("uvicorn/", "uvicorn"),
    ("h11/", "h11"),
    ("asyncio/", "asyncio"),
    ("jsonschema/", "jsonschema"),
    ("referencing/", "jsonschema"),
    ("anyio/", "anyio"),
    ("PIL/", "Pillow"),
    ("orjson", "orjson"),
    ("selectors", "asyncio"),
    ("socket", "asyncio"),
    ("hmac", "hmac/hashlib"),
    ("uuid", "uuid"),
    ("logging/", "logging"),
)


def _package(path: str) -> str:
    for marker, name in PACKAGES:
        if marker in path:
            return name
    return "other (stdlib)"


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1].split("/", 1)[-1] if marker.startswith("/lib") else path.split(marker, 1)[1]
    root = str(servers.ROOT) + "/"
    return path[len(root) :] if path.startswith(root) else path


def _scenarios(server: servers.Server) -> dict[str, list[bytes]]:
    base = f"http://{server.host}:{server.port}"
    headers = run._auth(run._token(base))
    post = {**headers, "content-type": "application/json"}
    docs = run._create_jobs(server, post, headers, [f"profile {i}" for i in range(32)])
    polls = [request_bytes("GET", f"/v3/status/{d['jobId']}", headers) for d in docs]
    generate = run.generates(post, "profile")
    url = run._path_of(docs[0]["result"]["outputs"][0]["image"]["url"])
    httpx.get(base + url)
    return {
        "status poll": polls,
        "generate accept": generate,
        "cached download": [request_bytes("GET", url)],
        "custom-models listing": [request_bytes("GET", "/v3/custom-models?publishedState=all&limit=50", headers)],
    }


def _render_requests(server: servers.Server, n: int) -> list[bytes]:
    base = f"http://{server.host}:{server.port}"
    headers = run._auth(run._token(base))
    docs = run._create_jobs(
        server,
        {**headers, "content-type": "application/json"},
        headers,
        [f"render {i}" for i in range(n)],
        {"width": 2048, "height": 2048},
    )
    return [request_bytes("GET", run._path_of(d["result"]["outputs"][0]["image"]["url"])) for d in docs]


def with_py_spy(py_spy: str, seconds: float, out: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    names = ["status poll", "generate accept", "cached download", "custom-models listing", "first render"]
    for name in names:
        fixtures = []
        folder = Path(tempfile.mkdtemp(prefix="bench-fixtures-"))
        if name == "custom-models listing":
            run.write_fixtures(folder, 500)
            fixtures = ["--fixtures", str(folder)]
        with servers.mockserver(*run.MOCK_FLAGS, *fixtures) as server:
            if name == "first render":
                requests = _render_requests(server, 150)
                drive = threading.Thread(target=loadgen.each, args=(server.host, server.port, requests, 1))
            else:
                requests = _scenarios(server)[name]
                drive = threading.Thread(
                    target=loadgen.load, args=(server.host, server.port, requests, 32, seconds + 1.0, 0.0)
                )
            target = out / f"{name.replace(' ', '_')}.txt"
            drive.start()
            time.sleep(0.3)
            subprocess.run(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(target),
                    "--threads",
                ],
                check=True,
                capture_output=True,
            )
            drive.join()
            found[name] = target
        shutil.rmtree(folder, ignore_errors=True)
    return found


_IDLE = {"Condition.wait", "EpollSelector.select", "select", "_worker", "wait"}


def read_raw(path: Path) -> tuple[Counter, Counter, Counter, int]:
    """Busy samples only (idle threads and the event loop's wait are left out): inclusive and own samples by frame
    (own time keeps the line), samples by package of the innermost frame, and the total."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    packages: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for part in stack.split(";"):
            match = _FRAME.match(part.strip())
            if match:
                frames.append((match["func"], _short(match["file"]), match["file"], match["line"] or "?"))
        if not frames or frames[-1][0] in _IDLE:
            continue  # an idle worker thread, or the event loop waiting for sockets: not the server's work
        total += count
        func, short, full, line_no = frames[-1]
        own[f"{func} ({short}:{line_no})"] += count
        packages[_package(full)] += count
        for key in {f"{f[0]} ({f[1]})" for f in frames}:
            inclusive[key] += count
    return inclusive, own, packages, total


def report_py_spy(found: dict[str, Path]) -> str:
    lines = []
    for name, path in found.items():
        inclusive, own, packages, total = read_raw(path)
        lines.append(f"## {name} ({total} busy samples; percentages are of the server's busy time)\n")
        lines.append(
            "By package (innermost frame): "
            + ", ".join(f"{pkg} {n * 100 / total:.0f}%" for pkg, n in packages.most_common())
        )
        lines.append("\nTop own time:")
        lines += [f"  {n * 100 / total:5.1f}%  {key}" for key, n in own.most_common(12)]
        lines.append("\nTop inclusive time, the fake's own functions:")
        ours = [
            (k, n)
            for k, n in inclusive.most_common()
            if "mockserver/" in k and not k.startswith(("<module>", "main ("))
        ]
        lines += [f"  {n * 100 / total:5.1f}%  {key}" for key, n in ours[:14]]
        lines.append("\nThe fake's own lines by own time:")
        lines += [f"  {n * 100 / total:5.1f}%  {key}" for key, n in own.most_common() if "mockserver/" in key][:10]
        lines.append("")
    return "\n".join(lines)


def with_cprofile(seconds: float, out: Path) -> str:
    """Fallback without py-spy: one server under cProfile per path, stopped with SIGTERM (it exits cleanly)."""
    lines = []
    for name in ("status poll", "generate accept", "cached download"):
        target = out / f"{name.replace(' ', '_')}.pstats"
        server = servers.Server(
            ["-m", "cProfile", "-o", str(target), "-m", "mockserver", "serve", *run.MOCK_FLAGS],
            name="mockserver under cProfile",
            cpus=servers.SERVER_CPUS,
        )
        with server:
            requests = _scenarios(server)[name]
            loadgen.load(server.host, server.port, requests, 32, seconds, 0.0)
        stats = pstats.Stats(str(target))
        lines.append(f"## {name} (cProfile, cumulative)\n```")
        buffer = _capture(stats)
        lines.append(buffer)
        lines.append("```\n")
    return "\n".join(lines)


def _capture(stats: pstats.Stats) -> str:
    import io

    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(r"mockserver|starlette|jsonschema", 25)
    return stream.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--out", help="folder for the raw profiles (default: a temporary one)")
    args = parser.parse_args(argv)
    servers.pin(True)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy")
    if py_spy:
        text = report_py_spy(with_py_spy(py_spy, args.seconds, out))
    else:
        print("py-spy not found: using cProfile inside the server (pip install py-spy for sampling)", file=sys.stderr)
        text = with_cprofile(args.seconds, out)
    print(text)
    (out / "summary.md").write_text(text)
    (out / "files.json").write_text(json.dumps(sorted(p.name for p in out.iterdir())))
    print(f"raw profiles in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
