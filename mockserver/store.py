"""Where the world's objects live. One interface, an in-memory implementation by default.

Objects are stored by kind and key with the tenant that owns them, so listing and per-tenant reset stay cheap.
A durable implementation (SQLite) can sit behind the same methods; callers re-`put` an object after changing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Store(Protocol):
    def get(self, kind: str, key: str) -> Any | None: ...
    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def items(self, kind: str, tenant: str | None = None) -> list[Any]: ...
    def clear(self, tenant: str | None = None) -> None: ...
    def count(self, kind: str) -> int: ...
    def transaction(self) -> Any: ...
    def dump(self) -> list[tuple[str, str, str, Any]]: ...
    def meta_get(self, name: str) -> Any | None: ...
    def meta_put(self, name: str, value: Any) -> None: ...
    def next_counter(self, name: str) -> int: ...
    def data_version(self) -> int: ...


class MemoryStore:
    """Dicts keyed by kind; a per-tenant key index makes tenant listings and resets proportional to the tenant."""

    shared = False

    def __init__(self) -> None:
        self._objects: dict[str, dict[str, Any]] = {}
        self._owner: dict[str, dict[str, str]] = {}
        self._by_tenant: dict[str, dict[str, dict[str, None]]] = {}
        self._meta: dict[str, Any] = {}

    def get(self, kind: str, key: str) -> Any | None:
        table = self._objects.get(kind)
        return table.get(key) if table is not None else None

    def put(self, kind: str, key: str, obj: Any, tenant: str = "") -> None:
        self._objects.setdefault(kind, {})[key] = obj
        owners = self._owner.setdefault(kind, {})
        if owners.get(key) != tenant:
            previous = owners.get(key)
            if previous is not None:
                self._by_tenant[kind][previous].pop(key, None)
            owners[key] = tenant
            self._by_tenant.setdefault(kind, {}).setdefault(tenant, {})[key] = None

    def delete(self, kind: str, key: str) -> None:
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

    def count(self, kind: str) -> int:
        return len(self._objects.get(kind, {}))

    def clear(self, tenant: str | None = None) -> None:
        if tenant is None:
            self._objects.clear()
            self._owner.clear()
            self._by_tenant.clear()
            self._meta.clear()
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

    def meta_put(self, name: str, value: Any) -> None:
        self._meta[name] = value

    def next_counter(self, name: str) -> int:
        self._meta[name] = self._meta.get(name, 0) + 1
        return self._meta[name]

    def data_version(self) -> int:
        return 0

    def close(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Handlers run to completion on one event loop, so an in-memory transaction needs no lock."""
        yield
