"""`mockserver drift`: replay a recording against the fake (or any base URL) and compare what comes back.

Requests are replayed in recorded order. Ids and URLs the target hands out differ from the recorded ones, so every
string the answer to a creating request (not a GET) or a job's last poll carries is paired with the string at the
same place in the recorded answer (enumerations aside), and later requests
(paths, queries, bodies) have recorded values swapped for the replayed ones: a status poll reads the replayed job,
a download fetches the replayed URL. Credentials were redacted when recording, so replays authenticate with their
own (`commands.CREDENTIALS`: a fresh IMS token, the Scenario key pair, the API keys). A job's polls are replayed
until the job ends (moving the target's clock through its control API when it has one, else waiting), then the
last poll is compared with the recorded last poll, and earlier polls with a recorded poll in the same status.
"""

from __future__ import annotations

import base64
import contextlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from .exchanges import Step, decode_body, is_json, media_type
from .redact import REDACTED
from .shape import ENUM_KEYS, Difference, compare, shape_of

# headers a client may rely on when the real service sends them; content-type is compared by media type
FAILED = "the request failed"  # how a replay the target never answered is noted
PRESENCE_HEADERS = ("retry-after", "x-request-id", "link", "location", "www-authenticate")
TERMINAL = frozenset({"succeeded", "failed", "canceled", "cancelled", "success", "failure", "error", "ready"})
_MIN_PAIRED = 6  # shorter strings ("1", "jpg") are never treated as ids to swap


@dataclass
class OperationReport:
    operation: str
    calls: int = 0
    recorded: list[int] = field(default_factory=list)  # statuses, in order, distinct
    replayed: list[int] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_status(self, recorded: int, replayed: int | None) -> None:
        self.calls += 1
        if recorded not in self.recorded:
            self.recorded.append(recorded)
        if replayed is not None and replayed not in self.replayed:
            self.replayed.append(replayed)

    def add(self, differences: list[Difference]) -> None:
        for difference in differences:
            if difference not in self.differences:
                self.differences.append(difference)


@dataclass
class Result:
    against: str
    operations: dict[str, OperationReport] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return any(op.differences for op in self.operations.values())

    def report(self, operation: str) -> OperationReport:
        return self.operations.setdefault(operation, OperationReport(operation))


