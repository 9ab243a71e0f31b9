"""The store on PostgreSQL: one world shared by several replicas on several machines (`--database-url`).

Same interface and contract as the in-memory and SQLite stores. The world's rules map onto PostgreSQL this way:

- A `transaction()` is `BEGIN` plus a row lock on the one revision row, so read-check-writes of every replica
  (a fault's `times`, the one training per model, rate-limit windows) run one at a time, as `BEGIN IMMEDIATE` does
  on SQLite. It binds one pooled connection to the calling thread until it ends; nested calls join it.
- Every write outside a transaction is one statement that bumps the same revision row first (so locks are always
  taken in one order: no deadlocks). The revision is what `revision()` reports to caches of derived answers; a
  second counter, bumped by meta writes only (clock, profile, seed), is `data_version()`, read once per request.
- Counts per kind are kept by a trigger (the `max_jobs` check runs on every job), the journal is its own table.
- A lost database raises `StoreUnavailable` (a 503 in the surface's format) at once, without waiting on the
  pool; a background probe notices when it is back and the store carries on.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from . import codec
from .store import KEEP_PREFIX, StoreUnavailable
from .surface import SurfaceError

T = TypeVar("T")
SCHEMA_VERSION = 1
_SCHEMA_LOCK = 0x6D6F636B  # pg_advisory_xact_lock key held while the schema is created or migrated ("mock")
_MIGRATIONS = {
    1: """
CREATE TABLE mockserver_objects (kind text NOT NULL, key text NOT NULL, tenant text NOT NULL,
                                 seq bigserial NOT NULL, data bytea NOT NULL, PRIMARY KEY (kind, key));
