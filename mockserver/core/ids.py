"""Identifiers and random choices: unpredictable by default, an exact repeat under a seed."""

from __future__ import annotations

import hashlib
import random
import secrets
import string
from collections.abc import Callable

_TRIGGER_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits
# What uuid.UUID(version=4) does to the bits: the RFC 4122 variant (10) and the version (0100).
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_VERSION_4 = (0x8000 << 48) | (4 << 76)
_SEED_WIDTH = 2**31 - 1  # seeds are 1 .. 2**31 - 1


class Ids:
    """One source of randomness for everything a client can see (ids, seeds, trigger words, durations).

    With a `counter` (a shared, durable sequence), each draw under a seed comes from (seed, next counter value),
    so several worker processes sharing one store never repeat an id and a seeded run still repeats exactly: ids and
    seeds, drawn on every generate, straight from a keyed hash of the two (BLAKE2b, under a microsecond); the rarer
    draws from a generator seeded with them (seeding a Mersenne Twister costs several microseconds).
    """

    def __init__(self, seed: int | None = None, counter: Callable[[], int] | None = None) -> None:
        self.seed = seed
        self.counter = counter
        self.reseed()

    def reseed(self) -> None:
        self._rng = random.Random(self.seed) if self.seed is not None else random.SystemRandom()

    @property
    def _draw(self) -> random.Random:
        if self.counter is not None and self.seed is not None:
            return random.Random(f"{self.seed}:{self.counter()}")
        return self._rng

    def _hashed(self) -> int | None:
        """128 bits from (seed, next counter value) when draws are counted, else None."""
        if self.counter is None or self.seed is None:
            return None
        digest = hashlib.blake2b(f"{self.seed}:{self.counter()}".encode(), digest_size=16).digest()
        return int.from_bytes(digest, "big")

    def uuid(self) -> str:
        """`str(uuid.UUID(int=bits, version=4))`, without building the UUID object (ids are drawn per request)."""
        hashed = self._hashed()
        bits = ((self._rng.getrandbits(128) if hashed is None else hashed) & _CLEAR) | _VERSION_4
        text = bits.to_bytes(16, "big").hex()  # faster than f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def token(self, length: int = 24) -> str:
        rng = self._draw
        return "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(length))

    def seed_value(self) -> int:
        """A generation seed, in the range Firefly reports (positive 32-bit): `randint(1, 2**31 - 1)`, drawn as
        CPython's `randint` draws it (31 random bits until one is below the range's width) without its three
        calls per draw (a test holds the two to the same sequence). Counted: 128 hashed bits taken modulo the range
        (a bias below 2**-96)."""
        hashed = self._hashed()
        if hashed is not None:
            return 1 + hashed % _SEED_WIDTH
        getrandbits = self._rng.getrandbits
        value = getrandbits(31)
        while value >= _SEED_WIDTH:
            value = getrandbits(31)
        return 1 + value

    def trigger_word(self) -> str:
        rng = self._draw
        return "".join(rng.choice(_TRIGGER_ALPHABET) for _ in range(7))

    def uniform(self, low: float, high: float) -> float:
        return self._draw.uniform(low, high)

    def random(self) -> float:
        return self._draw.random()


def secret_token(nbytes: int = 32) -> str:
    """Bearer tokens stay unguessable even under a seed: determinism must not weaken auth tests."""
    return secrets.token_urlsafe(nbytes)
