"""Answers derived from the store, reused until the store changes.

A listing that filters and sorts hundreds of models costs far more than the request around it, yet the models
change rarely. An entry is reused only while the store's `revision()` is the one read before computing it (every
write bumps it; with a shared SQLite file, so does another worker's commit), and, for answers that depend on the
time (trainings in progress), only while the clock reads the same instant.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from .clock import Clock


class Memo:
    MAX_ENTRIES = 256

    def __init__(self, store: Any, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._entries: dict[Hashable, tuple[Any, float | None, Any]] = {}

    def get(self, key: Hashable, compute: Callable[[], tuple[Any, bool]]) -> Any:
        """The value for `key`; `compute` returns (value, whether it depends on the time)."""
        revision = self.store.revision()
        found = self.kept(key, revision)
        if found is not None:
            return found
        at = self.clock.now()
        value, timed = compute()
        self.keep(key, revision, value, at if timed else None)
        return value

    def kept(self, key: Hashable, revision: Any) -> Any | None:
        """What `keep` put under `key` at this store revision (and, for an answer kept with the instant it was
        computed at, at that instant), or None."""
        found = self._entries.get(key)
        if found is not None and found[0] == revision and (found[1] is None or found[1] == self.clock.now()):
            return found[2]
        return None

    def keep(self, key: Hashable, revision: Any, value: Any, at: float | None = None) -> None:
        """Keep `value`, computed from the store as it was at `revision` (read before computing)."""
        if len(self._entries) >= self.MAX_ENTRIES and key not in self._entries:
            self._entries.clear()
        self._entries[key] = (revision, at, value)
