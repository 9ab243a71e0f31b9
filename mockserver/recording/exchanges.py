"""The on-disk format of a recording: one JSON file per exchange, one per job's status polls.

```text
DIR/recording.json                      {"format": 1, "started": ISO time, "upstreams": {name: origin}}
DIR/exchanges/000003-post-v3-images-generate-async.json
DIR/jobs/urn-ff-jobs-ue1-...-3f2a9c1e.json
```

An exchange file is `{seq, operation, surface, upstream, started, elapsed_ms, request, response}` with `request`
`{method, path, query, headers, body}` and `response` `{status, headers, body}`. A job file holds every status poll
of one job in order, `{job, operation, surface, upstream, created_by, polls: [{seq, at, elapsed_ms, request,
response}]}`, `at` in seconds since the job was created (the answer to the request that created it arrived), or
since the first poll when the creating request was not recorded. `seq` orders everything recorded.

A body is one of `null`, `{"json": value}`, `{"form": [[name, value], ...]}`, `{"text": "..."}` or `{"binary":
{"sha256", "size", "content_type"}}` (plus `"base64"` with `--keep-binary`). Everything is redacted before it is
written (`redact.py`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .redact import Redactor

FORMAT = 1
MAX_TEXT = 1024 * 1024  # larger text bodies are kept as a hash, like binary ones
MAX_POLLS = 1000  # polls kept per job: a client polling forever must not fill the disk
MAX_KNOWN_JOBS = 100_000  # jobs whose creation (time, file) is remembered
MAX_OPEN_JOBS = 1000  # jobs whose polls are held in memory; one polled again later is read back from its file
JOB_KEYS = ("jobId", "id")  # where a creating answer names its job: {"jobId"}, {"job": {"jobId"}}, {"id"}


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    media = media_type(content_type)
    return media == "application/json" or media.endswith("+json")


def encode_body(data: bytes, content_type: str, redactor: Redactor, keep_binary: bool = False) -> dict[str, Any] | None:
    """A body as written to disk, redacted."""
    if not data:
        return None
    media = media_type(content_type)
    if is_json(content_type):
        try:
            return {"json": redactor.json(json.loads(data))}
        except ValueError:
            pass
    if media == "application/x-www-form-urlencoded":
        try:
            fields = parse_qsl(data.decode("utf-8"), keep_blank_values=True)
            return {"form": [list(pair) for pair in redactor.form(fields)]}
        except UnicodeDecodeError:
            pass
    textual = media.startswith("text/") or media.endswith(("xml", "json", "javascript")) or not media
    if textual and len(data) <= MAX_TEXT:
        try:
            return {"text": _loose_text(data.decode("utf-8"), redactor)}
        except UnicodeDecodeError:
            pass
    described: dict[str, Any] = {
        "binary": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "content_type": content_type}
    }
    if keep_binary:
        described["base64"] = base64.b64encode(data).decode("ascii")
    return described


def _loose_text(text: str, redactor: Redactor) -> str:
    """A text body that may be JSON or a form sent without saying so (no content type, `text/plain`): its secret
    fields are redacted by name as they would be under the right type; the text is kept as sent when none is."""
    start = text.lstrip()[:1]
    if start in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            pass
        else:
            cleaned = redactor.json(value)
            return text if cleaned == value else json.dumps(cleaned, ensure_ascii=False)
    elif "=" in text and not any(c.isspace() for c in text.strip()):
        try:
            fields = parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True)
        except ValueError:
            fields = []
        cleaned_fields = redactor.form(fields)
        if cleaned_fields != fields:
            return urlencode(cleaned_fields)
    return redactor.text(text)


def decode_body(body: dict[str, Any] | None) -> bytes | None:
    """The bytes of a recorded body as far as they were kept (None: a binary body recorded as a hash only)."""
    if body is None:
        return b""
    if "json" in body:
        return json.dumps(body["json"]).encode()
    if "form" in body:
        return urlencode([tuple(pair) for pair in body["form"]]).encode()
    if "text" in body:
        return str(body["text"]).encode()
    if "base64" in body:
        return base64.b64decode(body["base64"])
    return None


def job_ids(body: dict[str, Any] | None) -> list[str]:
    """The ids a creating answer names its job by (Firefly's jobId, Scenario's job.jobId, the training API's id)."""
    value = body.get("json") if body else None
    found: list[str] = []
    for holder in (value, value.get("job") if isinstance(value, dict) else None):
        if isinstance(holder, dict):
            found += [v for k in JOB_KEYS if isinstance(v := holder.get(k), str) and v]
    return found


def _slug(text: str, limit: int = 80) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "x"


def _write(path: Path, data: dict[str, Any], redactor: Redactor) -> None:
    """Write atomically (a reader never sees half a file), after the last scrub of remembered secrets."""
    text = json.dumps(redactor.scrub(data), indent=1, ensure_ascii=False)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, path)


