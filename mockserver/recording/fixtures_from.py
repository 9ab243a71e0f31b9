"""`mockserver fixtures-from`: a recording turned into a fixtures folder `mockserver serve --fixtures` loads.

- every Scenario model the recording read (`GET /v1/models/{id}`, else a row of `GET /v1/models`) becomes a file
  of its own, `scenario-model-<id>.json`, the recorded reply unchanged (`{"model": {...}}`), which the fixture
  loader takes as it is;
- every Firefly custom model listed (`GET /v3/custom-models`, `GET /v3/custom-models/{id}`) goes into
  `custom-models.yaml`, with the fields the fixture format has (the listing's `mediaType` is always the same);
- what a generation cost on Scenario (`creativeUnitsCost` of a generate answer, per output) goes into
  `scenario.costs` of `scenario-costs.yaml`;
- job timings measured from each job's polls (when it left pending, when it ended, halfway between the polls that
  saw it change) go into `timing.yaml`, the median per kind of work: the "realistic" profile then uses them.

Credentials are not recorded, so no `clients` are written: in the default open auth mode any pair works.
"""

from __future__ import annotations

import json
import re
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import yaml
from jsonschema import Draft202012Validator

from ..fixtures import _MODEL
from .exchanges import Step, load

PENDING = frozenset({"pending", "queued", "not_started", "waiting"})
RUNNING = frozenset({"running", "in-progress", "in_progress", "processing", "training", "started"})
_FIXTURE_FIELDS = frozenset(cast(dict[str, Any], _MODEL["properties"]))
_FIELD_CHECKS = {name: Draft202012Validator(sub) for name, sub in cast(dict[str, Any], _MODEL["properties"]).items()}


def write_fixtures(recording: str | Path, out: str | Path) -> list[str]:
    """Write the fixtures; return one line per file written, for the user."""
    steps = load(recording)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    models = scenario_models(steps)
    for model_id, record in models.items():
        name = f"scenario-model-{re.sub(r'[^A-Za-z0-9_.-]+', '-', model_id)[:100]}.json"
        (folder / name).write_text(json.dumps({"model": record}, indent=1, ensure_ascii=False) + "\n", "utf-8")
        written.append(f"{folder / name}: Scenario model {model_id}")
    custom = custom_models(steps)
    if custom:
        _yaml(folder / "custom-models.yaml", {"custom_models": custom})
        written.append(f"{folder / 'custom-models.yaml'}: {len(custom)} Firefly custom models")
    costs = scenario_costs(steps)
    if costs:
        _yaml(folder / "scenario-costs.yaml", {"scenario": {"costs": costs}})
        written.append(f"{folder / 'scenario-costs.yaml'}: the price of {len(costs)} Scenario models")
    timing = timings(steps)
    if timing:
        _yaml(folder / "timing.yaml", {"timing": timing})
        kinds = ", ".join(f"{work} {t['pending']:g}+{t['running']:g} s" for work, t in timing.items())
        written.append(f"{folder / 'timing.yaml'}: job timings ({kinds}) for --profile realistic")
    if not written:
        written.append(f"{folder}: nothing in the recording maps onto fixtures (no models, listings or jobs)")
    return written


def _answers(steps: list[Step], operation: str) -> list[Any]:
    found = []
    for step in steps:
        exchange = step.exchange
        if exchange is None or step.operation != operation or exchange["response"]["status"] != 200:
            continue
        body = exchange["response"].get("body") or {}
        if "json" in body:
            found.append(body["json"])
    return found


def scenario_models(steps: list[Step]) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = {}
    for answer in _answers(steps, "GET /v1/models"):
        for row in answer.get("models", []) if isinstance(answer, dict) else []:
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                models.setdefault(row["id"], row)
    for answer in _answers(steps, "GET /v1/models/{model_id}"):
        record = answer.get("model") if isinstance(answer, dict) else None
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            models[record["id"]] = record  # a full record wins over a listing row (rows leave out inputs)
    return models


