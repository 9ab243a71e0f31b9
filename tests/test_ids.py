"""Seeded draws repeat the values earlier versions drew, so a seeded run keeps its ids and seeds."""

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
