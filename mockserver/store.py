"""Where the world's objects live. One interface, an in-memory implementation by default.

Objects are stored by kind and key with the tenant that owns them, so listing and per-tenant reset stay cheap.
A durable implementation (SQLite) can sit behind the same methods; callers re-`put` an object after changing it.
A store may also group the writes of one event-loop round into one commit (SQLite does): it then offers
`settled()`, the commit an answer must await before it starts (None when nothing is pending), and
`commit_batch()`, which commits now; the world, the gateway and the journal use them when present.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from itertools import islice
from operator import indexOf
from typing import Any, Protocol

from .surface import SurfaceError


def settle(future: asyncio.Future[None], failure: BaseException | None = None) -> None:
    """Release the answers waiting for a group commit (the SQLite store's, the journal's): with its failure, if it
    failed, so they fail too; marked retrieved, so an answer no longer waiting is not a warning."""
    if future.done():
        return
    if failure is None:
        future.set_result(None)
    else:
        future.set_exception(failure)
        future.exception()


# Meta entries whose name starts with this survive a full reset (the world's identity, e.g. its URL signing key).
KEEP_PREFIX = "config:"


UNAVAILABLE = "The database is unavailable; try again shortly (retry-after)."  # for surfaces without their own words


class StoreUnavailable(SurfaceError):
    """The shared store (PostgreSQL) cannot be reached. A refusal like any other: raised wherever the store is
    used, rendered once by the request's surface as 503 in its own format; the replica recovers by itself once
    the database answers again."""

    def __init__(self) -> None:
        super().__init__(503, None, None, {"retry-after": "1"})


class Store(Protocol):
    def get(self, kind: str, key: str) -> Any | None: ...
    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def discard(self, kind: str, key: str) -> None: ...
    def items(self, kind: str, tenant: str | None = None) -> list[Any]: ...
    def oldest(self, kind: str, n: int) -> list[Any]: ...
    def clear(self, tenant: str | None = None) -> None: ...
    def count(self, kind: str, tenant: str | None = None) -> int: ...
    def transaction(self) -> Any: ...
    def dump(self) -> list[tuple[str, str, str, Any]]: ...
    def meta_get(self, name: str) -> Any | None: ...
    def meta_put(self, name: str, value: Any) -> None: ...
    def meta_delete(self, name: str) -> None: ...
    def meta_init(self, name: str, value: Any) -> Any: ...
    def next_counter(self, name: str) -> int: ...
    def data_version(self) -> int: ...
    def revision(self) -> tuple[int, int]: ...


Undo = tuple[str, str, Any, str] | Callable[[], None]


class MemoryStore:
    """Dicts keyed by kind; a per-tenant key index makes tenant listings and resets proportional to the tenant.

    A transaction keeps an undo log, so an exception inside it rolls every `put`, `delete`, `clear` and meta change
    back, as SQLite does. Objects are shared, not copied: a change made in place to a stored object is only undone
    if it was `put` inside the transaction from a fresh copy."""

    shared = False

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Any]] = {}
        self._owner: dict[str, dict[str, str]] = {}
        self._by_tenant: dict[str, dict[str, dict[str, None]]] = {}
        self._meta: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._depth = 0
        # (kind, key, object, owner) to put back (object None: delete it), or a callable for a meta change
        self._undo: list[Undo] | None = None
        self._transaction = _Transaction(self)
        # Per kind a transaction deleted from (or moved a key of): where each key it deleted stood, in order of
        # deletion, so a rollback puts the keys back in their places (listings and eviction go oldest first)
        self._order: dict[str, dict[str, int]] = {}
        self._writes = 0  # bumped by every change, rollbacks included: what `revision` reports

    def _remember(self, kind: str, key: str, deleting: bool = False) -> None:
        """Inside a transaction, note how to put (kind, key) back as it is now (and, for a delete, where the key
        stands: a search from the front; not a copy of the kind's order). An entry is a tuple, not a closure: one
        is made for every write of every request."""
        undo = self._undo
        if undo is None:
            return
        table = self._objects.get(kind)
        old = table.get(key) if table is not None else None
        if deleting and old is not None:
            assert table is not None
            positions = self._order.setdefault(kind, {})
            if key not in positions:  # a key's first deletion is where it goes back to
                positions[key] = indexOf(table, key)
        undo.append((kind, key, old, self._owner[kind][key] if old is not None else ""))

    def get(self, kind: str, key: str) -> Any | None:
        table = self._objects.get(kind)
        return table.get(key) if table is not None else None

    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None:
        table, owners = self._objects.get(kind), self._owner.get(kind)
        if table is None or owners is None:  # a kind's first object
            self._remember(kind, key)
            self._put(kind, key, obj, tenant)
            return
        # `_remember` and `_put` in one: this runs for every object every request writes
        previous = owners.get(key)
        undo = self._undo
        if undo is not None:
            if previous is not None and previous != tenant and kind not in self._order:  # a move re-indexes
                self._order[kind] = {}
            undo.append((kind, key, table.get(key), previous if previous is not None else ""))
        self._writes += 1
        table[key] = obj
        if previous != tenant:
            if previous is not None:
                self._by_tenant[kind][previous].pop(key, None)
            owners[key] = tenant
            index = self._by_tenant.setdefault(kind, {})
            keys = index.get(tenant)
            if keys is None:
                keys = index[tenant] = {}
            keys[key] = None

    def _put(self, kind: str, key: str, obj: Any, tenant: str) -> None:
        self._writes += 1
        self._objects.setdefault(kind, {})[key] = obj
        owners = self._owner.setdefault(kind, {})
        if owners.get(key) != tenant:
            previous = owners.get(key)
            if previous is not None:
                self._by_tenant[kind][previous].pop(key, None)
            owners[key] = tenant
            self._by_tenant.setdefault(kind, {}).setdefault(tenant, {})[key] = None

    def delete(self, kind: str, key: str) -> None:
        self._remember(kind, key, deleting=True)
        self._delete(kind, key)

    def discard(self, kind: str, key: str) -> None:
        """A delete that a rollback leaves done: eviction's, of keys the transaction has not written otherwise,
        whose objects were due to go whatever the request around it does. Not in the undo log, so not searched
        for (eviction deletes from the front, and a dict keeps its deleted slots at the front until it grows),
        unless the transaction deleted from the kind before: their places, where a rollback puts them back, move
        up past it."""
        positions = self._order.get(kind) if self._undo is not None else None
        table = self._objects.get(kind)
        if positions and table is not None and key in table:
            gone = indexOf(table, key)
            for deleted, index in positions.items():
                if index > gone:
                    positions[deleted] = index - 1
        self._delete(kind, key)

    def _delete(self, kind: str, key: str) -> None:
        self._writes += 1
        table = self._objects.get(kind)
        if table is None or key not in table:
            return
        del table[key]
        tenant = self._owner[kind].pop(key)
        self._by_tenant[kind][tenant].pop(key, None)

    def items(self, kind: str, tenant: str | None = None) -> list[Any]:
        table = self._objects.get(kind, {})
        if tenant is None:
            return list(table.values())
        keys = self._by_tenant.get(kind, {}).get(tenant, {})
        return [table[k] for k in keys]

    def oldest(self, kind: str, n: int) -> list[Any]:
        """The kind's first `n` objects in insertion order (eviction's candidates), without listing the kind. (A
        store may look at the oldest objects of every kind only, and find fewer: SQLite does.)"""
        return list(islice(self._objects.get(kind, {}).values(), n))

    def count(self, kind: str, tenant: str | None = None) -> int:
        if tenant is not None:
            return len(self._by_tenant.get(kind, {}).get(tenant, {}))
        return len(self._objects.get(kind, {}))

    def clear(self, tenant: str | None = None) -> None:
        """Forget every object (and every meta value but the kept ones), or one tenant's objects."""
        self._writes += 1
        undo = self._undo
        if undo is not None:  # as deletes from the front, one after the other: one pass a kind
            for kind, table in self._objects.items():
                owners, positions, gone = self._owner[kind], self._order.setdefault(kind, {}), 0
                for index, (key, obj) in enumerate(table.items()):
                    if tenant is None or owners[key] == tenant:
                        positions.setdefault(key, index - gone)
                        gone += 1
                        undo.append((kind, key, obj, owners[key]))
        if tenant is None:
            for name in [n for n in self._meta if not n.startswith(KEEP_PREFIX)]:
                self.meta_delete(name)
            self._objects.clear()
            self._owner.clear()
            self._by_tenant.clear()
            return
        for kind, by_tenant in self._by_tenant.items():
            for key in list(by_tenant.pop(tenant, {})):
                self._objects[kind].pop(key, None)
                self._owner[kind].pop(key, None)

    def dump(self) -> list[tuple[str, str, str, Any]]:
        """Every object as (kind, key, tenant, object)."""
        return [
            (kind, key, self._owner[kind][key], obj)
            for kind, table in self._objects.items()
            for key, obj in table.items()
        ]

    def meta_get(self, name: str) -> Any | None:
        return self._meta.get(name)

    def _remember_meta(self, name: str) -> None:
        if self._undo is None:
            return
        if name in self._meta:
            old = self._meta[name]
            self._undo.append(lambda: self._meta.__setitem__(name, old))
        else:
            self._undo.append(lambda: self._meta.pop(name, None))

    def meta_put(self, name: str, value: Any) -> None:
        self._writes += 1
        self._remember_meta(name)
        self._meta[name] = value

    def meta_delete(self, name: str) -> None:
        self._writes += 1
        self._remember_meta(name)
        self._meta.pop(name, None)

    def meta_init(self, name: str, value: Any) -> Any:
        """Store `value` under `name` unless something is there already; return what is stored."""
        with self.transaction():
            if name not in self._meta:
                self.meta_put(name, value)
            return self._meta[name]

    def next_counter(self, name: str) -> int:
        with self.transaction():
            self.meta_put(name, self._meta.get(name, 0) + 1)
            return self._meta[name]

    def data_version(self) -> int:
        return 0

    def revision(self) -> tuple[int, int]:
        """Changes with every write: what a cache of derived answers checks before reusing one."""
        return (0, self._writes)

    def close(self) -> None:
        pass

    def transaction(self) -> _Transaction:
        """All or nothing: changes made inside are undone if it raises. Handlers run on one event loop, so the
        lock only matters to threads (the test client, the pytest plugin's callers); uncontended it is cheap."""
        return self._transaction

    def _rollback(self, undo: list[Undo]) -> None:
        """Undo a failed outermost transaction's changes, newest first, and restore the key order of the kinds
        it deleted from."""
        self._writes += 1
        for step in reversed(undo):
            if callable(step):
                step()
                continue
            kind, key, old, owner = step
            if old is None:
                self._delete(kind, key)
            else:
                self._put(kind, key, old, owner)
        for kind, positions in self._order.items():
            table = self._objects.get(kind, {})
            keys = [key for key in table if key not in positions]  # as after the deletions
            for key, index in reversed(positions.items()):  # each put back where it stood, newest deletion first
                if key in table:
                    keys.insert(index, key)
            self._reorder(kind, keys)

    def _reorder(self, kind: str, order: list[str]) -> None:
        """Put a kind's keys (and its per-tenant index) back in `order` after a rollback re-added some."""
        table = self._objects.get(kind, {})
        rank = {key: index for index, key in enumerate(order)}
        ordered = sorted(table, key=lambda key: rank.get(key, len(rank)))
        self._objects[kind] = {key: table[key] for key in ordered}
        by_tenant: dict[str, dict[str, None]] = {}
        for key in ordered:
            by_tenant.setdefault(self._owner[kind][key], {})[key] = None
        self._by_tenant[kind] = by_tenant


class _Transaction:
    """`MemoryStore.transaction()`: one reusable context manager per store (the depth is the store's), cheaper
    than a generator-based one on every write of every request."""

    __slots__ = ("store",)

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        store._lock.acquire()
        if store._depth == 0:
            store._undo = []
        store._depth += 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        store = self.store
        try:
            store._depth -= 1
            if store._depth == 0:
                undo, store._undo = store._undo, None
                if kind is not None:
                    store._rollback(undo or [])
                if store._order:
                    store._order = {}
        finally:
            store._lock.release()
