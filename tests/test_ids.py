"""Seeded draws repeat exactly: in one process the values `random.Random(seed)` gives (`randint` seeds, `uuid4` of the
same bits), from a shared counter (a database store) a function of the seed and the counter's value."""

from __future__ import annotations

import random
import uuid

import pytest

from mockserver.core.ids import Ids


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40])
def test_seed_values_are_those_randint_draws(seed: int) -> None:
    """`Ids.seed_value` draws as `randint(1, 2**31 - 1)` does, so seeded runs give the seeds they always gave."""
    reference = random.Random(seed)
    ids = Ids(seed)
    assert [ids.seed_value() for _ in range(200)] == [reference.randint(1, 2**31 - 1) for _ in range(200)]


@pytest.mark.parametrize("seed", [0, 1, 2**40])
def test_uuids_are_those_uuid4_of_the_same_bits(seed: int) -> None:
    reference = random.Random(seed)
    ids = Ids(seed)
    expected = [str(uuid.UUID(int=reference.getrandbits(128), version=4)) for _ in range(50)]
    assert [ids.uuid() for _ in range(50)] == expected


def test_counted_draws_repeat_per_seed_and_counter_and_never_across_workers() -> None:
    """Under a seed with a shared counter (a database store), each draw is a function of (seed, counter value):
    a second run from the same counter repeats them, another seed does not, and two workers drawing from one
    counter in turns never repeat each other."""
    import itertools

    def run(seed: int, start: int = 1) -> list[object]:
        counter = itertools.count(start)
        ids = Ids(seed, counter=lambda: next(counter))
        return [draw() for _ in range(100) for draw in (ids.uuid, ids.seed_value)]

    first = run(7)
    assert run(7) == first and run(8) != first
    uuids, seeds = first[0::2], first[1::2]
    assert all(uuid.UUID(str(u)).version == 4 and str(uuid.UUID(str(u))) == u for u in uuids)
    assert all(isinstance(s, int) and 1 <= s <= 2**31 - 1 for s in seeds) and len(set(seeds)) == len(seeds)
    shared = itertools.count(1)
    workers = [Ids(7, counter=lambda: next(shared)) for _ in range(2)]
    drawn = [workers[i % 2].uuid() for i in range(200)]
    assert len(set(drawn)) == 200
    assert drawn[0] == first[0]  # the first counter value, whichever worker drew it
