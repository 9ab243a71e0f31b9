"""The request journal: a bounded record of what clients sent and what they got, for tests to assert on."""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from .surface import SurfaceError


class Journal:
    """A ring buffer: the newest `size` requests, oldest first. Memory stays bounded however long it runs."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=max(size, 1))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        """No lock: counting and appending to a deque are each atomic, and this runs once per request."""
        entry["seq"] = next(self._ids)
        self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def query(
        self,
        path: str | None = None,
        method: str | None = None,
        tenant: str | None = None,
        status: int | None = None,
        surface: str | None = None,
    ) -> list[dict[str, Any]]:
        found = (e for e in self.entries() if _keep(e, path, method, tenant, status, surface))
        return [{**e, "time": iso(e["time"]), "headers": readable(e["headers"])} for e in found]


HEADER_CHARS = 512


def readable(headers: Any) -> dict[str, str]:
    """Journal headers as a dict without credentials, each value capped. Entries hold the raw ASGI list until
    someone reads them, so recording stays cheap."""
    if isinstance(headers, dict):
        return headers
    return {k.decode("latin-1"): v.decode("latin-1")[:HEADER_CHARS] for k, v in headers if k != b"authorization"}


def iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds")


class SharedJournal(Journal):
    """The journal kept in the durable store, so every worker process sees every request."""

    def __init__(self, store: Any, size: int) -> None:
        super().__init__(size)
        self.store = store
        self.size = max(size, 1)

    def record(self, entry: dict[str, Any]) -> None:
        # A lost database (StoreUnavailable): the answer, a 503, goes out unjournaled
        with contextlib.suppress(SurfaceError):
            self.store.journal_append({**entry, "headers": readable(entry["headers"])}, self.size)

    def clear(self) -> None:
        self.store.journal_clear()

    def entries(self) -> list[dict[str, Any]]:
        return self.store.journal_entries(self.size)


def _keep(
    entry: dict[str, Any],
    path: str | None,
    method: str | None,
    tenant: str | None,
    status: int | None,
    surface: str | None,
) -> bool:
    if path is not None and not (entry["path"] == path or fnmatch.fnmatchcase(entry["path"], path)):
        return False
    if method is not None and entry["method"] != method.upper():
        return False
    if tenant is not None and entry["tenant"] != tenant:
        return False
    if status is not None and entry["status"] != status:
        return False
    return surface is None or entry["surface"] == surface
