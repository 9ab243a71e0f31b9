"""Rate limits (`--rate-limits realistic`): sliding windows per (route, tenant) on the fake's clock.

The windows live in the store (kind "rate"), read and written inside one transaction, so workers and replicas
sharing a store count every request once between them: four generations a minute means four across all of them.
"""

from __future__ import annotations

from typing import Any

from .surface import Surface, Surfaces

KIND = "rate"


class RateLimiter:
    """At most MAX_KEYS (route, tenant) windows are kept: in open auth mode every new key is a new tenant, so idle
    windows are dropped, then the oldest. A window keeps only the hits its limits can still count (the newest
    `allowed` of the longest window), so it stays small."""

    MAX_KEYS = 10_000

    def __init__(self, surfaces: Surfaces, store: Any) -> None:
        self.store = store
        self.limits: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for surface in surfaces:
            self.limits.update(surface.rate_limits)
        self.longest = max((w for windows in self.limits.values() for w, _ in windows), default=0.0)

    def check(self, surface: Surface, method: str, path: str, tenant: str, now: float) -> float | None:
        """None when the request may go ahead (and it is counted), else the seconds to wait."""
        windows = self.limits.get((method, path))
        if not windows:
            return None
        key = f"{method} {path} {tenant}"
        longest = max(w for w, _ in windows)
        with self.store.transaction():
            found = self.store.get(KIND, key)
            hits = [t for t in (found["hits"] if found else []) if t > now - longest]
            wait = 0.0
            for window, allowed in windows:
                recent = [t for t in hits if t > now - window]
                if len(recent) >= allowed:
                    wait = max(wait, recent[-allowed] + window - now)
            if wait > 0:
                return wait
            if found is None and self.store.count(KIND) >= self.MAX_KEYS:
                self._sweep(now)
            hits.append(now)
            self.store.put(KIND, key, {"key": key, "hits": hits[-max(a for _, a in windows) :]}, tenant)
        return None

    def _sweep(self, now: float) -> None:
        windows = self.store.items(KIND)
        idle = [w for w in windows if not w["hits"] or w["hits"][-1] <= now - self.longest]
        for window in idle:
            self.store.delete(KIND, window["key"])
        left = [w for w in windows if w not in idle]
        for window in left[: max(0, len(left) - int(self.MAX_KEYS * 0.9))]:
            self.store.delete(KIND, window["key"])
