"""What a `--state-dir` generate writes: write calls and bytes per request, and the pages its commits write.

    python -m bench.writes [--seconds 3] [--connections 32]

The fake runs with a state folder, past its 10,000-job limit (each generate adds a job and evicts one), under the
generate load. Write calls and bytes per request come from the server's /proc/PID/io over the window (the WAL's
frames, the checkpoint thread's copies of them and the answers' socket writes together). Then, the load stopped, the
WAL files' frame headers say which pages were written since the WAL last started over, and SQLite's `dbstat` table
which table or index each page belongs to: pages per commit, by table, in each of the folder's two files (read from
copies taken before the server stops). Linux only, for /proc; `dbstat` is in Debian's and most other builds of
SQLite.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sqlite3
import struct
import tempfile
from pathlib import Path

from . import loadgen, run, servers

_WAL_HEADER = 32
_FRAME_HEADER = 24


def wal_frames(wal: Path) -> tuple[int, list[tuple[int, bool]]]:
    """A WAL file's page size and its valid frames since it last started over: (page number, ends a commit)."""
    data = wal.read_bytes()
    if len(data) < _WAL_HEADER:
        return 0, []
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    frames: list[tuple[int, bool]] = []
    offset = _WAL_HEADER
    while offset + _FRAME_HEADER + page_size <= len(data):
        page, size_after = struct.unpack(">II", data[offset : offset + 8])
        if data[offset + 8 : offset + 16] != salts:  # a frame left from before the WAL started over
            break
        frames.append((page, size_after != 0))
        offset += _FRAME_HEADER + page_size
    return page_size, frames


def pages_per_commit(database: Path) -> tuple[int, int, dict[str, float]]:
    """For one file of a state folder (its WAL beside it): page size, commits in the WAL, and per table or index the
    pages written per commit ("page 1" the file's header page, "free" pages on the free list)."""
    page_size, frames = wal_frames(database.with_name(database.name + "-wal"))
    commits = sum(1 for _, ends in frames if ends)
    db = sqlite3.connect(database)  # (opening a copy with its WAL beside it recovers the WAL's pages: read them all)
    try:
        owner = dict(db.execute("SELECT pageno, name FROM dbstat"))
    finally:
        db.close()
    owner[1] = "page 1"
    counted = collections.Counter(owner.get(page, "free") for page, _ in frames)
    return page_size, commits, {name: n / max(commits, 1) for name, n in counted.most_common()}


def _io(pid: int) -> dict[str, int]:
    fields = (line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return {name: int(value) for name, value in fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    servers.pin(True)
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as folder:
        with servers.mockserver(*run.MOCK_FLAGS, "--state-dir", folder) as server:
            post = {**run._auth(run._token(f"http://{server.host}:{server.port}")), "content-type": "application/json"}
            generate = run.generates(post, "writes")
            run.past_the_limit(server, generate)
            before = _io(server.proc.pid)
            result = loadgen.load(server.host, server.port, generate, args.connections, args.seconds, 0.2)
            after = _io(server.proc.pid)
            answered = max(result.completed, 1)
            print(f"--state-dir generate past the limit, {args.connections} connections, {answered:,} answered")
            print(f"  write calls a request: {(after['syscw'] - before['syscw']) / answered:.1f}")
            print(f"  bytes written a request: {(after['wchar'] - before['wchar']) / answered:,.0f}")
            copy = Path(folder) / "copy"  # taken while the server runs: its last close removes the WALs
            copy.mkdir()
            for name in ("mockserver.db", "mockserver.db-wal", "journal.db", "journal.db-wal"):
                shutil.copyfile(Path(folder) / name, copy / name)
        for name in ("mockserver.db", "journal.db"):
            page_size, commits, pages = pages_per_commit(copy / name)
            listed = ", ".join(f"{table} {n:.2f}" for table, n in pages.items())
            print(f"  {name} ({page_size}-byte pages), pages per commit over {commits:,} commits: {listed}")


if __name__ == "__main__":
    main()
