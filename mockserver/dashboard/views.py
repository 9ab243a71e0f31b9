"""What the dashboard shows, read from the same core the APIs use: jobs, finished images, the journal, models.

Plain functions from the world (or the journal) to rows the templates print; nothing here writes, and nothing is
kept between requests, so the dashboard can never disagree with what the APIs answer.
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..core import outputs
from ..core.assets import Asset
from ..core.jobs import Job, Phase, history, phase_of
from ..core.registry import PUBLIC, Model
from ..core.world import World
from ..journal import Journal
from ..providers.firefly import JOB_KINDS as FIREFLY_KINDS
from ..providers.scenario import JOB_KIND as SCENARIO_KIND
from ..providers.training import PREDICTION, TRAINING

# Every job kind, with the surface whose API created it.
JOB_SURFACES: dict[str, str] = {
    **{kind: "firefly" for kind in FIREFLY_KINDS},
    TRAINING: "training",
    PREDICTION: "training",
    SCENARIO_KIND: "scenario",
}
SURFACES = ("firefly", "training", "scenario")
STATUSES = tuple(phase.value for phase in Phase)
JOURNAL_SURFACES = ("firefly", "training", "scenario", "files", "none")
MAX_ROWS = 200  # a page lists at most this many rows (newest first) and says how many it left out
MAX_IMAGES = 120
_SECRET_HEADERS = ("authorization", "x-api-key", "cookie", "x-gw-ims-org-id")
# Query parameters that carry credentials (IMS takes client_id/client_secret in the query as well as the form).
_SECRET_PARAMS = ("client_secret", "access_token", "password", "secret", "api_key", "apikey", "token")
_CURL_SKIPPED = ("host", "content-length", "connection", "accept-encoding", "user-agent", "accept", "x-request-id")


class BadFilter(ValueError):
    """A filter value the page cannot use (answered 400 with this message)."""


def clock_text(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Step:
    phase: str
    at: float  # fake-clock instant the phase began
    offset: float  # seconds after the job's creation


@dataclass
class JobRow:
    job: Job
    surface: str
    status: str
    progress: float  # 0..100
    steps: list[Step]
    prompt: str
    bar: list[tuple[str, float]] = field(default_factory=list)  # (phase, width %) for the timeline bar
    elapsed: float = 0.0


def _prompt(job: Job) -> str:
    prompt = job.inputs.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def job_row(job: Job, now: float) -> JobRow:
    state = phase_of(job, now)
    steps = [Step(p.value, at, at - job.created_at) for p, at in history(job, now)]
    plan = job.plan
    total = max(plan.pending + plan.running, 1e-9)
    bar = [("pending", plan.pending / total * 100), ("running", plan.running / total * 100)]
    return JobRow(
        job=job,
        surface=JOB_SURFACES.get(job.kind, "?"),
        status=state.phase.value,
        progress=round(state.progress * 100, 1),
        steps=steps,
        prompt=_prompt(job),
        bar=bar,
        elapsed=min(job.elapsed(now) / total * 100, 100.0) if plan.unit == "seconds" else 0.0,
    )


def _check(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise BadFilter(f"{name} must be one of {', '.join(allowed)} (got {value[:40]!r})")
    return value


def _all_jobs(world: World, tenant: str | None, surface: str | None = None) -> list[Job]:
    found: list[Job] = []
    for kind, owner in JOB_SURFACES.items():
        if surface is None or owner == surface:
            found.extend(j for j in world.store.items(world.jobs.store_kind(kind), tenant or None) if not j.deleted)
    found.sort(key=lambda j: (j.created_at, j.id), reverse=True)
    return found


def jobs(world: World, tenant: str | None, surface: str | None, status: str | None) -> tuple[list[JobRow], int]:
    """Every surface's jobs, newest first, filtered; at most MAX_ROWS of them, and how many matched. Rows (with
    their timelines) are built only for the jobs shown: the page polls this every second."""
    surface = _check(surface, SURFACES, "surface")
    status = _check(status, STATUSES, "status")
    now = world.clock.now()
    found = _all_jobs(world, tenant, surface)
    if status is not None:
        found = [j for j in found if phase_of(j, now).phase.value == status]
    return [job_row(j, now) for j in found[:MAX_ROWS]], len(found)


def tenants(world: World) -> list[str]:
    """Tenants that own jobs or models, for the filters' choices."""
    seen: set[str] = set()
    for kind in JOB_SURFACES:
        seen.update(j.tenant for j in world.store.items(world.jobs.store_kind(kind)))
    seen.update(m.tenant for m in world.store.items("model") if m.tenant != PUBLIC)
    return sorted(seen)


@dataclass
class Picture:
    asset: Asset
    job: Job
    surface: str
    seed: Any
    prompt: str
    model: str


def _model_of(job: Job) -> str:
    inputs, extra = job.inputs, job.extra
    for value in (inputs.get("modelId"), extra.get("modelId"), inputs.get("model")):
        if isinstance(value, str) and value:
            return value
    models = extra.get("models")
    if isinstance(models, list) and models:
        return ", ".join(str(m.get("modelId", "?")) for m in models if isinstance(m, dict))
    version = inputs.get("version")
    return f"Firefly {version}" if isinstance(version, str) else ""


