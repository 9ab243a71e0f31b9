"""The request journal: a bounded record of what clients sent and what they got, for tests to assert on."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from .store import settle
from .surface import SurfaceError

log = logging.getLogger("mockserver")


# What the gateway records per request, in this order: a tuple costs a fraction of a dict to build and to keep, and
# a request's entry is read far less often than it is written. `Journal.query` hands out dicts.
FIELDS = (
    "time",
    "surface",
    "method",
    "path",
    "query",
    "tenant",
    "status",
    "latency_ms",
    "request_id",
    "body",
    "headers",
)


def as_dict(entry: tuple[Any, ...], readable_headers: bool = False) -> dict[str, Any]:
    """A recorded entry as the journal shows it (`FIELDS`, in order): the query string decoded, the latency
    (recorded in seconds) in milliseconds, the headers as recorded (raw until someone reads them) or, for a shared
    journal's row, readable. One dict display: a shared journal builds one for every request."""
    time, surface, method, path, query, tenant, status, latency, request_id, body, headers = entry
    return {
        "time": time,
        "surface": surface,
        "method": method,
        "path": path,
        "query": query.decode("latin-1"),
        "tenant": tenant,
        "status": status,
        "latency_ms": round(latency * 1000, 3),
        "request_id": request_id,
        "body": body,
        "headers": readable(headers) if readable_headers else headers,
    }


class Journal:
    """A ring buffer: the newest `size` requests, oldest first. Memory stays bounded however long it runs."""

    def __init__(self, size: int) -> None:
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=max(size, 1))
        self._count = 0  # entries ever recorded: the newest one's sequence number
        self._lock = threading.Lock()

    def record(self, entry: tuple[Any, ...]) -> asyncio.Future[None] | None:
        """One entry (`FIELDS`, in order) per request, recorded on the event loop's thread: no lock. Returns what
        to await before answering (a shared journal's commit), or None when the entry is readable already."""
        self._entries.append(entry)
        self._count += 1
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            kept, count = list(self._entries), self._count
        first = count - len(kept) + 1  # sequence numbers follow from the count: the ring drops the oldest
        return [{**as_dict(entry), "seq": first + i} for i, entry in enumerate(kept)]

    def query(
        self,
        path: str | None = None,
        method: str | None = None,
        tenant: str | None = None,
        status: int | None = None,
        surface: str | None = None,
    ) -> list[dict[str, Any]]:
        found = (e for e in self.entries() if _keep(e, path, method, tenant, status, surface))
        return [{**e, "time": iso(e["time"]), "headers": readable(e["headers"])} for e in found]


HEADER_CHARS = 512


def readable(headers: Any) -> dict[str, str]:
    """Journal headers as a dict without credentials, each value capped. Entries hold the raw ASGI list until
    someone reads them, so recording stays cheap."""
    if isinstance(headers, dict):
        return headers
    return {k.decode("latin-1"): v.decode("latin-1")[:HEADER_CHARS] for k, v in headers if k != b"authorization"}


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds")