class Replayer:
    def __init__(self, http: httpx.Client, credentials: dict[str, str], admin: bool, timeout: float) -> None:
        self.http = http
        self.credentials = credentials
        self.admin = admin  # the target is a fake with a control API: move its clock instead of waiting
        self.timeout = timeout
        self.swaps: dict[str, str] = {}  # recorded string -> replayed string
        self.token: str | None = None

    # --- requests ------------------------------------------------------------------------------------------

    def send(self, recorded: dict[str, Any], surface: str | None) -> httpx.Response | str:
        """Replay one recorded request; a string says why it could not be."""
        method = recorded["method"]
        target = self._target(recorded["path"], recorded.get("query") or "")
        headers = self._headers(recorded.get("headers") or {}, surface)
        body = recorded.get("body")
        content = decode_body(body)
        if content is None:
            content = _placeholder(body["binary"]["content_type"] if body else "")
            if content is None:
                return "a binary body recorded as a hash cannot be replayed (record with --keep-binary)"
        elif body and "json" in body:
            content = _json_bytes(self._swap(body["json"]))
            headers.setdefault("content-type", "application/json")
        elif body and "form" in body:
            content = self._form(body["form"])
        try:
            return self.http.request(method, target, headers=headers, content=content)
        except httpx.HTTPError as exc:
            return f"{FAILED}: {type(exc).__name__}: {exc}"

    def _target(self, path: str, query: str) -> str:
        own = {"client_id": self.credentials["ims_client_id"], "client_secret": self.credentials["ims_client_secret"]}
        pairs = parse_qsl(query, keep_blank_values=True) if REDACTED in query else []
        if any(k in own and v == REDACTED for k, v in pairs):  # credentials sent in the query: the replay's own
            query = urlencode([(k, own[k] if k in own and v == REDACTED else v) for k, v in pairs])
        whole = f"{path}?{query}" if query else path
        if whole in self.swaps:  # a URL an earlier answer handed out (a download, a status URL)
            swapped = self.swaps[whole]
            parts = urlsplit(swapped)
            return f"{parts.path}?{parts.query}" if parts.query else parts.path
        for recorded, replayed in sorted(self.swaps.items(), key=lambda kv: -len(kv[0])):
            if recorded in whole and "/" not in recorded:
                whole = whole.replace(recorded, replayed)
        return whole

    def _headers(self, recorded: dict[str, str], surface: str | None) -> dict[str, str]:
        headers = {k: v for k, v in recorded.items() if k not in ("x-request-id", "cookie")}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and REDACTED in auth:
            headers["authorization"] = f"Bearer {self._token()}"
        elif auth.lower().startswith("basic ") and REDACTED in auth:
            pair = f"{self.credentials['scenario_api_key']}:{self.credentials['scenario_api_secret']}"
            headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        if headers.get("x-api-key") == REDACTED:
            key = "training_api_key" if surface == "training" else "ims_client_id"
            headers["x-api-key"] = self.credentials[key]
        return {k: self._swap(v) for k, v in headers.items() if REDACTED not in v}

    def _form(self, fields: list[list[str]]) -> bytes:
        own = {"client_id": self.credentials["ims_client_id"], "client_secret": self.credentials["ims_client_secret"]}
        pairs = [(k, own.get(k, v) if v == REDACTED else v) for k, v in fields]
        return urlencode(pairs).encode()

    def _token(self) -> str:
        if self.token is None:
            answer = self.http.post(
                "/ims/token/v3",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.credentials["ims_client_id"],
                    "client_secret": self.credentials["ims_client_secret"],
                    "scope": "openid,AdobeID,firefly_api",
                },
            )
            self.token = str(_json(answer).get("access_token", "")) if answer.status_code == 200 else ""
        return self.token

    def _swap(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.swaps.get(value, value)
        if isinstance(value, list):
            return [self._swap(v) for v in value]
        if isinstance(value, dict):
            return {k: self._swap(v) for k, v in value.items()}
        return value

    # --- answers -------------------------------------------------------------------------------------------

    def learn(self, recorded: dict[str, Any], answer: httpx.Response) -> None:
        """Pair the strings of a recorded answer with the replayed answer's; remember a fresh access token."""
        body = recorded.get("body") or {}
        if "json" not in body or not is_json(answer.headers.get("content-type", "")):
            return
        replayed = _json(answer)
        if isinstance(replayed, dict) and isinstance(replayed.get("access_token"), str):
            self.token = replayed["access_token"]
        for old, new in _pairs(body["json"], replayed):
            if old != new and len(old) >= _MIN_PAIRED and old != REDACTED:
                self.swaps[old] = new
                if "://" in old and "://" in new:
                    o, n = urlsplit(old), urlsplit(new)
                    self.swaps[f"{o.path}?{o.query}" if o.query else o.path] = n.geturl()

    def wait(self, seconds: float) -> None:
        seconds = max(seconds, 0.05)
        if self.admin:
            self.http.post("/__admin/clock/advance", json={"seconds": seconds})
        else:
            time.sleep(min(seconds, 2.0))


def compare_answers(recorded: dict[str, Any], answer: httpx.Response, statuses: bool = True) -> list[Difference]:
    """Status, the headers that matter, and the body's shape."""
    found: list[Difference] = []
    if recorded["status"] != answer.status_code:
        found.append(Difference("status", "", str(recorded["status"]), str(answer.status_code)))
    recorded_headers = {k.lower(): v for k, v in (recorded.get("headers") or {}).items()}
    old_type = media_type(recorded_headers.get("content-type", ""))
    new_type = media_type(answer.headers.get("content-type", ""))
    if old_type != new_type:
        found.append(Difference("header", "content-type", old_type or "none", new_type or "none"))
    for name in PRESENCE_HEADERS:  # one a client may rely on, gone (one the target adds is harmless: its own ids)
        if name in recorded_headers and name not in answer.headers:
            found.append(Difference("header", name, "present", "absent"))
    body = recorded.get("body")
    if body and "json" in body and is_json(answer.headers.get("content-type", "")):
        found += compare(shape_of(body["json"]), shape_of(_json(answer)))
    elif body and answer.content:
        kind = next(iter(body), "")
        if kind == "json" or (new_type.endswith("json") and kind != "json"):
            found.append(Difference("body", "(body)", kind, "json" if new_type.endswith("json") else "other"))
    elif bool(body) != bool(answer.content) and answer.request.method != "HEAD":
        found.append(
            Difference("body", "(body)", "present" if body else "empty", "present" if answer.content else "empty")
        )
    return found


def replay(steps: list[Step], http: httpx.Client, credentials: dict[str, str], admin: bool, timeout: float) -> Result:
    result = Result(str(http.base_url).rstrip("/"))
    replayer = Replayer(http, credentials, admin, timeout)
    for step in steps:
        report = result.report(step.operation)
        if step.exchange is not None:
            _replay_one(replayer, step.exchange, report)
        elif step.job is not None:
            _replay_job(replayer, step.job, report)
    return result


def _replay_one(replayer: Replayer, exchange: dict[str, Any], report: OperationReport) -> None:
    recorded = exchange["response"]
    answer = replayer.send(exchange["request"], exchange.get("surface"))
    if isinstance(answer, str):
        report.add_status(recorded["status"], None)
        report.add(_unanswered(recorded["status"], answer))
        if answer not in report.notes:
            report.notes.append(answer)
        return
    report.add_status(recorded["status"], answer.status_code)
    report.add(compare_answers(recorded, answer))
    if exchange["request"]["method"] != "GET":  # what it created; a read's ids are the target's own (fixtures)
        replayer.learn(recorded, answer)


def _replay_job(replayer: Replayer, job: dict[str, Any], report: OperationReport) -> None:
    polls: list[dict[str, Any]] = job["polls"]
    first = polls[0]
    by_status = {_status(p["response"]): p for p in polls}
    last = polls[-1]
    deadline = time.monotonic() + replayer.timeout
    index = 0
    while True:
        recorded = polls[min(index, len(polls) - 1)]
        answer = replayer.send(first["request"], job.get("surface"))
        if isinstance(answer, str):
            report.add_status(recorded["response"]["status"], None)
            report.add(_unanswered(recorded["response"]["status"], answer))
            report.notes.append(answer)
            return
        status = _status_of(answer)
        finished = status is None or status in TERMINAL or answer.status_code >= 400
        if finished or time.monotonic() > deadline:
            report.add_status(last["response"]["status"], answer.status_code)
            report.add(compare_answers(last["response"], answer))
            replayer.learn(last["response"], answer)
            if not finished:
                report.notes.append(f"the replayed job had not ended after {replayer.timeout:g} s")
            return
        same = by_status.get(status)
        report.add_status(recorded["response"]["status"], answer.status_code)
        if same is not None:
            report.add(compare_answers(same["response"], answer))
        following = polls[index + 1] if index + 1 < len(polls) else None
        replayer.wait(following["at"] - recorded["at"] if following else 1.0)
        index += 1


def _unanswered(recorded: int, why: str) -> list[Difference]:
    """A request the target never answered (down, refusing, timing out) is drift: a scheduled run must not pass."""
    return [Difference("status", "", str(recorded), "no answer")] if why.startswith(FAILED) else []


def _status(response: dict[str, Any]) -> str | None:
    body = response.get("body") or {}
    return _status_in(body.get("json"))


def _status_of(answer: httpx.Response) -> str | None:
    return _status_in(_json(answer)) if is_json(answer.headers.get("content-type", "")) else None


def _status_in(value: Any) -> str | None:
    for holder in (value, value.get("job") if isinstance(value, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("status"), str):
            return str(holder["status"])
    return None


def _pairs(old: Any, new: Any, depth: int = 0) -> Iterator[tuple[str, str]]:
    """Strings at the same place in two JSON values (array items by index)."""
    if depth > 32:
        return
    if isinstance(old, str) and isinstance(new, str):
        yield old, new
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() & new.keys() - ENUM_KEYS:
            yield from _pairs(old[key], new[key], depth + 1)
    elif isinstance(old, list) and isinstance(new, list):
        for a, b in zip(old, new, strict=False):
            yield from _pairs(a, b, depth + 1)


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _placeholder(content_type: str) -> bytes | None:
    """An image of the recorded type stands in for an image body recorded as a hash only."""
    formats = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
    kind = formats.get(media_type(content_type))
    if kind is None:
        return None
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (512, 512), (120, 140, 160)).save(out, kind)
    return out.getvalue()


@contextlib.contextmanager
def _target(against: str | None, fixtures: str | None) -> Iterator[tuple[str, bool]]:
    """The base URL to replay against, and whether it has a control API; a fake of our own when none is given."""
    if against is not None:
        base = against.rstrip("/")
        try:
            admin = httpx.get(f"{base}/__admin/clock", timeout=10).status_code == 200
        except httpx.HTTPError:
            admin = False
        yield base, admin
        return
    from ..testing import run_server

    with run_server(fixtures=fixtures) as fake:
        yield fake.base_url, True


def replay_recording(
    steps: list[Step], against: str | None, fixtures: str | None, credentials: dict[str, str], timeout: float
) -> Result:
    with _target(against, fixtures) as (base, admin), httpx.Client(base_url=base, timeout=60) as http:
        return replay(steps, http, credentials, admin, timeout)
