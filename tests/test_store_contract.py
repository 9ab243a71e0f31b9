"""The store contract, run against every store: whatever the world relies on holds in memory, on SQLite and on
PostgreSQL alike.

A second handle stands for a second worker: on SQLite it is another connection to the same file, on PostgreSQL
another store (a replica) on the same database, in memory the same object (one process has one memory store).
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from threads_support import run_all

from mockserver.core.tenants import Token
from mockserver.store import KEEP_PREFIX, MemoryStore
from mockserver.store_sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Opens handles on one store; every handle is closed at the end."""
    opened: list[Any] = []
    memory = MemoryStore()
    url = request.getfixturevalue("database_url") if request.param == "postgres" else ""

    def open_store() -> Any:
        if request.param == "postgres":
            from mockserver.store_postgres import PostgresStore

            store: Any = PostgresStore(url)
        else:
            store = memory if request.param == "memory" else SqliteStore(str(tmp_path))
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Callable[[], Any]) -> Any:
    return opener()


def token(value: str, tenant: str) -> Token:
    return Token(value, f"client-{tenant}", tenant, 1000.0)


def fill(store: Any) -> None:
    for tenant in ("A", "B"):
        for i in range(3):
            store.put("token", f"{tenant}{i}", token(f"{tenant}{i}", tenant), tenant)
        store.put("model_alias", f"alias-{tenant}", f"model-{tenant}", tenant)
        store.put("blob", f"blob-{tenant}", bytes([1, 2, 3]), tenant)
    store.meta_put("clock", {"offset": 5})
    store.meta_put(f"{KEEP_PREFIX}identity", "kept")


def test_put_get_items_count_delete(store):
    fill(store)
    assert store.get("token", "A1") == token("A1", "A")
    assert [t.value for t in store.items("token", "B")] == ["B0", "B1", "B2"]
    assert store.count("token") == 6 and store.count("nothing") == 0
    assert store.count("token", "A") == 3 and store.count("token", "C") == 0
    store.put("token", "A1", token("A1", "B"), "B")  # moving an object to another tenant re-indexes it
    assert [t.value for t in store.items("token", "A")] == ["A0", "A2"]
    assert "A1" in [t.value for t in store.items("token", "B")]
    store.delete("token", "A1")
    store.delete("token", "never-there")
    assert store.get("token", "A1") is None and store.count("token") == 5
    assert store.get("blob", "blob-A") == bytes([1, 2, 3])


def test_oldest_are_the_first_put_of_their_kind(store):
    fill(store)
    assert [t.value for t in store.oldest("token", 2)] == ["A0", "A1"]  # across tenants, in insertion order
    store.delete("token", "A0")
    assert [t.value for t in store.oldest("token", 3)] == ["A1", "A2", "B0"]
    assert [t.value for t in store.oldest("token", 10)] == ["A1", "A2", "B0", "B1", "B2"]
    assert store.oldest("nothing", 3) == []


def test_deleting_from_the_front_keeps_order_and_tenants(store):
    """Eviction deletes the oldest again and again (the memory store then copies its dict now and then)."""
    for i in range(700):
        store.put("blob", f"b{i}", b"x", "AB"[i % 2])
    for i in range(600):
        store.delete("blob", f"b{i}")
        if i % 97 == 0:
            assert store.oldest("blob", 2) == [b"x", b"x"] and store.count("blob") == 699 - i
    store.put("blob", "b699", b"y", "B")  # a replacement stays in place (memory) or moves last (SQLite)
    assert store.count("blob") == 100 and store.get("blob", "b650") == b"x"
    assert [store.get("blob", f"b{i}") for i in range(598, 601)] == [None, None, b"x"]
    assert store.count("blob", "A") == 50 and len(store.items("blob", "B")) == 50


def test_full_reset_forgets_everything_but_kept_meta(store):
    fill(store)
    store.next_counter("ids")
    store.clear()
    assert store.dump() == []
    assert store.meta_get("clock") is None and store.meta_get("ids") is None
    assert store.meta_get(f"{KEEP_PREFIX}identity") == "kept"
    assert store.next_counter("ids") == 1


