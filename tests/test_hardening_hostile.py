"""Hardening: hostile input over real sockets. Each case gets a clear error in the format of the surface it hit,
and the server goes on serving everyone else (every test ends by checking a normal client still gets through).

Cases: bodies over the limits (refused from the headers, before the body is read), bodies that never end or
stall, deeply nested JSON, very long headers, paths and queries, path traversal and tampered or expired signed
download URLs, tokens and keys of one tenant used against another's jobs and models, and hostile image uploads
(truncated, corrupt, a real decompression bomb, wrong content types).
"""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from PIL import Image

from mockserver.testing import MockServer, run_server, serve_process

WARM_MODEL = "urn:aaid:sc:VA6C2:3b0c9a3e-5d43-4c1f-9a57-2c0d8c7e9f11"
PRIVATE_MODEL = "urn:aaid:sc:VA6C2:c41e8d2a-0b6f-4a8e-9d3c-7e5f1a2b9c30"  # mock-client-id's own
SCENARIO_PRIVATE = "model_mock-copper-style"
SCENARIO_KEY = ("scenario-api-key", "scenario-api-secret")
SCENARIO_OTHER = ("scenario-other-key", "scenario-other-secret")
S3_ERROR = re.compile(
    rb'^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>(\w+)</Code><Message>[^<]+'
    rb"</Message></Error>$"
)


# --- a raw HTTP/1.1 exchange (no client library normalising paths or refusing odd requests) -----------------


@dataclass
class Reply:
    status: int | None  # None: the server closed the connection without answering
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return orjson.loads(self.body)


def raw(mock: MockServer, data: bytes, timeout: float = 5.0, then: bytes | None = None) -> Reply:
    """Send `data` on a fresh connection and read one response. `then` is sent afterwards if the server has not
    answered yet (to show it answered before reading it)."""
    url = urlsplit(mock.base_url)
    began = time.perf_counter()
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if then is not None:
                sock.sendall(then)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse and close before taking everything: read what it said
        buf = b""
        try:
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end >= 0:
                    if buf[9:12] in (b"204", b"304"):
                        break  # no body follows
                    length = re.search(rb"\r\ncontent-length: *(\d+)", buf[:head_end], re.IGNORECASE)
                    if length and len(buf) >= head_end + 4 + int(length.group(1)):
                        break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except ConnectionResetError:
            pass
    seconds = time.perf_counter() - began
    if not buf.startswith(b"HTTP/1.1 "):
        return Reply(None, {}, buf, seconds)
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(int(lines[0].split()[1]), headers, body, seconds)


def request(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"", length: int | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method in ("POST", "PUT", "PATCH") or body:
        lines.append(f"content-length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- the server and the canary ------------------------------------------------------------------------------


@dataclass
class World:
    mock: MockServer
    auth: dict[str, str]  # Firefly headers of mock-client-id
    other: dict[str, str]  # Firefly headers of other-client-id
    job_id: str  # a finished job of mock-client-id
    image_url: str  # one of its signed image URLs
    model_id: str  # a training-API model of mock-client-id


def _populate(mock: MockServer) -> World:
    auth = mock.headers()
    other = mock.headers("other-client-id", "other-client-secret")
    job = mock.http.post(
        "/v3/images/generate-async", headers=auth, json={"prompt": "canary", "size": {"width": 1344, "height": 768}}
    ).json()
    status = mock.http.get(f"/v3/status/{job['jobId']}", headers=auth).json()
    model = mock.http.post("/models", headers={"x-api-key": "mock-client-id"}, json={"displayName": "Hostile"})
    return World(mock, auth, other, job["jobId"], status["result"]["outputs"][0]["image"]["url"], model.json()["id"])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with run_server(profile="instant", seed=5) as mock:
        yield _populate(mock)


@pytest.fixture(scope="module")
def isolated() -> Iterator[World]:
    """The same, served by `python -m mockserver serve` in a subprocess, for the tests of inputs that used to cause
    500s. In a server thread, the traceback Uvicorn formats for a 500 can race with pytest's own traceback rendering
    on CPython 3.11's shared AST state ("SystemError: AST constructor recursion depth mismatch", CPython gh-106905)
    and crash the whole session; in a separate process a regression fails only its own test."""
    args = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--profile", "instant", "--seed", "5"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}
    with serve_process([*args, "--no-access-log"], env, inherit_env=False) as (_, base):
        mock = MockServer(base)
        try:
            yield _populate(mock)
        finally:
            mock.close()


def still_serving(w: World) -> None:
    """A normal client, on a fresh connection, still gets its job, its image and a new job."""
    with httpx.Client(base_url=w.mock.base_url, timeout=5) as http:
        r = http.get(f"/v3/status/{w.job_id}", headers=w.auth)
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        r = http.post("/v3/images/generate-async", headers=w.auth, json={"prompt": "still here"})
        assert r.status_code == 202, r.text
        assert http.get("/health").status_code == 200


def firefly_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, (reply.status, reply.body[:300])
    body = reply.json()
    assert body["error_code"] == code and isinstance(body["message"], str) and body["message"], body


def training_error(reply: Reply | httpx.Response, status: int, code: str) -> str:
    got = reply.status if isinstance(reply, Reply) else reply.status_code
    assert got == status, (got, reply.body[:300] if isinstance(reply, Reply) else reply.text)
    body = reply.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]["message"]


def basic(pair: tuple[str, str]) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(":".join(pair).encode()).decode()}


