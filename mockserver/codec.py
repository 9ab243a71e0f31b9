"""Turning the world's objects into JSON-able dicts and back: for state export/import and the durable store."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from .core.assets import Asset
from .core.faults import FaultRule
from .core.jobs import Job, Outcome, Plan
from .core.registry import Model, TrainingImage
from .core.tenants import Token
from .core.uploads import Upload

_TYPES: dict[str, type] = {
    "token": Token,
    "model": Model,
    "training_image": TrainingImage,
    "asset": Asset,
    "fault": FaultRule,
    "job": Job,
    "upload": Upload,
}


def _base(kind: str) -> str:
    return "job" if kind.startswith("job:") else kind


def encode(kind: str, obj: Any) -> Any:
    if kind == "blob":
        return base64.b64encode(obj).decode("ascii")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


KINDS = frozenset({*_TYPES, "blob", "model_alias", "rate"})  # rate: a rate-limit window, never exported


def decode(kind: str, data: Any) -> Any:
    """Rebuild one object; unknown kinds and malformed data raise ValueError or TypeError."""
    kind = _base(kind)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "model_alias":
        if not isinstance(data, str):
            raise ValueError("a model_alias is a model id")
        return data
    if not isinstance(data, (dict, str)):
        raise ValueError(f"{kind} data must be an object")
    if kind == "blob":
        if not isinstance(data, str):
            raise ValueError("a blob is base64 text")
        return base64.b64decode(data)
    if not isinstance(data, dict):
        raise ValueError(f"{kind} data must be an object")
    if kind == "job":
        data = dict(data)
        data["plan"] = Plan(**data["plan"])
        data["outcome"] = Outcome(**data["outcome"]) if data.get("outcome") else None
        return Job(**data)
    cls = _TYPES.get(kind)
    return cls(**data) if cls is not None else data