def test_per_tenant_reset_touches_one_tenant(store):
    fill(store)
    store.clear("A")
    assert {tenant for _, _, tenant, _ in store.dump()} == {"B"}
    assert store.count("token") == 3 and store.get("model_alias", "alias-B") == "model-B"
    assert store.meta_get("clock") == {"offset": 5}


@pytest.mark.parametrize("odd", ["k\x00ey", "k\uffff0ey", "\uffff", "\x00\uffff\x00"])
def test_any_string_is_a_key_and_a_tenant(store, odd):
    """Clients can put NUL in ids and tenants (a path's %00, Basic credentials); PostgreSQL text cannot hold it."""
    fill(store)
    store.put("token", odd, token(odd, odd), odd)
    assert store.get("token", odd) == token(odd, odd) and store.get("token", "k") is None
    assert [t.value for t in store.items("token", odd)] == [odd] and store.count("token", odd) == 1
    assert (("token", odd, odd, token(odd, odd)) in store.dump()) and store.items("token", "\x00") == []
    store.clear(odd)
    assert store.get("token", odd) is None and store.count("token") == 6
    store.put("token", odd, token(odd, "A"), "A")
    store.delete("token", odd)
    assert store.get("token", odd) is None


def test_export_and_import_round_trip(store, opener):
    fill(store)
    exported = store.dump()
    store.clear()
    with store.transaction():
        for kind, key, tenant, obj in exported:
            store.put(kind, key, obj, tenant)
    assert sorted(store.dump(), key=repr) == sorted(exported, key=repr)
    assert sorted(opener().dump(), key=repr) == sorted(exported, key=repr)  # another worker sees the same


def test_rollback_undoes_every_change(store, opener):
    fill(store)
    before, clock = sorted(store.dump(), key=repr), store.meta_get("clock")
    with pytest.raises(RuntimeError), store.transaction():
        store.put("token", "new", token("new", "C"), "C")
        store.put("token", "A0", token("A0", "B"), "B")
        store.delete("token", "B1")
        with store.transaction():  # a nested block belongs to the outer transaction
            store.meta_put("clock", {"offset": 99})
            store.next_counter("ids")
        store.clear("A")
        store.clear()
        raise RuntimeError("boom")
    assert sorted(store.dump(), key=repr) == before
    assert sorted(opener().dump(), key=repr) == before
    assert store.meta_get("clock") == clock and store.meta_get("ids") is None
    assert [t.value for t in store.items("token", "A")] == ["A0", "A1", "A2"]


def _tokens_of_two_tenants(store: Any, draw: random.Random, count: int) -> list[str]:
    keys = [f"k{i}" for i in range(count)]
    for key in keys:
        tenant = draw.choice("AB")
        store.put("token", key, token(key, tenant), tenant)
    return keys


def _listings(store: Any) -> list[list[str]]:
    """The tokens' keys in listing order: all of them, tenant A's, tenant B's."""
    return [[t.value for t in store.items("token", tenant)] for tenant in (None, "A", "B")]


@pytest.mark.parametrize("seed", range(6))
def test_a_rollback_puts_every_key_back_in_its_place(store, seed):
    """Listings and eviction go oldest first: after a rollback every kind lists in its old order, per tenant too,
    whatever the transaction deleted, re-added, moved or cleared."""
    draw = random.Random(seed)
    keys = _tokens_of_two_tenants(store, draw, 12)
    before = _listings(store)
    with pytest.raises(RuntimeError), store.transaction():
        for _ in range(10):
            key, action = draw.choice(keys + ["new1", "new2"]), draw.randrange(4)
            if action == 0:
                store.delete("token", key)
            elif action == 1:
                store.put("token", key, token(key, "B"), "B")
            elif action == 2:
                store.put("token", key, token(key, "A"), "A")
            elif draw.random() < 0.3:
                store.clear("B")
        raise RuntimeError
    assert _listings(store) == before


