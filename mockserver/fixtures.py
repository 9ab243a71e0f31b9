"""Seed data: every *.yaml, *.yml and *.json file in the fixtures folder, merged, checked against a schema.

A malformed file stops start-up with a message naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

WORK = ("generate", "video", "training", "training_hq")  # the kinds of work a timing plan is made for
_MODEL = {
    "type": "object",
    "required": ["displayName"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        # Adobe's tutorial shows "urn:aaid:sc:VA6C2:bc1f46cd-be98-4a7b-9ffe-1111111111" (not a full uuid)
        "assetId": {"type": "string", "pattern": "^urn:aaid:sc:[A-Za-z0-9]+:[A-Za-z0-9-]+$"},
        "displayName": {"type": "string", "minLength": 1},
        "assetName": {"type": "string"},
        "tenant": {"type": "string"},
        "trainingMode": {"enum": ["subject", "style"]},
        "baseModel": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
        "publishedState": {"enum": ["never", "published", "unpublished"]},
        "samplePrompt": {"type": "string"},
        "conceptId": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "etag": {"type": "string", "pattern": '^"[0-9a-f]{32}"$'},
        "version": {"type": "string", "minLength": 1},
        "createdDate": {"type": "integer", "minimum": 0},
        "modifiedDate": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "clients": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["client_id", "client_secret"],
                "properties": {
                    "client_id": {"type": "string", "minLength": 1},
                    "client_secret": {"type": "string", "minLength": 1},
                    "tenant": {"type": "string"},
                    "name": {"type": "string"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
        "custom_models": {"type": "array", "items": _MODEL},
        "scenario": {"type": "object"},
        # a recorded `GET /v1/models/{id}` reply, dropped in unchanged: one Scenario model
        "model": {"type": "object"},
        # seconds a job of each kind waits and runs under the "realistic" profile (`mockserver fixtures-from`
        # measures them in a recording), instead of the built-in figures
        "timing": {
            "type": "object",
            "propertyNames": {"enum": list(WORK)},
            "additionalProperties": {
                "type": "object",
                "required": ["pending", "running"],
                "properties": {
                    "pending": {"type": "number", "minimum": 0, "maximum": 86400},
                    "running": {"type": "number", "minimum": 0, "maximum": 86400},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

_VALIDATOR = Draft202012Validator(SCHEMA)


class FixtureError(Exception):
    pass


@dataclass
class Fixtures:
    clients: list[dict[str, Any]] = field(default_factory=list)
    custom_models: list[dict[str, Any]] = field(default_factory=list)
    scenario: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    timing: dict[str, dict[str, float]] = field(default_factory=dict)  # work -> {pending, running} seconds


def load(folder: str | Path) -> Fixtures:
    root = Path(folder)
    if not root.is_dir():
        raise FixtureError(f"{root}: fixtures folder not found")
    merged = Fixtures()
    for path in sorted(p for p in root.iterdir() if p.suffix in {".yaml", ".yml", ".json"} and p.is_file()):
        data = _read(path)
        error = next(iter(sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise FixtureError(f"{path}: field {where}: {error.message}")
        merged.clients += data.get("clients", [])
        merged.custom_models += data.get("custom_models", [])
        if "model" in data:
            merged.scenario.setdefault("models", []).append(data["model"])
        for key, items in data.get("scenario", {}).items():
            if not isinstance(items, list):
                raise FixtureError(f"{path}: field scenario/{key}: must be a list")
            merged.scenario.setdefault(key, []).extend(items)
        merged.timing.update(data.get("timing", {}))
        merged.files.append(str(path))
    return merged


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_LOADER)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise FixtureError(f"{path}: cannot be parsed: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FixtureError(f"{path}: field (top level): must be a mapping")
    return data


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