# --- bodies over the limit: refused from Content-Length, before any of the body is read ---------------------


def _oversize_targets(w: World) -> list[tuple[str, str, dict[str, str], Any]]:
    """(path, content type, headers, check of the error body) for one route of every surface."""

    def firefly(reply: Reply) -> None:  # Adobe's gateway answers an HTML page (spec: 413 text/html)
        assert reply.headers["content-type"].startswith("text/html")
        assert b"413 Request Entity Too Large" in reply.body

    def training(reply: Reply) -> None:
        assert reply.json()["error"]["code"] == "payload_too_large"

    def scenario(reply: Reply) -> None:
        body = reply.json()
        assert set(body) == {"reason"} and body["reason"]

    def ims(reply: Reply) -> None:
        body = reply.json()
        assert body["error"] and body["error_description"]

    def admin(reply: Reply) -> None:
        assert reply.json()["error"] == "too_large"

    return [
        ("/v3/images/generate-async", "application/json", w.auth, firefly),
        ("/ims/token/v3", "application/x-www-form-urlencoded", {}, ims),
        ("/models", "application/json", {"x-api-key": "mock-client-id"}, training),
        (f"/models/{w.model_id}/training-data", "image/png", {"x-api-key": "mock-client-id"}, training),
        ("/predictions", "application/json", {"x-api-key": "mock-client-id"}, training),
        (f"/v1/generate/custom/{SCENARIO_PRIVATE}", "application/json", basic(SCENARIO_KEY), scenario),
        ("/__admin/faults", "application/json", {}, admin),
    ]


@pytest.mark.parametrize("declared", [50 * 1024**3, 11 * 1024 * 1024])
def test_body_over_the_limit_is_refused_from_its_declared_length(world: World, declared: int) -> None:
    """Only the headers are sent; a 413 in the surface's format comes back at once, so nothing was awaited."""
    for path, content_type, headers, check in _oversize_targets(world):
        reply = raw(
            world.mock, request("POST", path, {**headers, "content-type": content_type}, length=declared), timeout=3
        )
        assert reply.status == 413, (path, reply.status, reply.body[:200])
        assert reply.seconds < 2, (path, reply.seconds)
        check(reply)
    still_serving(world)


def test_json_over_the_json_limit_is_refused_before_reading(world: World) -> None:
    """2 MB declared on JSON routes (over the 1 MB JSON limit, under the 10 MB body limit)."""
    for path, content_type, headers, check in _oversize_targets(world):
        if content_type != "application/json":
            continue
        reply = raw(
            world.mock,
            request("POST", path, {**headers, "content-type": content_type}, length=2 * 1024 * 1024),
            timeout=3,
        )
        assert reply.status == 413 and reply.seconds < 2, (path, reply.status, reply.body[:200])
        check(reply)
    still_serving(world)