CREATE INDEX mockserver_objects_order ON mockserver_objects (kind, seq);
CREATE INDEX mockserver_objects_by_tenant ON mockserver_objects (kind, tenant, seq);
CREATE TABLE mockserver_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE mockserver_journal (seq bigserial PRIMARY KEY, entry bytea NOT NULL);
CREATE TABLE mockserver_counts (kind text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE mockserver_revision (id integer PRIMARY KEY, n bigint NOT NULL, meta bigint NOT NULL);
INSERT INTO mockserver_revision VALUES (1, 0, 0);
CREATE FUNCTION mockserver_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO mockserver_counts VALUES (NEW.kind, 1) ON CONFLICT (kind) DO UPDATE SET n = mockserver_counts.n + 1;
    ELSE
        UPDATE mockserver_counts SET n = n - 1 WHERE kind = OLD.kind;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER mockserver_counted AFTER INSERT OR DELETE ON mockserver_objects
    FOR EACH ROW EXECUTE FUNCTION mockserver_count();
""",
}
# Each standalone write bumps the revision row first (its statement reads from the bump), so the row lock on the
# revision is always the first lock a writer takes. `meta` also moves for meta writes: replicas re-read clock,
# profile and seed only when it did.
_BUMP = "WITH bump AS (UPDATE mockserver_revision SET n = n + 1 WHERE id = 1 RETURNING n) "
_BUMP_META = "WITH bump AS (UPDATE mockserver_revision SET n = n + 1, meta = meta + 1 WHERE id = 1 RETURNING n) "
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)  # the database or the connection went away
# ...unless the server answered with an error of the statement itself (class 54, "program limit exceeded", or
# 55, "object not in prerequisite state"): the database is there, and this request alone fails.
_STATEMENT_CLASSES = ("54", "55")
# Keys and tenants are indexed, and a btree entry holds at most ~2.7 kB: longer ones (a client's 8 kB API key is
# a tenant) are refused before PostgreSQL fails the insert.
MAX_INDEXED_BYTES = 2000
POOL_TIMEOUT = 5.0  # waiting for a pooled connection while the database is reachable
CONNECT_TIMEOUT = 5  # seconds, per connection attempt
PROBE_INTERVAL = 0.25  # while the database is lost, how often it is tried again
RETRY_WAIT = 1.0  # after a dropped connection, how long one request may wait for a fresh one
# A database behind a dead network path (no reset, just silence) must not hold a request for minutes: sent data
# unacknowledged for 5 s, or an idle connection whose keepalives go unanswered, fails the connection.
_CONNECTION: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 5000,
}
log = logging.getLogger("mockserver")


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Transactions here never wait on a client (no await inside one): a replica killed or cut off in the middle of
    one must not hold the world's write lock for longer than this."""
    conn.execute("SET idle_in_transaction_session_timeout = '30s'")


def redact(url: str) -> str:
    """The URL with its password (in the user part or a `password=` parameter) replaced, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            user, host = parts.netloc.rsplit("@", 1)
            parts = parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}")
        if parts.query:
            query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
            parts = parts._replace(query=urlencode(query, safe="*/"))
        return urlunsplit(parts)
    except ValueError:
        return "the database URL"


def _passwords(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    return [*found, *([parts.password] if parts.password else [])]


def _text(value: str) -> str:
    """A key or tenant as stored: PostgreSQL text cannot hold NUL, which a client can send (a path's `%00`, Basic
    credentials), so NUL becomes U+FFFF "0" and U+FFFF doubles. Reversible, and the identity on every other
    string, so any string works as a key as it does in the other stores."""
    if "\x00" not in value and "\uffff" not in value:
        return value
    return value.replace("\uffff", "\uffff\uffff").replace("\x00", "\uffff0")


def _untext(value: str) -> str:
    if "\uffff" not in value:
        return value
    return re.sub("\uffff([\uffff0])", lambda m: "\x00" if m.group(1) == "0" else "\uffff", value)


def _indexable(value: str) -> str:
    if len(value) * 4 > MAX_INDEXED_BYTES and len(value.encode()) > MAX_INDEXED_BYTES:
        raise SurfaceError(400, "bad_request", f"An id or API key over {MAX_INDEXED_BYTES} bytes cannot be stored.")
    return value


def _gone(exc: BaseException) -> bool:
    """Whether an error means the database or the connection is lost (not a statement the server refused)."""
    state = getattr(exc, "sqlstate", None)
    return not (isinstance(exc, psycopg.OperationalError) and state is not None and state[:2] in _STATEMENT_CLASSES)


def _encode(kind: str, obj: Any) -> bytes:
    return bytes(obj) if kind == "blob" else orjson.dumps(codec.encode(kind, obj))


def _decode(kind: str, data: bytes) -> Any:
    return bytes(data) if kind == "blob" else codec.decode(kind, orjson.loads(data))


class PostgresStore:
    shared = True

    def __init__(self, url: str, max_connections: int = 8) -> None:
        self.url = url
        self._local = threading.local()  # the thread's transaction: its connection and depth
        self._rollbacks = 0  # local: a rolled-back transaction changes `revision()` too (caches may hold its reads)
        self._lost = threading.Event()
        self._probe_lock = threading.Lock()
        self._closed = False
        self._migrate()
        self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "application_name": "mockserver", **_CONNECTION},
            timeout=POOL_TIMEOUT,
            reconnect_timeout=30,
            configure=_configure,
            open=False,
            name="mockserver",
        )
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # a lost database is reported once, below
        self.pool.open()

    def _migrate(self) -> None:
        """Create or migrate the schema. Replicas starting together take turns on an advisory lock; the schema
        version row says what is there. A database that cannot be used is an OSError naming it (password out)."""
        try:
            with (
                psycopg.connect(self.url, autocommit=True, **_CONNECTION) as conn,
                conn.transaction(),
            ):
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS mockserver_schema (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM mockserver_schema").fetchone()
                found = (row[0] if row else None) or 0
                if found > SCHEMA_VERSION:
                    raise OSError(
                        f"the database {redact(self.url)} holds schema version {found}, newer than this "
                        f"mockserver's {SCHEMA_VERSION}"
                    )
                for version in range(found + 1, SCHEMA_VERSION + 1):
                    conn.execute(_MIGRATIONS[version])
                    conn.execute("DELETE FROM mockserver_schema")
                    conn.execute("INSERT INTO mockserver_schema VALUES (%s)", (version,))
        except psycopg.Error as exc:
            reason = str(exc).strip()
            for secret in _passwords(self.url):
                reason = reason.replace(secret, "***")
            raise OSError(f"cannot use the database {redact(self.url)}: {reason}") from None

    # --- connections: the thread's transaction, else one from the pool; a lost database fails fast ----------

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return work(conn)
            except _LOST as exc:
                if not _gone(exc):
                    raise
                self._lose(exc)
                raise StoreUnavailable() from exc
        for attempt in (1, 2):
            conn = self._connection(None if attempt == 1 else RETRY_WAIT)
            try:
                return work(conn)
            except _LOST as exc:
                if not _gone(exc):
                    raise
                failed, dropped = exc, conn.closed
            finally:
                self.pool.putconn(conn)
            if attempt == 1 and dropped and self._refreshed():
                continue
            self._lose(failed)
            raise StoreUnavailable() from failed
        raise AssertionError("unreachable")

    def _connection(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        if self._lost.is_set():
            raise StoreUnavailable()
        try:
            return self.pool.getconn(timeout)
        except _LOST as exc:
            self._lose(exc)
            raise StoreUnavailable() from exc

    def _refreshed(self) -> bool:
        """After a connection the server dropped (a database restart): drop the pool's dead ones too, and try once
        more on a fresh one, waiting RETRY_WAIT at most (a database that is down fails the retry)."""
        self.pool.check()
        return True

    def _lose(self, exc: BaseException) -> None:
        """The database is gone: answer 503 at once from now on, and probe in the background until it is back."""
        with self._probe_lock:
            if self._lost.is_set() or self._closed:
                return
            self._lost.set()
        log.error("mockserver: lost the database %s (%s); answering 503 until it is back", redact(self.url), exc)
        threading.Thread(target=self._probe, daemon=True, name="mockserver-db-probe").start()

    def _probe(self) -> None:
        while not self._closed:
            time.sleep(PROBE_INTERVAL)
            try:
                with psycopg.connect(self.url, autocommit=True, **_CONNECTION) as conn:
                    conn.execute("SELECT 1")
                self.pool.check()  # drop the connections that died with the old server, open new ones
                with self.pool.connection() as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error:
                continue
            self._lost.clear()
            log.error("mockserver: the database %s is back", redact(self.url))
            return

    def available(self) -> bool:
        """Whether the database answers now (`/ready`)."""
        try:
            self._run(lambda conn: conn.execute("SELECT 1"))
        except StoreUnavailable:
            return False
        return True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        local = self._local
        if getattr(local, "conn", None) is not None:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        for attempt in (1, 2):
            conn = self._connection(None if attempt == 1 else RETRY_WAIT)
            try:
                conn.execute("BEGIN; SELECT n FROM mockserver_revision WHERE id = 1 FOR UPDATE")
                break
            except _LOST as exc:
                self.pool.putconn(conn)
                if attempt == 1 and conn.closed and self._refreshed():
                    continue
                self._lose(exc)
                raise StoreUnavailable() from exc
        try:
            local.conn, local.depth = conn, 1
            try:
                yield
            except BaseException:
                self._rollbacks += 1
                if not conn.closed:
                    with suppress(*_LOST):
                        conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except _LOST as exc:
                self._lose(exc)
                raise StoreUnavailable() from exc
        finally:
            local.conn = None
            self.pool.putconn(conn)

    # --- objects ---------------------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> Any | None:
        query = "SELECT data FROM mockserver_objects WHERE kind = %s AND key = %s"
        row = self._run(lambda c: c.execute(query, (kind, _text(key))).fetchone())
        return _decode(kind, row[0]) if row else None

    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None:
        data = _encode(kind, obj)
        query = (
            _BUMP + "INSERT INTO mockserver_objects (kind, key, tenant, data) SELECT %s, %s, %s, %s FROM bump "
            "ON CONFLICT (kind, key) DO UPDATE SET tenant = excluded.tenant, data = excluded.data"
        )
        args = (kind, _indexable(_text(key)), _indexable(_text(tenant)), data)
        self._run(lambda c: c.execute(query, args))

    def delete(self, kind: str, key: str) -> None:
        query = _BUMP + "DELETE FROM mockserver_objects WHERE kind = %s AND key = %s AND EXISTS (SELECT 1 FROM bump)"
        self._run(lambda c: c.execute(query, (kind, _text(key))))

    # Eviction's deletes: a rollback of the transaction around them undoes them with the rest (the memory store
    # leaves them done)
    discard = delete

    def items(self, kind: str, tenant: str | None = None) -> list[Any]:
        args: tuple[str, ...]
        if tenant is None:
            query, args = "SELECT data FROM mockserver_objects WHERE kind = %s ORDER BY seq", (kind,)
        else:
            query = "SELECT data FROM mockserver_objects WHERE kind = %s AND tenant = %s ORDER BY seq"
            args = (kind, _text(tenant))
        rows = self._run(lambda c: c.execute(query, args).fetchall())
        return [_decode(kind, row[0]) for row in rows]

    def oldest(self, kind: str, n: int) -> list[Any]:
        """The kind's first `n` objects in insertion order (eviction's candidates), by the (kind, seq) index."""
        query = "SELECT data FROM mockserver_objects WHERE kind = %s ORDER BY seq LIMIT %s"
        rows = self._run(lambda c: c.execute(query, (kind, n)).fetchall())
        return [_decode(kind, row[0]) for row in rows]

    def count(self, kind: str, tenant: str | None = None) -> int:
        args: tuple[str, ...]
        if tenant is None:
            query, args = "SELECT n FROM mockserver_counts WHERE kind = %s", (kind,)
        else:
            query = "SELECT count(*) FROM mockserver_objects WHERE kind = %s AND tenant = %s"
            args = (kind, _text(tenant))
        row = self._run(lambda c: c.execute(query, args).fetchone())
        return int(row[0]) if row else 0

    def clear(self, tenant: str | None = None) -> None:
        """Forget every object (and every meta value but the kept ones), or one tenant's objects."""

        def clear(conn: psycopg.Connection[Any]) -> None:
            if tenant is None:
                conn.execute(_BUMP_META + "DELETE FROM mockserver_objects WHERE EXISTS (SELECT 1 FROM bump)")
                conn.execute("DELETE FROM mockserver_meta WHERE left(name, %s) <> %s", (len(KEEP_PREFIX), KEEP_PREFIX))
            else:
                query = "DELETE FROM mockserver_objects WHERE tenant = %s AND EXISTS (SELECT 1 FROM bump)"
                conn.execute(_BUMP + query, (_text(tenant),))

        with self.transaction():
            self._run(clear)

    def dump(self) -> list[tuple[str, str, str, Any]]:
        query = "SELECT kind, key, tenant, data FROM mockserver_objects ORDER BY seq"
        rows = self._run(lambda c: c.execute(query).fetchall())
        return [(kind, _untext(key), _untext(tenant), _decode(kind, data)) for kind, key, tenant, data in rows]

    # --- small shared values: clock, profile, seed, counters -------------------------------------------------

    def meta_get(self, name: str) -> Any | None:
        row = self._run(lambda c: c.execute("SELECT value FROM mockserver_meta WHERE name = %s", (name,)).fetchone())
        return orjson.loads(row[0]) if row else None

    def meta_put(self, name: str, value: Any) -> None:
        query = (
            _BUMP_META + "INSERT INTO mockserver_meta (name, value) SELECT %s, %s FROM bump "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        text = orjson.dumps(value).decode()
        self._run(lambda c: c.execute(query, (name, text)))

    def meta_delete(self, name: str) -> None:
        query = _BUMP_META + "DELETE FROM mockserver_meta WHERE name = %s AND EXISTS (SELECT 1 FROM bump)"
        self._run(lambda c: c.execute(query, (name,)))

    def meta_init(self, name: str, value: Any) -> Any:
        """Store `value` under `name` unless another replica did first; return what is stored (atomic)."""
        query = (
            _BUMP_META + "INSERT INTO mockserver_meta (name, value) SELECT %s, %s FROM bump "
            "ON CONFLICT (name) DO NOTHING"
        )
        text = orjson.dumps(value).decode()
        with self.transaction():
            self._run(lambda c: c.execute(query, (name, text)))
            return self.meta_get(name)

    def next_counter(self, name: str) -> int:
        """One statement, atomic on its own. Ids drawn change no derived answer, so no revision moves."""
        query = (
            "INSERT INTO mockserver_meta (name, value) VALUES (%s, '1') ON CONFLICT (name) "
            "DO UPDATE SET value = (mockserver_meta.value::bigint + 1)::text RETURNING value"
        )
        row = self._run(lambda c: c.execute(query, (name,)).fetchone())
        assert row is not None
        return int(row[0])

    def data_version(self) -> int:
        """Moves whenever a meta value (clock, profile, seed, …) changed, in any replica: one query per request."""
        row = self._run(lambda c: c.execute("SELECT meta FROM mockserver_revision WHERE id = 1").fetchone())
        return int(row[0]) if row else 0

    def revision(self) -> tuple[int, int]:
        """Changes with every write, any replica's, and with this process's rollbacks."""
        row = self._run(lambda c: c.execute("SELECT n FROM mockserver_revision WHERE id = 1").fetchone())
        return (int(row[0]) if row else 0, self._rollbacks)

    # --- the request journal, shared by replicas --------------------------------------------------------------

    def journal_append(self, entry: dict[str, Any], keep: int) -> int:
        data = orjson.dumps(entry)

        def append(conn: psycopg.Connection[Any]) -> int:
            row = conn.execute("INSERT INTO mockserver_journal (entry) VALUES (%s) RETURNING seq", (data,)).fetchone()
            seq = int(row[0]) if row else 0
            if seq % 64 == 0:  # trim now and then, not on every request
                conn.execute("DELETE FROM mockserver_journal WHERE seq <= %s", (seq - keep,))
            return seq

        return self._run(append)

    def journal_entries(self, keep: int) -> list[dict[str, Any]]:
        query = "SELECT seq, entry FROM mockserver_journal ORDER BY seq DESC LIMIT %s"
        rows = self._run(lambda c: c.execute(query, (keep,)).fetchall())
        return [{**orjson.loads(entry), "seq": seq} for seq, entry in reversed(rows)]

    def journal_clear(self) -> None:
        self._run(lambda c: c.execute("DELETE FROM mockserver_journal"))

    def close(self) -> None:
        self._closed = True
        self.pool.close()
