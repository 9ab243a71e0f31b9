"""Eviction past max_jobs, on the in-memory and the SQLite store: a few of the oldest finished jobs per add, so the
count stays at the limit and no add lists the kind; the whole kind only when the oldest cannot go."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.core.jobs import Job, Jobs, Plan
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
    jobs = Jobs(store, Clock(), 3)
    for n in range(5):
        jobs.add(job(n, finished=False))
    for n in range(5, 8):  # finished, behind five unfinished: the oldest four cannot go, a sweep finds these
        jobs.add(job(n))
    assert store.listings == 5  # a sweep for each add past the limit: j3 to j7
    assert [j.id for j in store.items(KIND)] == ["j0", "j1", "j2", "j3", "j4"]
    for n in range(8, 40):  # nobody polls: more than twice the limit left, so the oldest unfinished go too
        jobs.add(job(n, finished=False))
        assert store.count(KIND) <= 6
    assert store.get(KIND, "j39") is not None and store.get(KIND, "j0") is None


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
