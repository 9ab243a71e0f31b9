"""Body shapes: what drift compares instead of values.

A JSON value's shape is its type, an object's keys and their shapes, and an array's items merged into one shape (keys
seen in any item). Values are ignored (ids, times, URLs, seeds naturally differ) except the strings under keys that
hold an enumeration (`status`, `type`, `privacy`, `error_code`, ...): those values are part of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ENUM_KEYS = frozenset(
    {
        "status",
        "type",
        "jobType",
        "privacy",
        "source",
        "publishedState",
        "trainingMode",
        "token_type",
        "error_code",
        "code",
        "error",
        "contentClass",
        "mediaType",
        "state",
    }
)
MAX_DEPTH = 32


@dataclass
class Shape:
    types: set[str] = field(default_factory=set)
    keys: dict[str, Shape] = field(default_factory=dict)  # for objects
    items: Shape | None = None  # for arrays: the merged shape of their items (None: every array was empty)
    values: set[str] = field(default_factory=set)  # for strings under an enum key

    def add(self, value: Any, enum: bool = False, depth: int = 0) -> Shape:
        kind = type_name(value)
        self.types.add(kind)
        if depth >= MAX_DEPTH:
            return self
        if kind == "object":
            for key, item in value.items():
                self.keys.setdefault(key, Shape()).add(item, key in ENUM_KEYS, depth + 1)
        elif kind == "array":
            for item in value:
                self.items = (self.items or Shape()).add(item, enum, depth + 1)
        elif kind == "string" and enum:
            self.values.add(value)
        return self


def shape_of(value: Any) -> Shape:
    return Shape().add(value)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # 0 and 0.0 are one JSON type
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class Difference:
    kind: str  # status, header, body, type, missing, extra, enum
    where: str  # a header name or a path into the body ("job.metadata.assetIds[]"), "" for the status
    recorded: str
    replayed: str

    def describe(self) -> str:
        where = f" {self.where}" if self.where else ""
        if self.kind == "missing":
            return f"missing key{where} (recorded {self.recorded})"
        if self.kind == "extra":
            return f"extra key{where} ({self.replayed})"
        return f"{self.kind}{where}: recorded {self.recorded}, replayed {self.replayed}"


def compare(recorded: Shape, replayed: Shape, where: str = "") -> list[Difference]:
    found: list[Difference] = []
    if recorded.types != replayed.types:
        found.append(Difference("type", where or "(body)", _types(recorded), _types(replayed)))
        if not recorded.types & replayed.types:
            return found
    if recorded.values and replayed.values and recorded.values != replayed.values:
        found.append(Difference("enum", where, _values(recorded), _values(replayed)))
    for key in recorded.keys:
        path = f"{where}.{key}" if where else key
        if key not in replayed.keys:
            found.append(Difference("missing", path, _types(recorded.keys[key]), ""))
        else:
            found += compare(recorded.keys[key], replayed.keys[key], path)
    for key in replayed.keys:
        if key not in recorded.keys and "object" in recorded.types:
            path = f"{where}.{key}" if where else key
            found.append(Difference("extra", path, "", _types(replayed.keys[key])))
    if recorded.items is not None and replayed.items is not None:
        found += compare(recorded.items, replayed.items, f"{where}[]")
    return found


def _types(shape: Shape) -> str:
    return "|".join(sorted(shape.types)) or "nothing"


def _values(shape: Shape) -> str:
    return "|".join(sorted(shape.values))
