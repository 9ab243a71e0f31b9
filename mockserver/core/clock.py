"""The fake's clock: real time, optionally frozen or shifted, so tests move time instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ClockState:
    """What the clock needs to be persisted or shared: an offset from real time and an optional freeze point."""

    offset: float = 0.0
    frozen_at: float | None = None


class Clock:
    """Virtual time = real time + offset, or a fixed instant while frozen. It never moves backwards."""

    def __init__(self, state: ClockState | None = None, on_change: Callable[[ClockState], None] | None = None) -> None:
        self.state = state or ClockState()
        self.on_change = on_change

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state)

    def now(self) -> float:
        frozen = self.state.frozen_at
        return frozen if frozen is not None else time.time() + self.state.offset

    @property
    def frozen(self) -> bool:
        return self.state.frozen_at is not None

    def freeze(self) -> None:
        if self.state.frozen_at is None:
            self.state.frozen_at = self.now()
            self._changed()

    def resume(self) -> None:
        if self.state.frozen_at is not None:
            self.state.offset = self.state.frozen_at - time.time()
            self.state.frozen_at = None
            self._changed()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        if self.state.frozen_at is not None:
            self.state.frozen_at += seconds
        else:
            self.state.offset += seconds
        self._changed()

    def reset(self) -> None:
        self.state = ClockState()
        self._changed()
