"""The durable store: one SQLite file (WAL) that survives restarts, kill -9 included, and that several worker
processes share. Same interface as the in-memory store; workers never disagree: a read is answered from this
worker's cache of decoded objects only when `PRAGMA data_version` (a cheap pragma, no table read) shows that
no other connection has committed since the cache was filled, else from the file.

The request journal lives in a second file beside it (`journal.db`), so the row every request writes neither
takes the objects' write lock nor counts as a change that empties every other worker's cache.

Group commit: on an event loop, the writes of one round of ready requests share one SQLite transaction (each
request's own `transaction()` a SAVEPOINT in it, so a refusal rolls back only that request's writes), committed at
the start of the next round. Every answer awaits that commit (`settled()`) before it starts, so an acknowledged
write is in the file, visible to other workers and kept through kill -9, before the client reads a byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sqlite3
import sys
import threading
import weakref
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson

from . import codec
from .store import KEEP_PREFIX, settle

log = logging.getLogger("mockserver")
_running_loop = asyncio._get_running_loop  # None off an event loop (each call is a getpid(): asked once a round)
_thread = threading.get_ident

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, tenant TEXT NOT NULL, data BLOB,
                                    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS objects_by_tenant ON objects (kind, tenant);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counts (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""
# Objects per kind: counting jobs on every generate (the max_jobs check) was a scan of the index, slower with every
# job. The store keeps the `counts` table itself: each put knows whether it added an object (a plain INSERT that
# did not collide) and each delete whether it removed one, and a transaction's changes to the counts are written
# once, just before its commit. (Triggers did this before; they were a fifth of the SQLite work of a generate.)
# A file whose counts were not kept so (`user_version` below COUNTED: from before the counts, or kept by the
# triggers) is counted once when opened.
COUNTED = 1
_COUNT_ALL = ("DELETE FROM counts", "INSERT INTO counts (kind, n) SELECT kind, COUNT(*) FROM objects GROUP BY kind")
_RECOUNT = (
    "DROP TRIGGER IF EXISTS objects_counted_in",
    "DROP TRIGGER IF EXISTS objects_counted_out",
    *_COUNT_ALL,
    f"PRAGMA user_version={COUNTED}",
)
_INSERT = "INSERT INTO objects (kind, key, tenant, data) VALUES (?, ?, ?, ?)"
_REPLACE = "INSERT OR REPLACE INTO objects (kind, key, tenant, data) VALUES (?, ?, ?, ?)"
OLDEST_SCAN = 256
_OLDEST = "SELECT data FROM (SELECT kind, data FROM objects NOT INDEXED ORDER BY rowid LIMIT ?) WHERE kind=? LIMIT ?"
_SET_META = "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value"
_ADD_COUNTS = "INSERT INTO counts (kind, n) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET n = n + excluded.n"


# Copying the WAL back into the database file (a checkpoint) fsyncs both: done inline by the connection whose commit
# passes 1,000 pages (SQLite's default), it stalled that request for milliseconds, up to a second on a busy disk.
# A thread does it instead (sqlite3 releases the GIL), woken every CHECKPOINT_EVERY writes; the inline one stays
# as a backstop at a larger size, should the thread fall behind.
CHECKPOINT_EVERY = 2048
# A checkpoint copies megabytes (milliseconds of CPU): at the lowest priority it runs in the gaps between requests
# rather than beside them (a server pinned to one CPU shared that CPU with it, and answers waited).
NICE = 19
BACKSTOP_PAGES = 16_000
# A commit writes every page it changed, whole, to the WAL (and a checkpoint copies each again): a generate changes
# a random leaf of the key index when it adds its job and another when it evicts one, so half of what it wrote was
# untouched bytes of 4 KiB pages. Pages of 2 KiB (for new files) halve that; 1 KiB gained nothing more (deeper trees).
PAGE_SIZE = 2048
_JOURNAL_SCHEMA = "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL)"
CACHED = 4096  # decoded objects kept per worker between changes (a full cache is emptied, not evicted in order)


# Debian's SQLite is built with secure_delete on: every deleted row's bytes are zeroed, and so every freed page, which
# a commit then writes to the WAL like any other (a quarter of a generate's write calls, with eviction deleting a job
# per generate). Evicted jobs and journal rows hold nothing that needs wiping from a fake's own file: off.
# A request's writes are a savepoint in its round's transaction; SQLite keeps the savepoint's journal (the pages as
# they were before the request changed them) in memory up to 64 KiB, then in a temporary file: a request whose add
# evicts a batch of jobs changed more pages than that, so a file was created, written and deleted every few rounds
# (a tenth of a generate's write calls). With temp_store=MEMORY it stays in memory (at most a few hundred KiB).
def connect(path: str) -> sqlite3.Connection:
    """A connection to one of a state folder's two files, as every worker opens it (autocommit: the store begins
    and commits itself; the bench's floor app opens its files so too)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's only: an existing one keeps its own
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    db.execute("PRAGMA secure_delete=OFF")
    db.execute("PRAGMA temp_store=MEMORY")  # savepoint journals in memory (above)
    return db