def test_chunked_json_that_never_ends_is_refused_once_past_the_limit(world: World) -> None:
    """No Content-Length: the server reads up to the JSON limit, answers 413 and does not wait for the end."""
    chunk = b"a" * 65536
    stream = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))  # 1.25 MB, no final 0-chunk
    head = request(
        "POST",
        "/v3/images/generate-async",
        {**world.auth, "content-type": "application/json", "transfer-encoding": "chunked"},
    )
    head = head.replace(b"content-length: 0\r\n", b"")
    reply = raw(world.mock, head + stream, timeout=5)
    assert reply.status == 413 and reply.headers["content-type"].startswith("text/html"), reply.body[:200]
    still_serving(world)


def test_stalled_bodies_and_headers_do_not_hold_up_other_clients(world: World) -> None:
    """Twenty connections that promise a body and stop, and twenty that stop half-way through their headers:
    other clients are served meanwhile, promptly."""
    url = urlsplit(world.mock.base_url)
    stalled: list[socket.socket] = []
    try:
        for i in range(20):
            sock = socket.create_connection((url.hostname, url.port), timeout=5)
            sock.sendall(
                request(
                    "POST", "/v3/images/generate-async", {**world.auth, "content-type": "application/json"}, length=5000
                )
                + b'{"prompt": "stall'
            )
            stalled.append(sock)
            sock = socket.create_connection((url.hostname, url.port), timeout=5)
            sock.sendall(f"GET /v3/status/{world.job_id} HTTP/1.1\r\nhost: x\r\nx-slow-{i}: ".encode())
            stalled.append(sock)
        began = time.perf_counter()
        with httpx.Client(base_url=world.mock.base_url, timeout=5) as http:
            for _ in range(50):
                assert http.get(f"/v3/status/{world.job_id}", headers=world.auth).status_code == 200
        assert time.perf_counter() - began < 5
    finally:
        for sock in stalled:
            sock.close()
    still_serving(world)


# --- deeply nested JSON -------------------------------------------------------------------------------------