@pytest.mark.parametrize("seed", range(8))
def test_a_discard_stands_through_a_rollback_in_memory_and_is_undone_by_a_database(store, seed):
    """Eviction's deletes (`discard`, of keys nothing else in the transaction touches): the memory store leaves
    them done and puts everything else back in its place; SQLite and PostgreSQL undo them with the rest."""
    draw = random.Random(seed)
    keys = _tokens_of_two_tenants(store, draw, 16)
    before = _listings(store)
    doomed = set(draw.sample(keys, 5))
    touched = [key for key in keys if key not in doomed] + ["new"]
    with pytest.raises(RuntimeError), store.transaction():
        for key in draw.sample(sorted(doomed), len(doomed)):
            for _ in range(draw.randrange(3)):  # other writes before this discard
                other, action = draw.choice(touched), draw.randrange(3)
                if action == 0:
                    store.delete("token", other)
                else:
                    store.put("token", other, token(other, "AB"[action - 1]), "AB"[action - 1])
            store.discard("token", key)
            assert store.get("token", key) is None
        raise RuntimeError
    after = _listings(store)
    if isinstance(store, MemoryStore):
        assert after == [[key for key in listed if key not in doomed] for listed in before]
    else:
        assert after == before


def test_a_nested_transaction_is_part_of_the_outermost(store):
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.put("token", "inner", token("inner", "A"), "A")
        store.put("token", "outer", token("outer", "A"), "A")
        raise RuntimeError
    assert store.get("token", "inner") is None and store.count("token") == 0
    with store.transaction():
        with store.transaction():
            store.put("token", "inner", token("inner", "A"), "A")
        store.put("token", "outer", token("outer", "A"), "A")
    assert [t.value for t in store.items("token")] == ["inner", "outer"] and store.count("token") == 2


def test_counters_never_repeat_across_workers(opener):
    handles = [opener() for _ in range(4)]
    seen: list[int] = []
    lock = threading.Lock()

    def draw(handle: Any) -> None:
        for _ in range(50):
            value = handle.next_counter("ids")
            with lock:
                seen.append(value)

    run_all([lambda h=h: draw(h) for h in handles])
    assert sorted(seen) == list(range(1, 201))


def test_meta_init_keeps_the_first_value(opener):
    first, second = opener(), opener()
    assert first.meta_init("config:key", "one") == "one"
    assert second.meta_init("config:key", "two") == "one"
    assert first.meta_get("config:key") == "one"


def test_check_and_insert_is_atomic(opener):
    """Many workers try to take the same slot; exactly one succeeds (the one-training-per-model pattern)."""
    handles = [opener() for _ in range(4)]
    for slot in range(20):
        winners: list[int] = []
        barrier = threading.Barrier(len(handles))

        def take(
            index: int,
            handle: Any,
            slot: int = slot,
            barrier: threading.Barrier = barrier,
            winners: list[int] = winners,
        ) -> None:
            barrier.wait()
            with handle.transaction():
                if handle.get("model_alias", f"slot-{slot}") is None:
                    handle.put("model_alias", f"slot-{slot}", f"worker-{index}", "")
                    winners.append(index)

        run_all([lambda i=i, h=h: take(i, h) for i, h in enumerate(handles)])
        assert len(winners) == 1
        assert handles[0].get("model_alias", f"slot-{slot}") == f"worker-{winners[0]}"


def test_revision_changes_with_every_write_from_any_handle(opener: Callable[[], Any]) -> None:
    """Caches of derived answers (the custom-models listing) rely on it: one worker's write is seen by another."""
    first, second = opener(), opener()
    seen = [first.revision()]

    def changed() -> bool:
        now = first.revision()
        fresh = now != seen[-1]
        seen.append(now)
        return fresh

    assert not changed()
    second.put("blob", "b1", b"x", "t1")
    assert changed()
    second.delete("blob", "b1")
    assert changed()
    second.meta_put("name", 1)
    assert changed()
    second.meta_delete("name")
    assert changed()
    second.put("blob", "b2", b"x", "t1")
    assert changed()
    second.clear("t1")
    assert changed()
    with pytest.raises(RuntimeError), first.transaction():  # a rollback restores state, but not the revision
        first.meta_put("name", 2)
        raise RuntimeError
    assert changed()
    assert not changed()


def test_counts_follow_puts_replacements_deletes_and_clears(opener: Callable[[], Any]) -> None:
    first, second = opener(), opener()
    for i in range(5):
        first.put("blob", f"b{i}", b"x", "t1" if i % 2 else "t2")
    first.put("blob", "b0", b"y", "t1")  # a replacement (moving tenant too) is not a new object
    second.put("blob", "b1", b"z", "t1")
    assert first.count("blob") == second.count("blob") == 5
    second.delete("blob", "b2")
    second.delete("blob", "missing")
    assert first.count("blob") == 4 and first.count("other") == 0
    with pytest.raises(RuntimeError), first.transaction():
        first.put("blob", "b9", b"x", "t1")
        raise RuntimeError
    assert second.count("blob") == 4
    first.clear("t1")
    assert second.count("blob") == len(second.items("blob")) == 1
    first.clear()
    assert second.count("blob") == 0