@dataclass
class _Job:
    path: Path
    data: dict[str, Any]
    origin: float  # monotonic seconds the job's times count from


@dataclass
class Recording:
    """A recording being written: exchange files, and one file per job rewritten as its polls arrive."""

    root: Path
    redactor: Redactor = field(default_factory=Redactor)
    seq: int = 0
    created: dict[str, tuple[float, str | None]] = field(default_factory=dict)  # job id -> (monotonic time, file)
    jobs: dict[str, _Job] = field(default_factory=dict)  # the jobs polled last, at most MAX_OPEN_JOBS

    def start(self, upstreams: dict[str, str], started: str) -> None:
        (self.root / "exchanges").mkdir(parents=True, exist_ok=True)
        (self.root / "jobs").mkdir(exist_ok=True)
        meta = {"format": FORMAT, "started": started, "upstreams": upstreams}
        _write(self.root / "recording.json", meta, self.redactor)

    def add(self, exchange: dict[str, Any], job: str | None, finished: float) -> str:
        """Write one exchange (already redacted); `job` names the job a status poll reads. Returns the file."""
        self.seq += 1
        exchange = {"seq": self.seq, **exchange}
        if job is not None:
            return self._poll(exchange, job, finished)
        name = f"{self.seq:06d}-{_slug(exchange['operation'])}.json"
        _write(self.root / "exchanges" / name, exchange, self.redactor)
        if exchange["request"]["method"] != "GET" and exchange["response"]["status"] < 300:
            for job_id in job_ids(exchange["response"]["body"]):
                self._created(job_id, finished, name)
        return name

    def _created(self, job: str, at: float, name: str | None) -> None:
        if len(self.created) >= MAX_KNOWN_JOBS:
            self.created.pop(next(iter(self.created)))
        self.created[job] = (at, name)

    def _poll(self, exchange: dict[str, Any], job: str, finished: float) -> str:
        current = self.jobs.pop(job, None)
        if current is None:
            if job not in self.created:  # not seen created: its times count from this first poll
                self._created(job, finished, None)
            origin, creator = self.created[job]
            digest = hashlib.sha256(job.encode()).hexdigest()[:8]
            path = self.root / "jobs" / f"{_slug(job, 60)}-{digest}.json"
            if path.is_file():  # a job polled again after it was let go from memory: carry on its file
                current = _Job(path, json.loads(path.read_text(encoding="utf-8")), origin)
        if current is None:
            data = {
                "job": job,
                "operation": exchange["operation"],
                "surface": exchange["surface"],
                "upstream": exchange["upstream"],
                "created_by": creator,
                "polls": [],
            }
            current = _Job(path, data, origin)
        self.jobs[job] = current  # the most recently polled last
        if len(self.jobs) > MAX_OPEN_JOBS:
            del self.jobs[next(iter(self.jobs))]
        polls = current.data["polls"]
        if len(polls) >= MAX_POLLS:
            current.data["truncated"] = True
        else:
            at = round(finished - current.origin, 3)
            keep = ("seq", "started", "elapsed_ms", "request", "response")
            polls.append({"at": at, **{k: exchange[k] for k in keep if k in exchange}})
        _write(current.path, current.data, self.redactor)
        return f"jobs/{current.path.name}"


@dataclass
class Step:
    """One thing to replay, in recorded order: a single exchange, or the polls of one job."""

    seq: int
    operation: str
    source: str  # the file it came from
    exchange: dict[str, Any] | None = None
    job: dict[str, Any] | None = None


class RecordingError(Exception):
    """A folder that is not a recording, or a file in it that cannot be read."""


def load(root: str | Path) -> list[Step]:
    folder = Path(root)
    if not (folder / "exchanges").is_dir():
        raise RecordingError(f"{folder}: not a recording (no exchanges/ folder; make one with `mockserver record`)")
    steps: list[Step] = []
    for path in sorted((folder / "exchanges").glob("*.json")):
        data = _read(path)
        steps.append(Step(int(data.get("seq", 0)), str(data["operation"]), f"exchanges/{path.name}", exchange=data))
    for path in sorted((folder / "jobs").glob("*.json")) if (folder / "jobs").is_dir() else []:
        data = _read(path)
        if data.get("polls"):
            first = int(data["polls"][0].get("seq", 0))
            steps.append(Step(first, str(data["operation"]), f"jobs/{path.name}", job=data))
    steps.sort(key=lambda s: s.seq)
    return steps


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecordingError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(data, dict) or ("operation" not in data):
        raise RecordingError(f"{path}: not an exchange or job file")
    return data