def _nested_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_object(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


def _json_targets(w: World) -> list[tuple[str, str, dict[str, str], set[int], Any]]:
    """(method, path, headers, acceptable statuses, format check) for JSON routes of every surface."""

    def firefly(body: Any) -> bool:
        return isinstance(body.get("error_code"), str) and "message" in body

    def training(body: Any) -> bool:
        return set(body) == {"error"} and isinstance(body["error"].get("code"), str)

    def scenario(body: Any) -> bool:
        return isinstance(body.get("reason"), str)

    def admin(body: Any) -> bool:
        return isinstance(body.get("error"), str) and isinstance(body.get("message"), str)

    return [
        ("POST", "/v3/images/generate-async", w.auth, {400, 422}, firefly),
        ("POST", "/models", {"x-api-key": "mock-client-id"}, {400, 422}, training),
        ("POST", f"/models/{w.model_id}/trainings", {"x-api-key": "mock-client-id"}, {400, 409, 422}, training),
        ("POST", "/predictions", {"x-api-key": "mock-client-id"}, {400, 422}, training),
        ("POST", f"/v1/generate/custom/{SCENARIO_PRIVATE}", basic(SCENARIO_KEY), {400, 422}, scenario),
        ("POST", "/__admin/faults", {}, {400}, admin),
        ("PUT", "/__admin/state", {}, {400}, admin),
    ]


@pytest.mark.parametrize(
    ("shape", "depth"),
    [
        ("list", 100),
        ("list", 2000),
        ("list", 100_000),
        ("object", 100),
        ("object", 2000),
        ("object", 100_000),
        ("field", 100),
        ("field", 100_000),
    ],
)
def test_deeply_nested_json_is_a_clean_4xx(world: World, shape: str, depth: int) -> None:
    """Nesting within orjson's limit is validated; beyond it (1024) it is refused as unreadable JSON."""
    body = {"list": _nested_list, "object": _nested_object}.get(
        shape, lambda d: b'{"prompt":' + _nested_object(d) + b"}"
    )(depth)
    for method, path, headers, allowed, looks_right in _json_targets(world):
        reply = raw(world.mock, request(method, path, {**headers, "content-type": "application/json"}, body))
        assert reply.status in allowed, (path, shape, depth, reply.status, reply.body[:200])
        assert looks_right(reply.json()), (path, reply.body[:200])
    still_serving(world)


@pytest.mark.parametrize(
    "target",
    [
        "/v3/images/generate-async",
        "/models",
        "/predictions",
        f"/v1/generate/custom/{SCENARIO_PRIVATE}",
        "/__admin/faults",
    ],
)
def test_json_nested_just_under_the_parser_limit_is_a_clean_4xx(isolated: World, target: str) -> None:
    """Nested ~1000 deep: within orjson's limit (1024), deep enough that jsonschema's error message (which repr()s
    the instance) would exhaust the recursion limit. Was a 500 until the gateway refused nesting beyond 64."""
    world = isolated
    headers = {
        "/v3/images/generate-async": world.auth,
        f"/v1/generate/custom/{SCENARIO_PRIVATE}": basic(SCENARIO_KEY),
    }.get(target, {"x-api-key": "mock-client-id"})
    # Firefly and Scenario look at the body's fields first; the others validate a top-level array as is
    in_field = target.startswith(("/v3", "/v1"))
    body = b'{"prompt":' + _nested_object(1000) + b"}" if in_field else _nested_list(1020)
    try:
        reply = raw(world.mock, request("POST", target, {**headers, "content-type": "application/json"}, body))
        assert reply.status is not None and 400 <= reply.status < 500, (reply.status, reply.body[:200])
    finally:
        world.mock.clear_requests()  # the journal cannot serialise what it kept (see the next test)


@pytest.mark.parametrize("content_type", ["application/JSON", "Application/Json; charset=utf-8"])
@pytest.mark.parametrize(
    "target", ["/v3/images/generate-async", "/models", "/predictions", f"/v1/generate/custom/{SCENARIO_PRIVATE}"]
)
def test_deep_json_in_upper_case_content_types_is_a_clean_4xx(isolated: World, target: str, content_type: str) -> None:
    """Media types are case-insensitive (RFC 9110 8.3.1): the depth limit must hold whatever the letter case."""
    headers = {
        "/v3/images/generate-async": isolated.auth,
        f"/v1/generate/custom/{SCENARIO_PRIVATE}": basic(SCENARIO_KEY),
    }.get(target, {"x-api-key": "mock-client-id"})
    body = b'{"prompt":' + _nested_object(1000) + b"}" if target.startswith(("/v3", "/v1")) else _nested_list(1020)
    try:
        reply = raw(isolated.mock, request("POST", target, {**headers, "content-type": content_type}, body))
        assert reply.status is not None and 400 <= reply.status < 500, (reply.status, reply.body[:200])
    finally:
        isolated.mock.clear_requests()


@pytest.mark.parametrize("depth", [70, 300, 1000])
def test_a_deeply_nested_body_does_not_break_the_journal(isolated: World, depth: int) -> None:
    """orjson parses up to 1024 levels but serialises only up to 254: a body kept in the journal as parsed made
    GET /__admin/requests answer 500 until the entry left the ring (fixed by refusing nesting beyond 64)."""
    mock = isolated.mock
    mock.clear_requests()
    try:
        for path, headers in (
            ("/v3/images/generate-async", isolated.auth),
            ("/models", {"x-api-key": "k"}),
            (f"/v1/generate/custom/{SCENARIO_PRIVATE}", basic(SCENARIO_KEY)),
        ):
            reply = raw(
                mock,
                request(
                    "POST",
                    path,
                    {**headers, "content-type": "application/json"},
                    b'{"prompt":' + _nested_object(depth) + b"}",
                ),
            )
            assert reply.status in (400, 422), (path, reply.status, reply.body[:200])
        journal = raw(mock, request("GET", "/__admin/requests"))
        assert journal.status == 200 and journal.json()["count"] == 3
    finally:
        mock.clear_requests()


# --- very long headers, paths, queries ----------------------------------------------------------------------


def _long_requests(w: World) -> list[tuple[str, bytes]]:
    auth = "".join(f"{k}: {v}\r\n" for k, v in w.auth.items())
    out = []
    for size in (8 * 1024, 64 * 1024, 1024 * 1024):
        out += [
            (
                f"header value {size}",
                f"GET /v3/status/{w.job_id} HTTP/1.1\r\nhost: x\r\n{auth}x-long: {'a' * size}\r\n\r\n".encode(),
            ),
            (f"header name {size}", f"GET /health HTTP/1.1\r\nhost: x\r\nx-{'n' * size}: 1\r\n\r\n".encode()),
            (f"request id {size}", f"GET /health HTTP/1.1\r\nhost: x\r\nx-request-id: {'r' * size}\r\n\r\n".encode()),
            (f"firefly path {size}", f"GET /v3/status/{'j' * size} HTTP/1.1\r\nhost: x\r\n{auth}\r\n".encode()),
            (f"training path {size}", f"GET /models/{'m' * size} HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\n\r\n".encode()),
            (
                f"files path {size}",
                f"GET /files/{'f' * size}.jpg?expires=1&signature=0 HTTP/1.1\r\nhost: x\r\n\r\n".encode(),
            ),
            (f"query {size}", f"GET /v3/custom-models?sortBy={'q' * size} HTTP/1.1\r\nhost: x\r\n{auth}\r\n".encode()),
        ]
    out.append(
        (
            "5,000 headers",
            (
                f"GET /v3/status/{w.job_id} HTTP/1.1\r\nhost: x\r\n{auth}"
                + "".join(f"x-h{i}: v\r\n" for i in range(5000))
                + "\r\n"
            ).encode(),
        )
    )
    return out


def test_very_long_headers_paths_and_queries_never_get_a_5xx(world: World) -> None:
    """Whatever the HTTP parser accepts is answered in the surface's format; what it refuses gets a clean 4xx or
    a closed connection. Never a 5xx, and the next normal request works."""
    for label, data in _long_requests(world):
        reply = raw(world.mock, data, timeout=10)
        assert reply.status is None or 400 <= reply.status < 500 or reply.status == 200, (label, reply.status)
        if reply.status is not None and reply.headers.get("content-type", "").startswith("application/json"):
            reply.json()  # a real JSON error document, not a truncated one
        still_serving(world)


# --- signed downloads: traversal, tampering, expiry ---------------------------------------------------------


def _s3_code(reply: Reply) -> str:
    match = S3_ERROR.match(reply.body)
    assert match, reply.body[:300]
    assert reply.headers["content-type"] == "application/xml"
    return match.group(1).decode()


def test_path_traversal_in_file_urls_finds_nothing(world: World) -> None:
    url = urlsplit(world.image_url)
    name = url.path.rsplit("/", 1)[1]
    attempts = [
        "/files/../../../../etc/passwd",
        "/files/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..",
        "/files/%2e%2e",
        "/files/.%2e/.%2e/etc/passwd",
        "/files/..\\..\\etc\\passwd",
        "/files/%252e%252e%252fetc%252fpasswd",
        "/files/%00",
        f"/files/..%2F{name}?{url.query}",
        f"/files/{name}/..%2F..%2Fetc%2Fpasswd?{url.query}",
        f"/files/{name}%2F..%2F..%2Fetc%2Fpasswd?{url.query}",
        f"/files/../files/{name}",
        f"/files/{name}?{url.query}&expires=1",
        "/files/..;/etc/passwd",
        "/files//etc/passwd",
    ]
    for path in attempts:
        reply = raw(world.mock, request("GET", path))
        assert reply.status in (403, 404), (path, reply.status, reply.body[:200])
        assert b"root:" not in reply.body
        _s3_code(reply)
    still_serving(world)


def test_tampered_signed_urls_are_refused(world: World) -> None:
    url = urlsplit(world.image_url)
    name, query = url.path.rsplit("/", 1)[1], dict(p.split("=", 1) for p in url.query.split("&"))
    asset_id, ext = name.split(".", 1)
    signature, expires = query["signature"], query["expires"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other = raw(world.mock, request("GET", f"/v3/status/{world.job_id}", world.auth))  # a fresh URL, same asset
    assert other.status == 200
    variants = {
        "flipped signature": f"/files/{name}?expires={expires}&signature={flipped}",
        "upper-case signature": f"/files/{name}?expires={expires}&signature={signature.upper()}",
        "truncated signature": f"/files/{name}?expires={expires}&signature={signature[:16]}",
        "long signature": f"/files/{name}?expires={expires}&signature={signature * 100}",
        "empty signature": f"/files/{name}?expires={expires}&signature=",
        "no signature": f"/files/{name}?expires={expires}",
        "later expiry": f"/files/{name}?expires={int(expires) + 86400}&signature={signature}",
        "huge expiry": f"/files/{name}?expires={'9' * 400}&signature={signature}",
        "negative expiry": f"/files/{name}?expires=-1&signature={signature}",
        "no expiry": f"/files/{name}?signature={signature}",
        "no query": f"/files/{name}",
        "other asset id": f"/files/{asset_id[:-1]}{'0' if asset_id[-1] != '0' else '1'}.{ext}?{url.query}",
        "asset id as a query": f"/files/x.{ext}?{url.query}&name={asset_id}",
    }
    for label, path in variants.items():
        reply = raw(world.mock, request("GET", path))
        assert reply.status == 403, (label, reply.status, reply.body[:200])
        assert _s3_code(reply) == "SignatureDoesNotMatch", label
    still_serving(world)


def test_expired_signed_url_is_refused_and_a_fresh_one_works() -> None:
    with run_server(profile="instant", seed=6) as mock:
        auth = mock.headers()
        job = mock.http.post(
            "/v3/images/generate-async", headers=auth, json={"prompt": "expiry", "size": {"width": 1344, "height": 768}}
        ).json()
        url = mock.http.get(job["statusUrl"], headers=auth).json()["result"]["outputs"][0]["image"]["url"]
        assert httpx.get(url).status_code == 200
        mock.clock.advance(3600)
        r = httpx.get(url)
        assert r.status_code == 403 and b"<Message>Request has expired</Message>" in r.content
        fresh = mock.http.get(job["statusUrl"], headers=auth).json()["result"]["outputs"][0]["image"]["url"]
        assert fresh != url and httpx.get(fresh).status_code == 200


def test_non_ascii_digits_in_expires_are_refused_cleanly(isolated: World) -> None:
    """str.isdigit() accepts '²', which int() refuses: the check used to answer 500."""
    url = urlsplit(isolated.image_url)
    query = re.sub(r"expires=\d+", "expires=%C2%B2", url.query)
    reply = raw(isolated.mock, request("GET", f"{url.path}?{query}"))
    assert reply.status == 403 and _s3_code(reply) == "SignatureDoesNotMatch"


def test_unrouted_file_path_says_no_such_key(world: World) -> None:
    """An object store says NoSuchKey for a key it does not have (it used to say InternalError with a 404)."""
    reply = raw(world.mock, request("GET", "/files/a/b.jpg"))
    assert reply.status == 404 and _s3_code(reply) == "NoSuchKey"


# --- numeric query parameters with non-ASCII digits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "auth", "status"),
    [
        ("/v3/custom-models?start=%C2%B2", True, 400),  # '²': isdigit() but not int() (these four used to be 500s)
        ("/v3/custom-models?limit=%C2%B2", True, 400),
        ("/__admin/requests?status=%C2%B2", False, 400),
        ("/__admin/requests?limit=%C2%B2", False, 400),  # the journal limit must be a count (QA fix on main)
        ("/v3/custom-models?limit=%D9%A1", True, 400),  # Arabic-Indic one: int() takes it, the API should not
        ("/__admin/requests?status=abc", False, 400),
        ("/v3/custom-models?start=-1", True, 400),
    ],
)
def test_numeric_query_parameters_with_odd_digits(isolated: World, path: str, auth: bool, status: int) -> None:
    reply = raw(isolated.mock, request("GET", path, isolated.auth if auth else {}))
    assert reply.status == status, (reply.status, reply.body[:200])
    still_serving(isolated)


# --- tenants ------------------------------------------------------------------------------------------------


def test_one_tenants_token_cannot_reach_anothers_jobs_or_models(world: World) -> None:
    mock, mine, theirs = world.mock, world.auth, world.other
    pending = mock.http.post(
        "/v3/images/generate-async", headers={**mine, "x-mock-profile": "realistic"}, json={"prompt": "mine"}
    ).json()["jobId"]
    for job in (world.job_id, pending):
        for method, path in (("GET", f"/v3/status/{job}"), ("PUT", f"/v3/cancel/{job}")):
            firefly_error(raw(mock, request(method, path, theirs)), 404, "unknown_job_id")
    assert mock.http.get(f"/v3/status/{pending}", headers=mine).json()["status"] == "pending"  # not cancelled

    # mixing one tenant's token with another's API key, or a key without its token
    token_only = {"authorization": mine["authorization"], "x-api-key": "other-client-id"}
    reply = raw(mock, request("GET", f"/v3/status/{world.job_id}", token_only))
    assert reply.status == 403 and reply.json() == {"error_code": "403003", "message": "Api Key is invalid"}
    reply = raw(
        mock,
        request("GET", f"/v3/status/{world.job_id}", {"x-api-key": "mock-client-id", "authorization": "Bearer forged"}),
    )
    assert reply.status == 401 and reply.json()["error_code"] == "401013"
    # a declared client id cannot be claimed with another secret, even in open mode
    r = mock.http.post(
        "/ims/token/v3",
        data={"grant_type": "client_credentials", "client_id": "mock-client-id", "client_secret": "guess"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"

    # the private custom model: invisible to the other tenant, unusable for its jobs
    reply = raw(mock, request("GET", f"/v3/custom-models/{PRIVATE_MODEL}", theirs))
    assert reply.status == 404 and set(reply.json()) == {"reason", "message"}
    listed = mock.http.get("/v3/custom-models", params={"publishedState": "all", "limit": 50}, headers=theirs)
    assert PRIVATE_MODEL not in {m["assetId"] for m in listed.json()["custom_models"]}
    body = orjson.dumps({"prompt": "steal", "customModelId": PRIVATE_MODEL})
    reply = raw(
        mock,
        request(
            "POST",
            "/v3/images/generate-async",
            {**theirs, "content-type": "application/json", "x-model-version": "image3_custom"},
            body,
        ),
    )
    firefly_error(reply, 404, "not_found")
    reply = raw(
        mock,
        request(
            "POST",
            "/v3/images/generate-async",
            {**mine, "content-type": "application/json", "x-model-version": "image3_custom"},
            body,
        ),
    )
    assert reply.status == 202

    # the training API and Scenario keep tenants apart the same way
    reply = raw(mock, request("GET", f"/models/{world.model_id}", {"x-api-key": "other-client-id"}))
    training_error(reply, 404, "not_found")
    reply = raw(mock, request("GET", f"/models/{world.model_id}/training-data", {"x-api-key": "other-client-id"}))
    training_error(reply, 404, "not_found")
    reply = raw(mock, request("GET", f"/v1/models/{SCENARIO_PRIVATE}", basic(SCENARIO_OTHER)))
    assert reply.status == 404 and set(reply.json()) == {"reason"}
    assert raw(mock, request("GET", f"/v1/models/{SCENARIO_PRIVATE}", basic(SCENARIO_KEY))).status == 200
    still_serving(world)


# --- hostile image uploads (training API) -------------------------------------------------------------------


def _png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_BOMB: list[bytes] = []
_BOMB_LOCK = threading.Lock()


def _real_bomb(side: int = 30_000) -> bytes:
    """A complete, valid 1-bit greyscale PNG of side x side pixels (900 Mpx): every row present, deflated to a
    few hundred KB. Decoding it would allocate about 900 MB; the server must refuse it from the header."""
    with _BOMB_LOCK:
        if not _BOMB:
            row = b"\x00" * (1 + (side + 7) // 8)
            deflate = zlib.compressobj(9)
            rows = b"".join(deflate.compress(row * 1000) for _ in range(side // 1000)) + deflate.flush()
            ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
            _BOMB.append(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))
        return _BOMB[0]


def _corrupt_png() -> bytes:
    """A PNG whose IDAT bytes were damaged (its CRC no longer matches)."""
    data = bytearray(_png((120, 90)))
    at = data.find(b"IDAT") + 20
    data[at : at + 8] = b"\xff" * 8
    return bytes(data)


def _corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman table was overwritten. (Damage inside the scan data itself is not refused: libjpeg
    decodes it with a warning, as real decoders do, so it is not a useful probe.)"""
    data = bytearray(_jpeg((200, 150)))
    at = data.find(b"\xff\xc4") + 4
    data[at : at + 36] = b"\xff" * 36
    return bytes(data)


UPLOADS = [
    ("truncated PNG", "image/png", _png((120, 90))[:-30], 422, "invalid_image"),
    ("PNG with a damaged IDAT", "image/png", None, 422, "invalid_image"),
    ("truncated JPEG", "image/jpeg", _jpeg((200, 150))[:-300], 422, "invalid_image"),
    ("JPEG with a damaged Huffman table", "image/jpeg", None, 422, "invalid_image"),
    ("PNG signature then garbage", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422, "invalid_image"),
    ("real 30000x30000 PNG bomb", "image/png", "bomb", 422, "invalid_image"),
    ("text declared as PNG", "image/png", b"hello, I am not an image", 422, "invalid_image"),
    ("PNG declared as text", "text/plain", _png(), 415, "unsupported_media_type"),
    ("PNG declared as JPEG", "image/jpeg", _png(), 415, "unsupported_media_type"),
    (
        "PNG as multipart",
        "multipart/form-data; boundary=x",
        b"--x\r\n\r\n" + _png() + b"\r\n--x--",
        415,
        "unsupported_media_type",
    ),
    ("PNG without a content type", "", _png(), 415, "unsupported_media_type"),
    ("PNG as JSON", "application/json", _png(), 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(("label", "content_type", "data", "status", "code"), UPLOADS, ids=[u[0] for u in UPLOADS])
def test_hostile_uploads_are_refused_and_store_nothing(
    world: World, label: str, content_type: str, data: Any, status: int, code: str
) -> None:
    if data is None:
        data = _corrupt_png() if "PNG" in label else _corrupt_jpeg()
    elif data == "bomb":
        data = _real_bomb()
    headers = {"x-api-key": "mock-client-id", **({"content-type": content_type} if content_type else {})}
    path = f"/models/{world.model_id}/training-data"
    before = raw(world.mock, request("GET", path, {"x-api-key": "mock-client-id"})).json()
    reply = raw(world.mock, request("POST", path, headers, data), timeout=10)
    message = training_error(reply, status, code)
    if label.endswith("bomb"):
        assert "decompression bomb" in message and reply.seconds < 2, (message, reply.seconds)
    assert raw(world.mock, request("GET", path, {"x-api-key": "mock-client-id"})).json() == before
    still_serving(world)


def test_a_good_upload_still_works_after_the_hostile_ones(world: World) -> None:
    path = f"/models/{world.model_id}/training-data"
    reply = raw(
        world.mock, request("POST", path, {"x-api-key": "mock-client-id", "content-type": "image/png"}, _png((30, 20)))
    )
    assert reply.status == 201 and (reply.json()["width"], reply.json()["height"]) == (30, 20)
    reply = raw(world.mock, request("DELETE", f"{path}/{reply.json()['dataId']}", {"x-api-key": "mock-client-id"}))
    assert reply.status == 204