def _file_of_three_blobs_altered(folder: Path, script: str) -> None:
    """A store file holding three blobs, then changed behind the store's back by `script` (as older versions left
    files)."""
    import sqlite3

    store = SqliteStore(str(folder))
    for i in range(3):
        store.put("blob", f"b{i}", b"x", "t")
    store.close()
    db = sqlite3.connect(str(folder / "mockserver.db"))
    db.executescript(script)
    db.close()


def test_a_file_from_before_the_counts_is_counted_when_opened(tmp_path: Path) -> None:
    _file_of_three_blobs_altered(tmp_path, "DROP TABLE counts; PRAGMA user_version=0;")
    reopened = SqliteStore(str(tmp_path))
    try:
        assert reopened.count("blob") == 3
        reopened.put("blob", "b3", b"x", "t")
        assert reopened.count("blob") == 4
    finally:
        reopened.close()


def test_a_file_whose_counts_triggers_kept_is_counted_by_the_store_from_then_on(tmp_path: Path) -> None:
    """Before, triggers kept the counts (and an older version opening a file makes them again): they go, once."""
    import sqlite3

    _file_of_three_blobs_altered(
        tmp_path,
        """CREATE TRIGGER objects_counted_in AFTER INSERT ON objects BEGIN
             INSERT INTO counts (kind, n) VALUES (new.kind, 1) ON CONFLICT (kind) DO UPDATE SET n = n + 1; END;
           CREATE TRIGGER objects_counted_out AFTER DELETE ON objects BEGIN
             UPDATE counts SET n = n - 1 WHERE kind = old.kind; END;
           INSERT INTO objects VALUES ('blob', 'b3', 't', x'00');""",
    )
    for again in range(2):
        reopened = SqliteStore(str(tmp_path))
        try:
            assert reopened.count("blob") == len(reopened.items("blob"))
            reopened.put("blob", f"new{again}", b"x", "t")
            reopened.put("blob", "b0", b"y", "t")  # replaced: not counted again
            reopened.delete("blob", "b1")
            reopened.delete("blob", "b1")
            assert reopened.count("blob") == len(reopened.items("blob"))
        finally:
            reopened.close()
    assert (
        sqlite3.connect(str(tmp_path / "mockserver.db"))
        .execute("SELECT * FROM sqlite_master WHERE type='trigger'")
        .fetchall()
        == []
    )


def test_a_meta_value_is_changed_in_place(tmp_path: Path) -> None:
    """Counters and meta values are upserted: the row keeps its rowid (INSERT OR REPLACE moved it, rewriting the
    name index too), and its value is the new one."""
    store = SqliteStore(str(tmp_path))
    try:
        store.meta_put("clock", {"offset": 1})
        with store.transaction():
            assert store.next_counter("ids") == 1
        rowids = dict(store.db.execute("SELECT name, rowid FROM meta").fetchall())
        store.meta_put("clock", {"offset": 2})
        with store.transaction():
            assert store.next_counter("ids") == 2
        assert dict(store.db.execute("SELECT name, rowid FROM meta").fetchall()) == rowids
        assert store.meta_get("clock") == {"offset": 2}
    finally:
        store.close()


def _page_size(path: Path) -> int:
    import sqlite3

    db = sqlite3.connect(str(path))
    try:
        size: int = db.execute("PRAGMA page_size").fetchone()[0]
        return size
    finally:
        db.close()


