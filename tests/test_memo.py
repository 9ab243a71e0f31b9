"""The cache behind the custom-models listing: reused while the store and (for timed answers) the clock stand
still, recomputed after any write."""

from __future__ import annotations

from pathlib import Path

from mockserver.core.clock import Clock
from mockserver.core.memo import Memo
from mockserver.store import MemoryStore
from mockserver.store_sqlite import SqliteStore


def test_reused_until_the_store_changes() -> None:
    store, clock = MemoryStore(), Clock()
    memo, calls = Memo(store, clock), []

    def compute() -> tuple[int, bool]:
        calls.append(1)
        return len(calls), False

    assert memo.get("k", compute) == 1
    assert memo.get("k", compute) == 1
    store.meta_put("anything", True)
    assert memo.get("k", compute) == 2
    assert memo.get("other", compute) == 3


def test_timed_answers_last_one_instant() -> None:
    store, clock = MemoryStore(), Clock()
    clock.freeze()
    memo, calls = Memo(store, clock), []

    def compute() -> tuple[int, bool]:
        calls.append(1)
        return len(calls), True

    assert memo.get("k", compute) == 1
    assert memo.get("k", compute) == 1
    clock.advance(0.001)
    assert memo.get("k", compute) == 2


def test_another_workers_write_invalidates(tmp_path: Path) -> None:
    """Two handles on one SQLite file stand for two workers: a write through either is seen by the other."""
    mine, theirs = SqliteStore(str(tmp_path)), SqliteStore(str(tmp_path))
    try:
        memo, calls = Memo(mine, Clock()), []

        def compute() -> tuple[int, bool]:
            calls.append(1)
            return len(calls), False

        assert memo.get("k", compute) == 1
        assert memo.get("k", compute) == 1
        theirs.put("blob", "b", b"x", "t")
        assert memo.get("k", compute) == 2
        mine.put("blob", "c", b"y", "t")
        assert memo.get("k", compute) == 3
        assert memo.get("k", compute) == 3
    finally:
        mine.close()
        theirs.close()
