"""Eviction past max_jobs, on the in-memory and the SQLite store: the oldest finished jobs, a batch at a time, so the
count stays at most at the limit and no add lists the kind; the whole kind only when the oldest cannot go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.core.jobs import EVICT_BATCH, Job, Jobs, Plan
from mockserver.store import MemoryStore
from mockserver.store_sqlite import SqliteStore

KIND = "job:firefly.generate"


class Clock:
    def now(self) -> float:
        return 10.0


class Listed:
    """A store that counts the listings of a whole kind (what an add must not need while the oldest can go)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.listings = 0

    def items(self, kind: str, tenant: str | None = None) -> list[Any]:
        self.listings += 1
        return self.store.items(kind, tenant)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listed]:
    opened: Any = MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path))
    yield Listed(opened)
    opened.close()


def job(n: int, finished: bool = True) -> Job:
    plan = Plan(0.0, 0.0) if finished else Plan(100.0, 100.0)  # created at 0, the clock at 10
    return Job(f"j{n}", "t", "firefly.generate", 0.0, plan, outputs=[{"asset": f"a{n}"}])


def test_each_add_past_the_limit_drops_the_oldest_finished_and_lists_nothing(store: Listed) -> None:
    forgotten: list[str] = []
    jobs = Jobs(store, Clock(), 10, forgotten.append)
    for n in range(40):
        jobs.add(job(n))
        assert store.count(KIND) <= 10
    assert store.count(KIND) >= 9  # kept at the limit, not emptied in one go down to 90%
    assert [j.id for j in store.items(KIND)] == [f"j{n}" for n in range(40 - store.count(KIND), 40)]
    assert forgotten == [f"a{n}" for n in range(40 - store.count(KIND))]  # their output assets went with them
    assert store.listings == 1  # only the check above listed the kind


def test_unfinished_jobs_at_the_head_stay_and_the_finished_behind_them_go(store: Listed) -> None:
    jobs = Jobs(store, Clock(), 5)
    for n in range(3):
        jobs.add(job(n, finished=False))
    for n in range(3, 30):
        jobs.add(job(n))
        assert store.count(KIND) <= 5
    kept = [j.id for j in store.items(KIND)]
    assert kept[:3] == ["j0", "j1", "j2"] and kept[-1] == "j29"


def test_when_the_oldest_cannot_go_the_whole_kind_decides(store: Listed) -> None:
    jobs = Jobs(store, Clock(), 20)
    for n in range(25):
        jobs.add(job(n, finished=False))
    for n in range(25, 28):  # finished, behind 25 unfinished: the oldest looked at cannot go, a sweep finds these
        jobs.add(job(n))
    assert store.listings == 8  # a sweep for each add past the limit: j20 to j27
    assert [j.id for j in store.items(KIND)] == [f"j{n}" for n in range(25)]
    for n in range(28, 80):  # nobody polls: more than twice the limit left, so the oldest unfinished go too
        jobs.add(job(n, finished=False))
        assert store.count(KIND) <= 40
    assert store.get(KIND, "j79") is not None and store.get(KIND, "j0") is None


def test_a_large_limit_is_kept_by_a_batch_every_few_adds(store: Listed) -> None:
    """Under a large limit an add past it drops a batch, down to EVICT_BATCH below the limit, so the adds after it
    drop nothing until the limit is reached again; a kind far over its limit (an import) loses a batch an add."""
    forgotten: list[str] = []
    jobs = Jobs(store, Clock(), 400, forgotten.append)
    evicting = []
    for n in range(500):
        before = len(forgotten)
        jobs.add(job(n))
        assert store.count(KIND) <= 400
        if len(forgotten) > before:
            evicting.append((n, len(forgotten) - before))
    assert evicting[0] == (400, 1 + EVICT_BATCH)  # the first add past the limit, and a batch's room below it
    assert all(dropped == EVICT_BATCH + 1 for _, dropped in evicting)
    assert [n for n, _ in evicting] == list(range(400, 500, EVICT_BATCH + 1))
    assert forgotten == [f"a{n}" for n in range(len(forgotten))]  # the oldest, in order
    for n in range(500, 700):  # behind the limit's back (an import): far over it, not twice
        store.put(KIND, f"j{n}", job(n), "t")
    count = store.count(KIND)
    jobs.add(job(700))
    assert store.count(KIND) == count + 1 - 2 * EVICT_BATCH
    assert store.listings == 0


def test_jobs_behind_many_older_objects_of_other_kinds_are_still_evicted(store: Listed) -> None:
    """SQLite looks for a kind's oldest among the file's oldest objects only: behind more than that, a sweep."""
    for n in range(300):
        store.put("token", f"t{n}", {"n": n}, "t")
    jobs = Jobs(store, Clock(), 5)
    for n in range(30):
        jobs.add(job(n))
        assert store.count(KIND) <= 5
    assert store.get(KIND, "j29") is not None and store.get(KIND, "j0") is None
    assert store.count("token") == 300