def test_new_files_take_the_small_pages_and_an_older_file_keeps_its_own(tmp_path: Path) -> None:
    """A new folder's two files get PAGE_SIZE pages (what a commit writes per changed page) and no secure delete;
    a file made before, with SQLite's 4 KiB pages, opens, reads and writes as it is."""
    import sqlite3

    from mockserver.store_sqlite import PAGE_SIZE

    fresh = SqliteStore(str(tmp_path / "new"))
    fresh.put("blob", "b0", b"x" * 5000, "t")  # over a page: an overflow chain
    # nothing a fake keeps needs wiping when deleted (Debian's SQLite zeroes deleted rows and freed pages)
    assert [db.execute("PRAGMA secure_delete").fetchone()[0] for db in (fresh.db, fresh.journal_db)] == [0, 0]
    fresh.close()
    assert PAGE_SIZE == 2048
    assert _page_size(tmp_path / "new" / "mockserver.db") == _page_size(tmp_path / "new" / "journal.db") == 2048
    old = tmp_path / "old"
    old.mkdir()
    db = sqlite3.connect(str(old / "mockserver.db"))
    db.execute("PRAGMA page_size=4096")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE filler (x)")
    db.close()
    reopened = SqliteStore(str(old))
    try:
        reopened.put("blob", "b1", b"y" * 5000, "t")
        assert reopened.get("blob", "b1") == b"y" * 5000 and reopened.count("blob") == 1
    finally:
        reopened.close()
    assert _page_size(old / "mockserver.db") == 4096
    again = SqliteStore(str(tmp_path / "new"))
    try:
        assert again.get("blob", "b0") == b"x" * 5000
    finally:
        again.close()


class _Limited:
    """A surface with one rate-limited route: 3 a minute, 5 an hour."""

    rate_limits = {("POST", "/go"): [(60.0, 3), (3600.0, 5)]}


def test_rate_limit_windows_hold_across_workers(opener: Callable[[], Any]) -> None:
    """The windows live in the store: requests spread over workers (handles) are counted once between them."""
    from mockserver.ratelimits import RateLimiter

    limiters = [RateLimiter([_Limited()], opener()) for _ in range(3)]
    allowed: list[int] = []
    barrier = threading.Barrier(6)

    def hit(index: int) -> None:
        barrier.wait()
        if limiters[index % 3].check(_Limited(), "POST", "/go", "A", 1000.0) is None:
            allowed.append(index)

    run_all([lambda i=i: hit(i) for i in range(6)])
    assert len(allowed) == 3
    assert limiters[0].check(_Limited(), "POST", "/go", "A", 1030.0) == 30.0
    assert limiters[1].check(_Limited(), "POST", "/go", "B", 1030.0) is None
    assert limiters[1].check(_Limited(), "GET", "/go", "A", 1030.0) is None
    assert limiters[2].check(_Limited(), "POST", "/go", "A", 1060.0) is None
    assert limiters[2].check(_Limited(), "POST", "/go", "A", 1061.0) is None
    assert limiters[0].check(_Limited(), "POST", "/go", "A", 1062.0) == 4600.0 - 1062.0


def test_rate_limit_windows_are_bounded(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.ratelimits import KIND, RateLimiter

    monkeypatch.setattr(RateLimiter, "MAX_KEYS", 10)
    limiter = RateLimiter([_Limited()], store)
    for n in range(10):
        assert limiter.check(_Limited(), "POST", "/go", f"tenant-{n}", 100.0 + n) is None
    assert store.count(KIND) == 10
    limiter.check(_Limited(), "POST", "/go", "late", 200.0)  # all busy: the oldest go
    assert store.count(KIND) <= 10 and store.get(KIND, "POST /go late") is not None
    limiter.check(_Limited(), "POST", "/go", "later", 10_000.0)  # all idle: all go
    assert store.count(KIND) == 1


def test_journal_rows_are_group_committed_and_readable_elsewhere_before_each_answer_starts(tmp_path: Path) -> None:
    """Concurrent requests share one journal commit, and each answer starts only once its row is in the file: another
    worker's connection reads it at that moment (so does a restart after kill -9)."""
    import asyncio

    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.from_env(env={}, state_dir=str(tmp_path), access_log=False))
    journal = app.state.ctx.journal
    other = SqliteStore(str(tmp_path))  # another worker
    commits: list[int] = []
    append_many = journal._append_many

    def counted(entries: list[dict[str, Any]], keep: int) -> int:
        commits.append(len(entries))
        return append_many(entries, keep)

    journal._append_many = counted
    readable_at_start: dict[str, bool] = {}

    async def poll(n: int) -> None:
        rid = f"group-{n}"
        scope = _poll_scope(n, [(b"x-request-id", rid.encode())])

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                readable_at_start[rid] = any(e["request_id"] == rid for e in other.journal_entries(1000))

        await app(scope, _no_body, send)

    async def main() -> None:
        await asyncio.gather(*(poll(n) for n in range(16)))

    try:
        asyncio.run(main())
        assert readable_at_start == {f"group-{n}": True for n in range(16)}
        assert sum(commits) == 16 and len(commits) < 16, commits  # batched: one commit per event-loop round
        assert [e["status"] for e in other.journal_entries(1000)] == [401] * 16  # no token: refused, journaled
    finally:
        other.close()
        app.state.ctx.world.store.close()


