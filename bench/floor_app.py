"""The generate's floor: a raw ASGI app (no framework) doing only what any fake must do to accept a generate.

`python -m bench.floor_app --port P [--state-dir DIR]`: any POST reads and parses its JSON body, draws a job id
and an output's seed, keeps the job with its output in it (10,000 jobs at most, the oldest dropped, as `--max-jobs`
does) and answers 202 with the fake's headers (`link`, `content-length`, `content-type`, `x-request-id`) and body
(`jobId`, `statusUrl`, `cancelUrl`). No auth, no validation against the spec, no journal entry, no faults.

With `--state-dir DIR` it keeps them as the fake's SQLite store does: a job row (the job draws its output: no
asset row), the oldest deleted past the limit, a journal row in a second file, the writes of one event-loop
round in one transaction per file, and each answer awaiting its round's commits. What it costs against the bare
Starlette app bounds what the fake's generate can reach on this stack.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from mockserver.store_sqlite import _JOURNAL_SCHEMA, _SCHEMA, connect  # the fake's tables and indexes, as they are

from .bare_app import serve
from .raw_app import lifespan

LIMIT = 10_000


class Durable:
    """The writes of one event-loop round in one transaction per file, committed at the start of the next round;
    an answer awaits that commit (`settled`)."""

    def __init__(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.db = self._open(Path(folder) / "mockserver.db")
        self.db.executescript(_SCHEMA)
        self.journal = self._open(Path(folder) / "journal.db")
        self.journal.execute(_JOURNAL_SCHEMA)
        self.round: asyncio.Future[None] | None = None

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        return connect(str(path))  # the fake's settings (page size, WAL, no secure delete, ...)

    def write(self, rows: list[tuple[str, str, str, bytes]], gone: list[tuple[str, str]], entry: bytes) -> None:
        if self.round is None:
            self.db.execute("BEGIN IMMEDIATE")
            self.journal.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            self.round = loop.create_future()
            loop.call_soon(self.commit)
        self.db.execute("SAVEPOINT request")
        self.db.executemany("INSERT INTO objects (kind, key, tenant, data) VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("DELETE FROM objects WHERE kind=? AND key=?", gone)
        self.db.execute("RELEASE request")
        self.journal.execute("INSERT INTO journal (entry) VALUES (?)", (entry,))

    def commit(self) -> None:
        self.db.execute("COMMIT")
        self.journal.execute("COMMIT")
        done, self.round = self.round, None
        if done is not None:
            done.set_result(None)


def build(state_dir: str | None = None) -> Any:
    rng = random.Random()
    kept: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
    durable = Durable(state_dir) if state_dir else None
    counter = iter(range(1, 1 << 62))

    def uuid() -> str:
        text = rng.getrandbits(128).to_bytes(16, "big").hex()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await lifespan(scope, receive, send)
            return
        if scope["method"] != "POST":
            body = b'{"status":"ready"}'
            headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        request = orjson.loads(b"".join(chunks))
        job_id = f"urn:ff:jobs:ue1:{uuid()}"
        job = {
            "id": job_id,
            "tenant": "floor",
            "kind": "firefly.generate",
            "created_at": 0.0,
            "inputs": {"prompt": request.get("prompt"), "size": {"width": 2048, "height": 2048}},
            "outputs": [{"seed": rng.getrandbits(31) + 1}],
        }
        kept[job_id] = job
        gone: list[tuple[str, str]] = []
        if len(kept) > LIMIT:
            old_id, _ = kept.popitem(last=False)
            gone = [("job:firefly.generate", old_id)]
        request_id = f"{next(counter):032x}"
        if durable is not None:
            rows = [("job:firefly.generate", job_id, "floor", orjson.dumps(job))]
            entry = orjson.dumps({"method": "POST", "path": scope["path"], "status": 202, "request_id": request_id})
            durable.write(rows, gone, entry)
            if durable.round is not None:
                await durable.round
        base = "http://127.0.0.1"
        status_url, cancel_url = f"{base}/v3/status/{job_id}", f"{base}/v3/cancel/{job_id}"
        body = orjson.dumps({"jobId": job_id, "statusUrl": status_url, "cancelUrl": cancel_url})
        link = f'<{status_url}>; rel="status", <{cancel_url}>; rel="cancel"'
        headers = [
            (b"link", link.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"x-request-id", request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", help="keep the jobs in SQLite files in this folder, as the fake does")
    args = parser.parse_args()
    serve(build(args.state_dir), args.host, args.port)


if __name__ == "__main__":
    main()
