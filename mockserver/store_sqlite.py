"""The durable store: one SQLite file (WAL) that survives restarts, kill -9 included, and that several worker
processes share. Same interface as the in-memory store; workers never disagree: a read is answered from this
worker's cache of decoded objects only when `PRAGMA data_version` (a cheap pragma, no table read) shows that
no other connection has committed since the cache was filled, else from the file.

The request journal lives in a second file beside it (`journal.db`), so the row every request writes neither
takes the objects' write lock nor counts as a change that empties every other worker's cache.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from . import codec
from .store import KEEP_PREFIX

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, tenant TEXT NOT NULL, data BLOB,
                                    PRIMARY KEY (kind, key));
CREATE INDEX IF NOT EXISTS objects_by_tenant ON objects (kind, tenant);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS counts (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""
# Objects per kind, kept by triggers: counting jobs on every generate (the max_jobs check) was a scan of the
# index, slower with every job. REPLACE fires the delete trigger only with recursive_triggers on (every
# connection sets it); a file from before the triggers is counted once when they are made.
_COUNTED = (
    """CREATE TRIGGER objects_counted_in AFTER INSERT ON objects BEGIN
         INSERT INTO counts (kind, n) VALUES (new.kind, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1; END""",
    """CREATE TRIGGER objects_counted_out AFTER DELETE ON objects BEGIN
         UPDATE counts SET n = n - 1 WHERE kind = old.kind; END""",
    "DELETE FROM counts",
    "INSERT INTO counts (kind, n) SELECT kind, COUNT(*) FROM objects GROUP BY kind",
)


# Copying the WAL back into the database file (a checkpoint) fsyncs both: done inline by the connection whose commit
# passes 1,000 pages (SQLite's default), it stalled that request for milliseconds, up to a second on a busy disk.
# A thread does it instead (sqlite3 releases the GIL), woken every CHECKPOINT_EVERY writes; the inline one stays
# as a backstop at a larger size, should the thread fall behind.
CHECKPOINT_EVERY = 256
BACKSTOP_PAGES = 16_000
_JOURNAL_SCHEMA = "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL)"
CACHED = 4096  # decoded objects kept per worker between changes (a full cache is emptied, not evicted in order)


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
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA recursive_triggers=ON")
        self.db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self._lock = threading.RLock()
        self._writes = 0  # this connection's changes: `PRAGMA data_version` only counts other connections'
        self._cache: dict[tuple[str, str], Any] = {}
        self._version = -1  # the data_version the cache was last checked against
        self._unchecked = 0  # rows written since the checkpoint thread was last woken
        self.journal_db = sqlite3.connect(
            str(Path(folder) / "journal.db"), isolation_level=None, check_same_thread=False, timeout=30
        )
        self.journal_db.execute("PRAGMA journal_mode=WAL")
        self.journal_db.execute("PRAGMA synchronous=NORMAL")
        self.journal_db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        self.journal_db.execute(_JOURNAL_SCHEMA)
        self._journal_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self, [self.path, str(Path(folder) / "journal.db")])
        with self.transaction():
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='objects_counted_in'").fetchone():
                for statement in _COUNTED:
                    self.db.execute(statement)

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
        with self._lock:
            self._writes += 1
            self._cache.pop((kind, key), None)
            self._cache.pop(("#count", kind), None)
            self._wrote()
            self.db.execute(
                "INSERT OR REPLACE INTO objects (kind, key, tenant, data) VALUES (?, ?, ?, ?)",
                (kind, key, tenant, _encode(kind, obj)),
            )

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._writes += 1
            self._cache.pop((kind, key), None)
            self._cache.pop(("#count", kind), None)
            self._wrote()
            self.db.execute("DELETE FROM objects WHERE kind=? AND key=?", (kind, key))

    def items(self, kind: str, tenant: str | None = None) -> list[Any]:
        with self._lock:
            if tenant is None:
                rows = self.db.execute("SELECT data FROM objects WHERE kind=? ORDER BY rowid", (kind,)).fetchall()
            else:
                rows = self.db.execute(
                    "SELECT data FROM objects WHERE kind=? AND tenant=? ORDER BY rowid", (kind, tenant)
                ).fetchall()
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
            cache[("#count", kind)] = n = row[0] if row else 0
            return n

    def clear(self, tenant: str | None = None) -> None:
        with self.transaction():
            self._changed()
            if tenant is None:
                self.db.execute("DELETE FROM objects")
                self.db.execute("DELETE FROM meta WHERE substr(name, 1, ?) != ?", (len(KEEP_PREFIX), KEEP_PREFIX))
            else:
                self.db.execute("DELETE FROM objects WHERE tenant=?", (tenant,))

    def dump(self) -> list[tuple[str, str, str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT kind, key, tenant, data FROM objects ORDER BY rowid").fetchall()
        return [(kind, key, tenant, _decode(kind, data)) for kind, key, tenant, data in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.db.execute("BEGIN IMMEDIATE")
                self.data_version()  # the write lock is held from here: the last check until the commit
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._changed()  # objects changed in place before the failure are read afresh
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.db.execute("COMMIT")

    # --- small shared values: clock, profile, counters ------------------------------------------------------

    def meta_get(self, name: str) -> Any | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def meta_put(self, name: str, value: Any) -> None:
        with self._lock:
            self._writes += 1
            self._wrote()
            self.db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, orjson.dumps(value).decode())
            )

    def meta_delete(self, name: str) -> None:
        with self._lock:
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
        """One statement, atomic on its own (in or out of a transaction): read, add one, write."""
        with self._lock:
            self._writes += 1
            self._wrote()
            row = self.db.execute(
                "INSERT INTO meta (name, value) VALUES (?, '1') ON CONFLICT (name) DO UPDATE"
                " SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value",
                (name,),
            ).fetchone()
        return int(row[0])

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap way to notice other workers' writes (and the
        moment the cache of decoded objects is checked against them)."""
        with self._lock:
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
        """Several requests' rows in one commit (the journal's group commit); returns the last seq."""
        with self._journal_lock:
            db = self.journal_db
            many = len(entries) > 1
            if many:
                db.execute("BEGIN IMMEDIATE")
            try:
                seq = 0
                for entry in entries:
                    seq = db.execute("INSERT INTO journal (entry) VALUES (?)", (orjson.dumps(entry),)).lastrowid or 0
                    if seq % 64 == 0:  # trim now and then, not on every request
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
        self._checkpointer.stop()
        with self._lock, self._journal_lock:
            self.db.close()
            self.journal_db.close()


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