def test_a_journal_commit_that_fails_lets_the_answers_out_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal write that fails (disk full, an I/O error) happens after the request did its work: the answer
    still goes out, in the provider's format, and the failure is logged; it is not a bare 500 nor a hang."""
    import asyncio
    import sqlite3

    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.from_env(env={}, state_dir=str(tmp_path), access_log=False))
    journal = app.state.ctx.journal

    def failing(entries: list[dict[str, Any]], keep: int) -> int:
        raise sqlite3.OperationalError("disk I/O error")

    journal._append_many = failing
    statuses: list[int] = []

    async def poll(n: int) -> None:
        scope = _poll_scope(n)

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, _no_body, send)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(poll(n) for n in range(4))), 60)

    try:
        asyncio.run(main())
    finally:
        app.state.ctx.world.store.close()
    assert statuses == [401] * 4  # the answers the requests earned (no credentials), not 500s
    assert "the request journal could not be written" in caplog.text


def test_sqlite_writes_of_one_round_share_a_commit_and_a_refusal_rolls_back_only_its_own(tmp_path: Path) -> None:
    """On an event loop the writes of one round are one SQLite transaction (each request a savepoint): another
    worker sees none of them until the commit at the next round, then all but the refused request's, counters
    included."""
    import asyncio

    async def main() -> None:
        store, other = SqliteStore(str(tmp_path)), SqliteStore(str(tmp_path))
        try:
            with store.transaction():
                store.put("token", "kept", token("kept", "A"), "A")
                assert store.next_counter("ids") == 1
            assert store.count("token") == 1
            with pytest.raises(RuntimeError), store.transaction():
                store.put("token", "refused", token("refused", "A"), "A")
                assert store.next_counter("ids") == 2
                assert store.count("token") == 2
                raise RuntimeError("a refusal inside the request's transaction")
            assert store.next_counter("ids") == 2  # the refused request's draw was rolled back with it
            assert store.count("token") == 1  # and its object with the count of it
            store.put("token", "autocommit", token("autocommit", "A"), "A")  # outside a transaction: joins too
            settled = store.settled()
            assert settled is not None
            assert other.get("token", "kept") is None and other.count("token") == 0  # not committed yet
            await settled
            assert store.settled() is None
            assert other.get("token", "kept") is not None and other.get("token", "autocommit") is not None
            assert other.get("token", "refused") is None and other.count("token") == 2
            assert other.meta_get("ids") == 2 and other.next_counter("ids") == 3  # another worker goes on from there
            await other.settled()  # (its group holds the write lock until then, as another process's would)
            assert store.next_counter("ids") == 4
        finally:
            store.close()  # commits the open group
            assert other.meta_get("ids") == 4
            other.close()

    asyncio.run(main())


def test_sqlite_a_request_changing_many_pages_rolls_back_alone_with_its_savepoint_kept_in_memory(
    tmp_path: Path,
) -> None:
    """A request's savepoint journal over SQLite's 64 KiB in-memory limit (an add that evicts a batch changes that
    much: each evicted key in another leaf of the key index) stays in memory (temp_store=MEMORY: no temporary file
    per such request) and still rolls back only that request: the round's other writes stand."""
    import asyncio
    import hashlib

    keys = [hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest() for i in range(3000)]  # spread out

    async def main() -> None:
        store = SqliteStore(str(tmp_path))
        try:
            assert store.db.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
            with store.transaction():
                for key in keys:
                    store.put("blob", key, key.encode() * 4, "t")
            await store.settled()
            with store.transaction():
                store.put("blob", "kept", b"k", "t")
            with pytest.raises(RuntimeError), store.transaction():
                for key in keys[::15]:  # 200 deletes over the key index's leaves: hundreds of KiB of pages
                    store.delete("blob", key)
                    store.put("blob", key[::-1], b"new", "t")
                raise RuntimeError("refused after changing many pages")
            assert store.count("blob") == 3001
            await store.settled()
            assert store.db.execute("SELECT COUNT(*) FROM objects").fetchone()[0] == 3001
            assert store.get("blob", keys[15]) == keys[15].encode() * 4 and store.get("blob", "kept") == b"k"
            assert store.get("blob", keys[15][::-1]) is None
        finally:
            store.close()

    asyncio.run(main())


