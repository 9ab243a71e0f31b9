"""Outputs a job draws rather than stores: one picture description per job, and an id per output that finds it.

A generated picture is rendered on demand from what it shows (prompt, seed, size, the uploads under it), so all a
job needs to keep is that description, once for all its outputs: the render spec of `core.assets` with the seed
left out (what comes before it and after it in the cache key and in the caption lines). Its provider derives it
from the job's inputs or keeps it in `extra["picture"]`; each output keeps only its seed. A generate then writes
one object (one row in a database store) and eviction drops one, where an asset per output doubled both.

An output's id is the job id's last `:` segment, `_` and the output's index; the world turns it back into the job
(`World.draws_outputs` says which job ids and kinds, and how to get a job's picture) and the job into the `Asset`
downloads and the dashboard read. Outputs stored as assets (Scenario's and the training API's, whose ids are part
of their APIs, and jobs in state files written before) name their asset in `asset` instead.
"""

from __future__ import annotations

from typing import Any

from .assets import Asset
from .jobs import Job

PICTURE = "picture"  # the job.extra key of the description
_SEP = "_"
_MAX_INDEX_DIGITS = 4


def describe(
    mime: str,
    width: int,
    height: int,
    key: tuple[str, str],
    lines: tuple[list[str], list[str]],
    **drawn: Any,
) -> dict[str, Any]:
    """A job's picture: its cache key and caption lines around the seed (`key[0] + seed + key[1]`; the lines
    before `Seed: <seed>` and after it), and what else the render spec holds (`layers`, `sources`, `crf`)."""
    return {"mime": mime, "width": width, "height": height, "key": list(key), "lines": [*lines], **drawn}


def render_of(picture: dict[str, Any], seed: Any) -> dict[str, Any]:
    """One output's render spec, as an asset of its own would hold it (so the same picture, to the byte)."""
    head, tail = picture["key"]
    before, after = picture["lines"]
    spec = {"key": f"{head}{seed}{tail}", "lines": [*before, f"Seed: {seed}", *after]}
    for name in ("layers", "crf", "sources"):
        if name in picture:
            spec[name] = picture[name]
    return spec


def output_id(job_id: str, index: int) -> str:
    return f"{job_id.rsplit(':', 1)[-1]}{_SEP}{index}"


def parse(asset_id: str) -> tuple[str, int] | None:
    """The job id's last segment and the output's index an output id names (None: not an output id)."""
    token, sep, index = asset_id.rpartition(_SEP)
    if not (sep and token and index.isdigit() and index.isascii() and len(index) <= _MAX_INDEX_DIGITS):
        return None
    number = int(index)
    return (token, number) if str(number) == index else None  # one name an output


def asset_id(job: Job, index: int) -> str:
    """The id of a job's output: its asset's, or the drawn output's (an output without an asset is drawn)."""
    stored = job.outputs[index].get("asset")
    return stored if isinstance(stored, str) else output_id(job.id, index)


def drawn(job: Job, index: int, picture: dict[str, Any] | None) -> Asset | None:
    """A drawn output as an asset (created with its job, owned by its tenant); None if the job has no such one."""
    if picture is None or not 0 <= index < len(job.outputs) or "asset" in job.outputs[index]:
        return None
    render = render_of(picture, job.outputs[index]["seed"])
    mime, width, height = picture["mime"], picture["width"], picture["height"]
    return Asset(
        output_id(job.id, index), job.tenant, mime, width, height, job.created_at, render, meta={"job": job.id}
    )