def _encode(kind: str, obj: Any) -> bytes:
    """orjson writes a dataclass as `dataclasses.asdict` would, without asdict's deep copy."""
    if kind == "blob":
        return obj
    return orjson.dumps(obj if dataclasses.is_dataclass(obj) else codec.encode(kind, obj))


def _decode(kind: str, data: bytes) -> Any:
    return data if kind == "blob" else codec.decode(kind, orjson.loads(data))


class SqliteStore:
    """Autocommit by default (each put is durable when it returns); `transaction()` groups a read-modify-write
    under an immediate write lock so concurrent workers cannot interleave inside it.

    `get` (and `count` of a kind) answers from a cache of decoded objects (shared, as the in-memory store's are)
    that is emptied when this worker writes or rolls back and when `data_version`, checked on every such read,
    shows another connection's commit."""

    shared = True

    def __init__(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.path = str(Path(folder) / "mockserver.db")
        self.db = connect(self.path)
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self._lock = threading.RLock()
        self._writes = 0  # this connection's changes: `PRAGMA data_version` only counts other connections'
        self._cache: dict[tuple[str, str], Any] = {}
        self._version = -1  # the data_version the cache was last checked against
        self._unchecked = 0  # rows written since the checkpoint thread was last woken
        # The open group transaction: resolved when it is committed; the loop whose round it belongs to.
        self._batch: asyncio.Future[None] | None = None
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._batch_thread = 0  # the thread that runs that loop
        # The thread whose loop's current round has checked data_version already (reset at the next round)
        self._fresh_thread = 0
        # Counters drawn inside the open group transaction (it holds the write lock, so no other worker can draw):
        # counted here, written once before its commit (or before anything reads or rewrites meta).
        self._counters: dict[str, int] = {}
        # Objects added (or removed) per kind inside the open transaction, not yet in `counts`: written with it.
        self._counted: dict[str, int] = {}
        self._transaction = _Transaction(self)
        # The outermost open transaction: a savepoint in the group (else its own), and what its rollback restores
        self._grouped = False
        self._saved: tuple[dict[str, int] | None, dict[str, int] | None] = (None, None)
        self.journal_db = connect(str(Path(folder) / "journal.db"))
        self.journal_db.execute(_JOURNAL_SCHEMA)
        self._journal_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self, [self.path, str(Path(folder) / "journal.db")])
        self.db.execute("BEGIN IMMEDIATE")  # its own transaction, never a group: opening a store commits at once
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            triggers = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='trigger'").fetchone()
            if version < COUNTED or triggers:  # the triggers: an older version opened it since
                for statement in _RECOUNT:
                    self.db.execute(statement)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            if not self._depth:  # inside a write transaction no other connection can commit
                self.data_version()  # another connection's commit empties the cache
            cache = self._cache
            found = cache.get((kind, key), cache)
            if found is not cache:
                return found
            row = self.db.execute("SELECT data FROM objects WHERE kind=? AND key=?", (kind, key)).fetchone()
            obj = _decode(kind, row[0]) if row else None
            if kind != "blob":  # uploaded bytes can be large: the image cache and the uploads keep their own
                if len(cache) >= CACHED:
                    cache.clear()
                cache[(kind, key)] = obj
            return obj

    def _join(self) -> bool:
        """Before writing outside a transaction (lock held): on an event loop, join (or open) this round's group
        transaction; True when inside it. Off the loop, a pending group is committed first, so a thread's write
        is durable when it returns, as in autocommit."""
        if self._batch is not None:
            if _thread() == self._batch_thread and self._batch_loop is not None and self._batch_loop.is_running():
                return True
            self.commit_batch()  # another thread's (or a stopped loop's) group: committed before going on
        loop = _running_loop()
        if loop is None or self._depth:
            return False
        self.db.execute("BEGIN IMMEDIATE")
        self._check_version()  # the write lock is held from here: the last check until the commit
        self._batch, self._batch_loop, self._batch_thread = loop.create_future(), loop, _thread()
        loop.call_soon(self.commit_batch)
        return True

    def commit_batch(self) -> BaseException | None:
        """Commit the open group transaction (at the start of the round after it opened, before a thread's own
        transaction, at close) and release the answers waiting for it. Returns the error when the commit failed
        (the answers waiting for it fail with it)."""
        with self._lock:
            batch, loop = self._batch, self._batch_loop
            if batch is None or loop is None:
                return None
            on_loop = _thread() == self._batch_thread
            if self._depth and on_loop:  # cannot happen (no await inside a transaction): later
                loop.call_soon(self.commit_batch)
                return None
            self._batch = self._batch_loop = None
            self._batch_thread = self._fresh_thread = 0
            failure: BaseException | None = None
            try:
                self._write_counters()
                self._write_counts()
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # disk full, I/O error: the round's writes are lost, so are its answers
                log.exception("mockserver: a group commit of the store failed; its requests fail")
                failure = exc
                self._counters.clear()
                self._counted.clear()
                self._changed()
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
        with suppress(RuntimeError):  # that loop is closed: no one is waiting any more
            if on_loop:
                settle(batch, failure)
            else:
                loop.call_soon_threadsafe(settle, batch, failure)
        return failure

    def settled(self) -> asyncio.Future[None] | None:
        """What an answer must await before it starts: the open group transaction's commit (None: nothing open)."""
        return self._batch

    def _changed(self) -> None:
        """This worker wrote (or rolled back): what the cache holds may be out of date."""
        self._writes += 1
        self._cache.clear()

    def _wrote(self, rows: int = 1) -> None:
        """Count rows written; every CHECKPOINT_EVERY, wake the checkpoint thread."""
        self._unchecked += rows
        if self._unchecked >= CHECKPOINT_EVERY:
            self._unchecked = 0
            self._checkpointer.wake()

    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None:
        """INSERT OR REPLACE (a replaced object moves to the end of the insertion order), as a plain INSERT first
        unless the cache holds the object (then it is there: the write lock is held, so the cache is exact): an
        INSERT that does not collide added an object, which the kind's count must know."""
        with self._lock:
            if not self._depth and not self._join():
                with self.transaction():  # off the loop: its own transaction, its count change included
                    self.put(kind, key, obj, tenant)
                return
            self._writes += 1
            self._wrote()
            row = (kind, key, tenant, _encode(kind, obj))
            if self._cache.pop((kind, key), None) is not None:
                self.db.execute(_REPLACE, row)
                return
            try:
                self.db.execute(_INSERT, row)
            except sqlite3.IntegrityError:  # there already (not cached): replaced, the count stays
                self.db.execute(_REPLACE, row)
                return
            self._count(kind, 1)

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            if not self._depth and not self._join():
                with self.transaction():
                    self.delete(kind, key)
                return
            self._writes += 1
            self._cache.pop((kind, key), None)
            self._wrote()
            if self.db.execute("DELETE FROM objects WHERE kind=? AND key=?", (kind, key)).rowcount:
                self._count(kind, -1)

    # Eviction's deletes: a rollback of the transaction around them undoes them with the rest (the memory store
    # leaves them done)
    discard = delete

    def _count(self, kind: str, change: int) -> None:
        """An object added to (or removed from) a kind inside the open transaction (lock held): kept here until
        its commit, and in the cached count, which stays exact."""
        counted = self._counted
        counted[kind] = counted.get(kind, 0) + change
        cache = self._cache
        found = cache.get(("#count", kind))
        if found is not None:
            cache[("#count", kind)] = found + change

    def _write_counts(self) -> None:
        """The open transaction's changes to the counts, written just before its commit."""
        if self._counted:
            counted, self._counted = self._counted, {}
            self.db.executemany(_ADD_COUNTS, [item for item in counted.items() if item[1]])

    def items(self, kind: str, tenant: str | None = None) -> list[Any]:
        with self._lock:
            if tenant is None:
                rows = self.db.execute("SELECT data FROM objects WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
            else:
                rows = self.db.execute(
                    "SELECT data FROM objects WHERE kind=? AND tenant=? ORDER BY rowid", (kind, tenant)
                ).fetchall()
        return [_decode(kind, r[0]) for r in rows]

    def oldest(self, kind: str, n: int) -> list[Any]:
        """The kind's first `n` objects by rowid (insertion order) among the file's OLDEST_SCAN oldest objects:
        eviction's candidates (fewer, or none, when other kinds fill the head of the table: eviction then sweeps
        the whole kind). A bounded scan in rowid order: the indexes would find every object of the kind and sort
        them all."""
        with self._lock:
            rows = self.db.execute(_OLDEST, (OLDEST_SCAN, kind, n)).fetchall()
        return [_decode(kind, r[0]) for r in rows]

    def count(self, kind: str, tenant: str | None = None) -> int:
        with self._lock:
            if tenant is not None:
                query = "SELECT COUNT(*) FROM objects WHERE kind=? AND tenant=?"
                return self.db.execute(query, (kind, tenant)).fetchone()[0]
            if not self._depth:
                self.data_version()
            cache = self._cache
            found = cache.get(("#count", kind))
            if found is not None:
                return found
            row = self.db.execute("SELECT n FROM counts WHERE kind=?", (kind,)).fetchone()
            cache[("#count", kind)] = n = (row[0] if row else 0) + self._counted.get(kind, 0)
            return n

    def clear(self, tenant: str | None = None) -> None:
        with self.transaction():
            if self._counters:
                self._write_counters()
            self._changed()
            self._counted = {}  # counted afresh below: what this transaction added is in the recount
            if tenant is None:
                self.db.execute("DELETE FROM objects")
                self.db.execute("DELETE FROM counts")
                self.db.execute("DELETE FROM meta WHERE substr(name, 1, ?) != ?", (len(KEEP_PREFIX), KEEP_PREFIX))
            else:
                self.db.execute("DELETE FROM objects WHERE tenant=?", (tenant,))
                for statement in _COUNT_ALL:
                    self.db.execute(statement)

    def dump(self) -> list[tuple[str, str, str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT kind, key, tenant, data FROM objects ORDER BY rowid").fetchall()
        return [(kind, key, tenant, _decode(kind, data)) for kind, key, tenant, data in rows]

    def transaction(self) -> _Transaction:
        """A read-modify-write under the write lock: on the event loop a savepoint in this round's group
        transaction (a refusal rolls back only its own writes), off it a transaction of its own."""
        return self._transaction

    # --- small shared values: clock, profile, counters ------------------------------------------------------

    def meta_get(self, name: str) -> Any | None:
        with self._lock:
            if self._counters:
                self._write_counters()
            row = self.db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def meta_put(self, name: str, value: Any) -> None:
        with self._lock:
            if self._counters:
                self._write_counters()
            if not self._depth:
                self._join()
            self._writes += 1
            self._wrote()
            self.db.execute(_SET_META, (name, orjson.dumps(value).decode()))

    def meta_delete(self, name: str) -> None:
        with self._lock:
            if self._counters:
                self._write_counters()
            if not self._depth:
                self._join()
            self._writes += 1
            self.db.execute("DELETE FROM meta WHERE name=?", (name,))

    def meta_init(self, name: str, value: Any) -> Any:
        """Store `value` under `name` unless another worker did first; return what is stored (atomic)."""
        with self.transaction():
            self._writes += 1
            self.db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, orjson.dumps(value).decode())
            )
            return self.meta_get(name)

    def next_counter(self, name: str) -> int:
        """Atomic in or out of a transaction: read, add one, write. Inside this round's group transaction the
        write lock is held, so the count is kept here and written once before the commit; otherwise one
        statement."""
        with self._lock:
            grouped = self._join() if not self._depth else self._batch is not None
            self._writes += 1
            if grouped:
                value = self._counters.get(name)
                if value is None:
                    row = self.db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
                    value = int(row[0]) if row else 0
                self._counters[name] = value = value + 1
                return value
            self._wrote()
            row = self.db.execute(
                "INSERT INTO meta (name, value) VALUES (?, '1') ON CONFLICT (name) DO UPDATE"
                " SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value",
                (name,),
            ).fetchone()
        return int(row[0])

    def _write_counters(self) -> None:
        counters, self._counters = self._counters, {}
        for name, value in counters.items():
            self._wrote()
            # an upsert changes the row where it is; INSERT OR REPLACE deleted it and added it again, rewriting the
            # name's index page in every commit too
            self.db.execute(_SET_META, (name, str(value)))

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap way to notice other workers' writes (and the
        moment the cache of decoded objects is checked against them). On an event loop, checked once per round:
        a round's requests all arrived before it began, so a check made during the round is as fresh as any
        of them needs."""
        thread = _thread()
        if thread == self._fresh_thread:
            return self._version
        with self._lock:
            version = self._check_version()
        loop = _running_loop()
        if loop is not None:
            self._fresh_thread = thread
            loop.call_soon(self._stale)
        return version

    def _stale(self) -> None:
        self._fresh_thread = 0

    def _check_version(self) -> int:
        version: int = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._version = version
            self._cache.clear()
        return version

    def revision(self) -> tuple[int, int]:
        """Changes with every write, this worker's or another's: what a cache of derived answers checks."""
        return (self.data_version(), self._writes)

    # --- the request journal, shared by workers ------------------------------------------------------------

    def journal_append(self, entry: dict[str, Any], keep: int) -> int:
        return self.journal_append_many([entry], keep)

    def journal_append_many(self, entries: list[dict[str, Any]], keep: int) -> int:
        """Several requests' rows in one commit (the journal's group commit); returns the last seq. The rows take
        consecutive seqs (the write lock is held), so trimming needs no seq per row."""
        with self._journal_lock:
            db = self.journal_db
            many = len(entries) > 1
            if many:
                db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO journal (entry) VALUES (?)", [(orjson.dumps(e),) for e in entries])
                seq: int = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                if seq // 64 != (seq - len(entries)) // 64:  # trim now and then, not on every request
                    db.execute("DELETE FROM journal WHERE seq <= ?", (seq - keep,))
            except BaseException:
                if many:
                    db.execute("ROLLBACK")
                raise
            if many:
                db.execute("COMMIT")
        with self._lock:
            self._wrote(len(entries))
        return seq

    def journal_entries(self, keep: int) -> list[dict[str, Any]]:
        with self._journal_lock:
            query = "SELECT seq, entry FROM journal ORDER BY seq DESC LIMIT ?"
            rows = self.journal_db.execute(query, (keep,)).fetchall()
        return [{**orjson.loads(entry), "seq": seq} for seq, entry in reversed(rows)]

    def journal_clear(self) -> None:
        with self._journal_lock:
            self.journal_db.execute("DELETE FROM journal")

    def close(self) -> None:
        self.commit_batch()
        self._checkpointer.stop()
        with self._lock, self._journal_lock:
            self.db.close()
            self.journal_db.close()


class _Transaction:
    """`SqliteStore.transaction()`: one reusable context manager per store (the outermost transaction's state is
    the store's: the lock is held from its start to its end), cheaper than a generator-based one on every request."""

    __slots__ = ("store",)

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        try:
            if store._depth:
                store._depth += 1
                return
            grouped = store._grouped = store._join()
            if grouped:
                store._saved = (
                    dict(store._counters) if store._counters else None,
                    dict(store._counted) if store._counted else None,
                )
                store.db.execute("SAVEPOINT request")
            else:
                store.db.execute("BEGIN IMMEDIATE")
                store._check_version()  # the write lock is held from here: the last check until the commit
            store._depth = 1
        except BaseException:
            store._lock.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        store = self.store
        try:
            store._depth -= 1
            if store._depth:
                return
            db, saved, store._saved = store.db, store._saved, (None, None)
            if kind is None:
                if store._grouped:
                    db.execute("RELEASE request")
                else:
                    store._write_counts()
                    db.execute("COMMIT")
                return
            store._changed()  # objects changed in place before the failure are read afresh
            if store._grouped:  # only this request's writes: the rest of the round's group stands
                counters, counted = saved
                store._counters, store._counted = counters or {}, counted or {}
                db.execute("ROLLBACK TO request")
                db.execute("RELEASE request")
            else:
                store._counted = {}
                db.execute("ROLLBACK")
        finally:
            store._lock.release()


class _Checkpointer:
    """PASSIVE checkpoints of the store's files on a thread of their own, started on first need. It keeps only a
    weak reference to the store and ends when the store is closed or gone. With several workers each has one;
    SQLite lets one checkpoint run at a time and the others return at once."""

    def __init__(self, store: SqliteStore, paths: list[str]) -> None:
        self._store = weakref.ref(store)
        self._paths = paths
        self._event = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mockserver-checkpoint", daemon=True)
            self._thread.start()
        self._event.set()

    def stop(self) -> None:
        self._stopped = True
        self._event.set()

    def _run(self) -> None:
        connections: list[sqlite3.Connection] = []
        if sys.platform == "linux":  # a thread's own nice value (Linux only): the copying yields to the requests
            with suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        try:
            connections = [sqlite3.connect(p, isolation_level=None, check_same_thread=False) for p in self._paths]
            while True:
                self._event.wait(10.0)
                self._event.clear()
                if self._stopped or self._store() is None:
                    return
                for db in connections:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            return  # the files went away (a test's temporary folder): the inline backstop remains
        finally:
            for db in connections:
                db.close()