def test_sqlite_a_thread_writing_outside_the_loop_commits_the_open_group_first(tmp_path: Path) -> None:
    """A write from another thread is durable when it returns: the loop's open group is committed before it (the
    loop's waiting answers are released on their own loop), never left holding the write lock."""
    import asyncio

    async def main() -> None:
        store, other = SqliteStore(str(tmp_path)), SqliteStore(str(tmp_path))
        try:
            store.put("token", "on-loop", token("on-loop", "A"), "A")
            settled = store.settled()
            assert settled is not None
            thread = threading.Thread(target=lambda: store.put("token", "off-loop", token("off-loop", "B"), "B"))
            thread.start()
            thread.join()
            assert other.get("token", "on-loop") is not None and other.get("token", "off-loop") is not None
            await asyncio.wait_for(settled, 60)
        finally:
            store.close()
            other.close()

    asyncio.run(main())


def test_sqlite_generate_answers_start_only_once_their_job_is_in_the_file(tmp_path: Path) -> None:
    """Concurrent generates through the app share group commits; when each 202 starts, another worker's
    connection already reads the job it names (so does a restart after kill -9)."""
    import asyncio

    import httpx

    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.from_env(env={}, state_dir=str(tmp_path), access_log=False, profile="instant"))
    other = SqliteStore(str(tmp_path))  # another worker
    commits: list[int] = []
    store = app.state.ctx.world.store
    commit_batch = store.commit_batch

    def counted() -> BaseException | None:
        if store.settled() is not None:
            commits.append(1)
        return commit_batch()

    store.commit_batch = counted
    readable_at_start: list[set[str]] = []
    answers: list[dict[str, Any]] = []

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            form = {"grant_type": "client_credentials", "client_id": "mock-client-id"}
            form["client_secret"] = "mock-client-secret"
            issued = await http.post("/ims/token/v3", data=form)
            headers = {"x-api-key": "mock-client-id", "authorization": f"Bearer {issued.json()['access_token']}"}

        async def send_spy(scope: Any, receive: Any, send: Any) -> None:
            seen: set[str] = set()

            async def spying(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":  # what another worker reads as the answer starts
                    seen.update(k for (k,) in other.db.execute("SELECT key FROM objects"))
                elif message["type"] == "http.response.body":
                    readable_at_start.append(seen)
                    answers.append(orjson.loads(message["body"]))
                await send(message)

            await app(scope, receive, spying)

        spied = httpx.ASGITransport(app=send_spy)
        async with httpx.AsyncClient(transport=spied, base_url="http://127.0.0.1") as http:
            body = {"prompt": "a lighthouse", "numVariations": 1}
            sent = [http.post("/v3/images/generate-async", json=body, headers=headers) for _ in range(12)]
            assert [answer.status_code for answer in await asyncio.gather(*sent)] == [202] * 12

    try:
        asyncio.run(main())
        assert len(answers) == 12
        for seen, answer in zip(readable_at_start, answers, strict=True):
            assert answer["jobId"] in seen
        assert len(commits) < 12, commits  # grouped: fewer commits than generates
    finally:
        other.close()
        store.close()


def test_sqlite_control_api_answers_start_only_once_their_change_is_in_the_file(tmp_path: Path) -> None:
    """The control API is not journaled, yet its writes are grouped too: the gateway holds its answer until the
    commit, so another worker reads the advanced clock as the answer starts."""
    import asyncio

    import httpx

    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.from_env(env={}, state_dir=str(tmp_path), access_log=False))
    other = SqliteStore(str(tmp_path))  # another worker
    offsets: list[float] = []

    async def send_spy(scope: Any, receive: Any, send: Any) -> None:
        async def spying(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                offsets.append(other.meta_get("clock")["offset"])
            await send(message)

        await app(scope, receive, spying)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=send_spy), base_url="http://127.0.0.1") as http:
            for _ in range(3):
                answer = await http.post("/__admin/clock/advance", json={"seconds": 100})
                assert answer.status_code == 200, answer.text

    try:
        asyncio.run(main())
        assert offsets == [100, 200, 300]
    finally:
        other.close()
        app.state.ctx.world.store.close()