def pictures(world: World, tenant: str | None = None) -> list[Picture]:
    """Finished image outputs of succeeded jobs, newest first, at most MAX_IMAGES (videos are left out)."""
    now = world.clock.now()
    found: list[Picture] = []
    for job in _all_jobs(world, tenant):
        if not job.outputs or phase_of(job, now).phase is not Phase.SUCCEEDED:
            continue
        for index, out in enumerate(job.outputs):
            asset = world.output(job, index)
            if asset is not None and asset.mime.startswith("image/"):
                surface = JOB_SURFACES.get(job.kind, "?")
                found.append(Picture(asset, job, surface, out.get("seed"), _prompt(job), _model_of(job)))
                if len(found) >= MAX_IMAGES:
                    return found
    return found


def picture(world: World, asset_id: str) -> Picture | None:
    """One output with the job that made it (None for an unknown id or an asset no job produced)."""
    asset = world.assets.get(asset_id)
    if asset is None:
        return None
    job_id = asset.meta.get("job")  # Scenario's and drawn outputs name their job; else look through the owner's
    for kind, surface in JOB_SURFACES.items():
        table = world.jobs.store_kind(kind)
        known = world.store.get(table, job_id) if isinstance(job_id, str) else None
        for job in [known] if known is not None else world.store.items(table, asset.tenant):
            for index, out in enumerate(job.outputs):
                if outputs.asset_id(job, index) == asset_id:
                    return Picture(asset, job, surface, out.get("seed"), _prompt(job), _model_of(job))
    return None


@dataclass
class Entry:
    data: dict[str, Any]
    curl: str


def _status(value: str | None) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 3):
        raise BadFilter(f"status must be an HTTP status code such as 404 (got {value[:40]!r})")
    return int(value)


def requests(journal: Journal, base_url: str, filters: dict[str, str | None]) -> tuple[list[Entry], int]:
    """The journal, newest first and filtered, each entry with a curl command that replays it (credentials
    redacted); at most MAX_ROWS entries, and how many matched."""
    method = filters.get("method") or None
    if method is not None and not (method.isascii() and method.isalpha() and len(method) <= 10):
        raise BadFilter(f"method must be an HTTP method such as POST (got {method[:40]!r})")
    found = journal.query(
        path=filters.get("path") or None,
        method=method,
        tenant=filters.get("tenant") or None,
        status=_status(filters.get("status")),
        surface=_check(filters.get("surface"), JOURNAL_SURFACES, "surface"),
    )
    found.reverse()
    shown = found[:MAX_ROWS]
    for entry in shown:
        if entry.get("query"):
            entry["query"] = redact_query(entry["query"])
    return [Entry(e, curl(e, base_url)) for e in shown], len(found)


def redact_query(query: str) -> str:
    """The query string with credential parameters' values replaced by <redacted> (as shown and in curl)."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if not any(name.lower() in _SECRET_PARAMS for name, _ in pairs):
        return query
    kept = [(name, "<redacted>" if name.lower() in _SECRET_PARAMS else value) for name, value in pairs]
    return urllib.parse.urlencode(kept, safe="<>")


def curl(entry: dict[str, Any], base_url: str) -> str:
    """A curl command line for a journaled request. Credentials become <redacted>; the journal never keeps the
    Authorization header, so a request that sent one gets a placeholder only when its surface needs one."""
    query = redact_query(entry["query"]) if entry.get("query") else ""
    url = f"{base_url}{entry['path']}" + (f"?{query}" if query else "")
    parts = ["curl", "-X", entry["method"], url]
    headers: dict[str, str] = entry.get("headers") or {}
    for name, value in headers.items():
        if name in _CURL_SKIPPED:
            continue
        shown = "<redacted>" if name in _SECRET_HEADERS else value
        parts += ["-H", f"{name}: {shown}"]
    if entry.get("surface") in ("firefly", "training", "scenario") and "authorization" not in headers:
        parts += ["-H", "authorization: <redacted>"]
    body = entry.get("body")
    if isinstance(body, dict) and "_truncated" in body and len(body) == 1:
        parts += ["--data-binary", f"<{body['_truncated']} bytes, not journaled>"]
    elif body is not None:
        parts += ["--data-binary", orjson.dumps(body).decode()]
    return " ".join(shlex.quote(p) for p in parts)


@dataclass
class ModelRow:
    id: str
    name: str
    tenant: str
    surfaces: list[str]
    state: str
    trigger_word: str
    base: str
    mode: str
    published: str
    created: float


def _state(world: World, model: Model) -> str:
    """A Scenario model's own status as its API reports it; otherwise the training state every surface shares."""
    wire = model.extra.get("wire")
    if isinstance(wire, dict) and isinstance(wire.get("status"), str):
        return str(wire["status"])
    return str(world.training_state(model).value)


def models(world: World, tenant: str | None = None) -> dict[str, list[ModelRow]]:
    """The registry across surfaces, by owning tenant ("" is public: every tenant sees those)."""
    found = world.store.items("model", tenant) if tenant else world.store.items("model")
    if tenant and tenant != PUBLIC:
        found = [*found, *world.store.items("model", PUBLIC)]
    groups: dict[str, list[ModelRow]] = {}
    for model in sorted(found, key=lambda m: (m.tenant, -m.created_at, m.id)):
        if model.deleted:
            continue
        base = model.base_model or {}
        groups.setdefault(model.tenant, []).append(
            ModelRow(
                id=model.id,
                name=model.display_name,
                tenant=model.tenant,
                surfaces=list(model.surfaces),
                state=_state(world, model),
                trigger_word=(world.trigger_word(model) or "") if not model.ready else "",
                base=f"{base.get('name', '')} {base.get('version', '')}".strip(),
                mode=model.training_mode,
                published=model.published_state,
                created=model.created_at,
            )
        )
    return groups