class SharedJournal(Journal):
    """The journal kept in the durable store, so every worker process sees every request.

    Group commit: the entries recorded while the event loop runs one round of ready requests are written in one
    commit, at the start of the next round, and each request awaits that commit before its answer starts. So an
    entry is in the file (readable by every worker, kept through kill -9) before the client can read a byte, as
    when every entry was its own commit, but 32 concurrent polls cost one commit instead of 32."""

    def __init__(self, store: Any, size: int) -> None:
        super().__init__(size)
        self.store = store
        self.size = max(size, 1)
        self._append_many = getattr(store, "journal_append_many", None)
        self._commit_store = getattr(store, "commit_batch", None)  # the objects' group commit (SQLite)
        self._store_settled = getattr(store, "settled", None)
        self._batches: list[asyncio.Future[None]] = []  # the objects' group commits the pending entries saw open
        self._pending: list[dict[str, Any]] = []
        self._committed: asyncio.Future[None] | None = None  # resolved when the pending entries are written
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending_lock = threading.Lock()
        self._thread = 0  # the thread whose loop the pending commit belongs to

    def record(self, recorded: tuple[Any, ...]) -> asyncio.Future[None] | None:
        entry = as_dict(recorded, readable_headers=True)
        with self._pending_lock:  # the common case first: this round's commit is pending on this thread's loop
            pending_loop = self._loop
            if pending_loop is not None and threading.get_ident() == self._thread and pending_loop.is_running():
                assert self._committed is not None
                self._pending.append(entry)
                self._saw_batch()
                return self._committed
        try:
            loop = asyncio.get_running_loop()  # a getpid() each time: not on every request
        except RuntimeError:
            loop = None
        with self._pending_lock:
            if loop is None or self._append_many is None or (self._loop is not None and loop is not self._loop):
                pass  # no loop to batch on (or another thread's): written now, below
            else:
                self._pending.append(entry)
                self._saw_batch()
                if self._committed is None:
                    self._loop, self._committed = loop, loop.create_future()
                    self._thread = threading.get_ident()
                    loop.call_soon(self.flush)
                return self._committed
        self.flush()
        if self._commit_store is not None:
            self._commit_store()  # this loop's group commit of the store goes first, as in flush
        try:
            self.store.journal_append(entry, self.size)
        except SurfaceError:
            pass  # a lost database (StoreUnavailable): the 503 goes out unjournaled
        except Exception:
            log.exception("mockserver: the request journal could not be written; the answer goes out unjournaled")
        return None

    def _saw_batch(self) -> None:
        """Note the objects' group commit open as this entry is recorded (the request's writes are in it): if that
        commit fails, so must the answer (lock held)."""
        batch = self._store_settled() if self._store_settled is not None else None
        if batch is not None and (not self._batches or self._batches[-1] is not batch):
            self._batches.append(batch)

    def flush(self) -> None:
        """Write the pending entries (one commit) and release the requests waiting for them."""
        with self._pending_lock:
            pending, committed, batches = self._pending, self._committed, self._batches
            self._pending, self._committed, self._loop, self._batches = [], None, None, []
        if committed is None:
            return
        # what these requests wrote (or read uncommitted) is in the store's file before they answer, or they fail
        failure = self._commit_store() if self._commit_store is not None else None
        for batch in batches:  # committed already (at the start of this round), perhaps in vain
            if failure is None and batch.done() and not batch.cancelled():
                failure = batch.exception()
        try:
            if pending:
                assert self._append_many is not None
                self._append_many(pending, self.size)
        except SurfaceError:
            pass  # a lost database (StoreUnavailable): the answers, 503s, go out unjournaled
        except Exception:
            # a failed write (disk full, I/O error, a lock held too long): what the requests did is done, so their
            # answers go out, unjournaled and logged; failing them would be a bare 500 for work that happened
            log.exception(
                "mockserver: the request journal could not be written; %d answers go out unjournaled", len(pending)
            )
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is committed.get_loop():
            settle(committed, failure)
        else:  # flushed from another thread (a journal read): settle the future on its own loop
            with contextlib.suppress(RuntimeError):  # that loop is closed: no one is waiting any more
                committed.get_loop().call_soon_threadsafe(settle, committed, failure)

    def clear(self) -> None:
        self.flush()
        self.store.journal_clear()

    def entries(self) -> list[dict[str, Any]]:
        self.flush()
        return self.store.journal_entries(self.size)


def _keep(
    entry: dict[str, Any],
    path: str | None,
    method: str | None,
    tenant: str | None,
    status: int | None,
    surface: str | None,
) -> bool:
    if path is not None and not (entry["path"] == path or fnmatch.fnmatchcase(entry["path"], path)):
        return False
    if method is not None and entry["method"] != method.upper():
        return False
    if tenant is not None and entry["tenant"] != tenant:
        return False
    if status is not None and entry["status"] != status:
        return False
    return surface is None or entry["surface"] == surface