def test_sqlite_a_group_left_open_by_a_stopped_loop_is_committed_by_the_next_write(tmp_path: Path) -> None:
    """A loop that stops before the round that commits its group (no lifespan shutdown ran) leaves no write lock
    behind for good: the next write, from a new loop on the same thread, commits it first."""
    import asyncio

    store, other = SqliteStore(str(tmp_path)), SqliteStore(str(tmp_path))

    async def put(key: str) -> None:
        store.put("token", key, token(key, "A"), "A")

    try:
        loop = asyncio.new_event_loop()

        def put_and_stop() -> None:
            store.put("token", "first", token("first", "A"), "A")  # its commit is scheduled for the next round
            loop.stop()  # which never runs

        loop.call_soon(put_and_stop)
        loop.run_forever()
        loop.close()
        assert store.settled() is not None and other.get("token", "first") is None

        async def then() -> None:
            await put("second")
            settled = store.settled()
            assert settled is not None
            await asyncio.wait_for(settled, 60)

        asyncio.run(then())
        assert other.get("token", "first") is not None and other.get("token", "second") is not None
    finally:
        store.close()
        other.close()


def test_sqlite_a_group_commit_that_fails_fails_its_answers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A group commit that fails (disk full, an I/O error) loses the round's writes, so the answers that waited for
    it must not report success: the client gets a 500, never the 202 of a job that is not there; it is logged."""
    import asyncio
    import sqlite3

    import httpx

    from mockserver.app import create_app
    from mockserver.settings import Settings

    app = create_app(Settings.from_env(env={}, state_dir=str(tmp_path), access_log=False))
    store = app.state.ctx.world.store
    other = SqliteStore(str(tmp_path))
    real_write_counters = store._write_counters
    failing = {"on": False}

    def write_counters() -> None:
        if failing["on"]:
            raise sqlite3.OperationalError("disk I/O error")
        real_write_counters()

    store._write_counters = write_counters
    statuses: list[int] = []
    before: set[str] = set()

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            form = {"grant_type": "client_credentials", "client_id": "mock-client-id"}
            form["client_secret"] = "mock-client-secret"
            issued = await http.post("/ims/token/v3", data=form)
            headers = {"x-api-key": "mock-client-id", "authorization": f"Bearer {issued.json()['access_token']}"}
            before.update(k for (k,) in other.db.execute("SELECT key FROM objects"))
            failing["on"] = True
            answer = await http.post("/v3/images/generate-async", json={"prompt": "lost"}, headers=headers)
            statuses.append(answer.status_code)

    try:
        with caplog.at_level("ERROR", logger="mockserver"):
            asyncio.run(main())
        assert statuses == [500]
        assert before and {k for (k,) in other.db.execute("SELECT key FROM objects")} == before  # no job, no asset
        assert "group commit of the store failed" in caplog.text
    finally:
        other.close()
        store.close()


def _poll_scope(n: int, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """An ASGI scope for a status poll of job `n`, without credentials (answered 401, and journaled)."""
    path = f"/v3/status/job-{n}"
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"127.0.0.1"), *(headers or [])],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
    }


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_sqlite_checkpoints_run_on_a_thread_at_the_lowest_priority(tmp_path: Path) -> None:
    """The checkpoint thread copies megabytes: it yields the CPU to the requests' thread (same process)."""
    from mockserver import store_sqlite

    store = SqliteStore(str(tmp_path))
    try:
        store.put("blob", "b", b"x" * 4096)
        store._checkpointer.wake()
        thread = store._checkpointer._thread
        assert thread is not None and thread.native_id is not None
        deadline = time.monotonic() + 30
        while os.getpriority(os.PRIO_PROCESS, thread.native_id) != store_sqlite.NICE:
            assert time.monotonic() < deadline, "the checkpoint thread kept its priority"
            time.sleep(0.01)
    finally:
        store.close()