def custom_models(steps: list[Step]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    rows: list[Any] = []
    for answer in _answers(steps, "GET /v3/custom-models"):
        rows += answer.get("custom_models", []) if isinstance(answer, dict) else []
    rows += _answers(steps, "GET /v3/custom-models/{asset_id:path}")
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("displayName"), str):
            continue
        model = {k: v for k, v in ((k, _field(k, v)) for k, v in row.items() if k in _FIXTURE_FIELDS) if v is not None}
        if "displayName" in model:
            found[str(row.get("assetId") or row["displayName"])] = model
    return list(found.values())


def _field(name: str, value: Any) -> Any:
    """A listing field as the fixture format takes it, or None when it cannot (the fake then fills in its own): the
    real API sends dates as date-time strings (the fixture, as the fake's listing, has milliseconds), and its etags
    and states need not be in the forms the fixture format knows."""
    if name in ("createdDate", "modifiedDate") and isinstance(value, str):
        try:
            value = round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return value if _FIELD_CHECKS[name].is_valid(value) else None


def scenario_costs(steps: list[Step]) -> list[dict[str, Any]]:
    costs: dict[str, dict[str, Any]] = {}
    for step in steps:
        exchange = step.exchange
        if exchange is None or step.operation != "POST /v1/generate/custom/{model_id}":
            continue
        request, response = exchange["request"], exchange["response"]
        answer = (response.get("body") or {}).get("json")
        sent = (request.get("body") or {}).get("json")
        if response["status"] != 200 or not isinstance(answer, dict):
            continue
        details = answer.get("costDetails")
        per_run = details.get("custom-generation") if isinstance(details, dict) else None
        outputs = sent.get("numOutputs", 1) if isinstance(sent, dict) else 1
        if isinstance(per_run, int | float) and isinstance(outputs, int) and outputs > 0:
            model = request["path"].rsplit("/", 1)[-1]
            costs[model] = {"model": model, "creativeUnits": round(per_run / outputs, 4)}
    return list(costs.values())


def timings(steps: list[Step]) -> dict[str, dict[str, float]]:
    measured: dict[str, list[tuple[float, float]]] = {}
    creators = {s.source.split("/", 1)[1]: s.operation for s in steps if s.exchange is not None}
    for step in steps:
        if step.job is None:
            continue
        work = _work(step.operation, creators.get(step.job.get("created_by") or "", ""))
        found = _phases(step.job["polls"])
        if work is not None and found is not None:
            measured.setdefault(work, []).append(found)
    return {
        work: {
            "pending": round(statistics.median(p for p, _ in pairs), 3),
            "running": round(statistics.median(r for _, r in pairs), 3),
        }
        for work, pairs in sorted(measured.items())
    }


def _work(poll: str, creator: str) -> str | None:
    if "/trainings/" in poll:
        return "training"
    if "/videos/" in creator:
        return "video"
    if poll.startswith("GET /v3/status/") or poll.startswith(("GET /v1/jobs/", "GET /predictions/")):
        return "generate"
    return None


def _phases(polls: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(pending, running) seconds of one job, from the times its polls saw each status; None when it never ended."""
    started: float | None = None
    previous = 0.0
    for poll in polls:
        status = _status(poll["response"])
        at = float(poll["at"])
        if status is None:
            return None
        if status not in PENDING and status not in RUNNING:  # ended: halfway between this poll and the last
            started = started if started is not None else previous  # never seen running: from the last pending
            return round(started, 3), round(max((previous + at) / 2 - started, 0.0), 3)
        if status in RUNNING and started is None:
            started = (previous + at) / 2
        previous = at
    return None


def _status(response: dict[str, Any]) -> str | None:
    value = (response.get("body") or {}).get("json")
    for holder in (value, value.get("job") if isinstance(value, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("status"), str):
            return str(holder["status"]).lower()
    return None


def _yaml(path: Path, data: dict[str, Any]) -> None:
    header = "# Written by `mockserver fixtures-from` from a recording.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
