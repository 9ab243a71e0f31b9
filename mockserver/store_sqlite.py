"""The durable store: one SQLite file (WAL) that survives restarts, kill -9 included, and that several worker
processes share. Same interface as the in-memory store; every read goes to the file, so workers never disagree.
"""

from __future__ import annotations

import sqlite3
import threading
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
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL);
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


def _encode(kind: str, obj: Any) -> bytes:
    return obj if kind == "blob" else orjson.dumps(codec.encode(kind, obj))


def _decode(kind: str, data: bytes) -> Any:
    return data if kind == "blob" else codec.decode(kind, orjson.loads(data))


class SqliteStore:
    """Autocommit by default (each put is durable when it returns); `transaction()` groups a read-modify-write
    under an immediate write lock so concurrent workers cannot interleave inside it."""

    shared = True

    def __init__(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.path = str(Path(folder) / "mockserver.db")
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA recursive_triggers=ON")
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self._lock = threading.RLock()
        self._writes = 0  # this connection's changes: `PRAGMA data_version` only counts other connections'
        with self.transaction():
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name='objects_counted_in'").fetchone():
                for statement in _COUNTED:
                    self.db.execute(statement)

    def get(self, kind: str, key: str) -> Any | None:
        with self._lock:
            row = self.db.execute("SELECT data FROM objects WHERE kind=? AND key=?", (kind, key)).fetchone()
        return _decode(kind, row[0]) if row else None

    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None:
        with self._lock:
            self._writes += 1
            self.db.execute(
                "INSERT OR REPLACE INTO objects (kind, key, tenant, data) VALUES (?, ?, ?, ?)",
                (kind, key, tenant, _encode(kind, obj)),
            )

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._writes += 1
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
            row = self.db.execute("SELECT n FROM counts WHERE kind=?", (kind,)).fetchone()
            return row[0] if row else 0

    def clear(self, tenant: str | None = None) -> None:
        with self.transaction():
            self._writes += 1
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
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._writes += 1
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
        with self.transaction():
            value = (self.meta_get(name) or 0) + 1
            self.meta_put(name, value)
        return value

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap way to notice other workers' writes."""
        with self._lock:
            return self.db.execute("PRAGMA data_version").fetchone()[0]

    def revision(self) -> tuple[int, int]:
        """Changes with every write, this worker's or another's: what a cache of derived answers checks."""
        return (self.data_version(), self._writes)

    # --- the request journal, shared by workers ------------------------------------------------------------

    def journal_append(self, entry: dict[str, Any], keep: int) -> int:
        with self._lock:
            seq = self.db.execute("INSERT INTO journal (entry) VALUES (?)", (orjson.dumps(entry),)).lastrowid or 0
            if seq % 64 == 0:  # trim now and then, not on every request
                self.db.execute("DELETE FROM journal WHERE seq <= ?", (seq - keep,))
        return seq

    def journal_entries(self, keep: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT seq, entry FROM journal ORDER BY seq DESC LIMIT ?", (keep,)).fetchall()
        return [{**orjson.loads(entry), "seq": seq} for seq, entry in reversed(rows)]

    def journal_clear(self) -> None:
        with self._lock:
            self.db.execute("DELETE FROM journal")

    def close(self) -> None:
        with self._lock:
            self.db.close()
