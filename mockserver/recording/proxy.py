"""`mockserver record`: a recording reverse proxy in front of the real services.

Each request goes to the upstream of the surface that owns its path (`routes.Routes`: IMS for `/ims`, Firefly for
`/v3` and `/v2/storage`, Scenario for `/v1`, the training API for `/models` and `/predictions`); the client gets the
upstream's answer, and the exchange is redacted and written before the answer is sent. URLs in answers that point at
an upstream (or at a host given with `--follow-host`: Firefly's status host, an object store's download host) are
rewritten to point at the proxy, so status polls and downloads come through it and are recorded too; the proxy
remembers where each rewritten path really lives. A path with no upstream is answered 502 in its surface's format.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import sys
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from .exchanges import Recording, encode_body, is_json
from .routes import Routes

MAX_BODY = 256 * 1024 * 1024  # a request or answer larger than this is refused rather than held in memory
MAX_LEARNED = 10_000
# not forwarded, not recorded: connection-level headers, and what httpx recomputes (length, encoding)
_HOP = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "accept-encoding",
        "content-encoding",
    }
)
_URL = re.compile(r"https?://[^\s\"'<>]+")


def origin_of(url: str) -> str:
    """Scheme, host and port: no userinfo (credentials an upstream URL may carry never reach the disk)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Proxy:
    """The proxy as a pure ASGI app."""

    def __init__(
        self,
        upstreams: dict[str, str],
        recording: Recording,
        routes: Routes,
        keep_binary: bool = False,
        follow_hosts: tuple[str, ...] = (),
        log: Any = sys.stderr,
    ) -> None:
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items() if url}
        self.origins = {origin_of(url) for url in self.upstreams.values()}
        self.recording = recording
        self.routes = routes
        self.keep_binary = keep_binary
        self.follow_hosts = follow_hosts
        self.learned: OrderedDict[str, str] = OrderedDict()  # rewritten path -> the origin it really lives on
        self.client: httpx.AsyncClient | None = None
        self.log = log

    def start(self) -> None:
        for url in self.upstreams.values():
            self.recording.redactor.url(url)  # remembers userinfo and secret parameters, to be scrubbed anywhere
        shown = {name: origin_of(url) for name, url in self.upstreams.items()}
        self.recording.start(shown, datetime.now(UTC).isoformat(timespec="milliseconds"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        raw_path = scope.get("raw_path")  # as the client encoded it: %3F or %2F decoded would be another URL
        wire_path = raw_path.decode("latin-1") if raw_path else path
        method: str = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        host = next((v for k, v in headers if k == "host"), "127.0.0.1")
        here = f"{scope.get('scheme', 'http')}://{host}"
        if path in ("/ready", "/health"):  # the proxy's own: no API has these paths, and they are not recorded
            await self._answer(send, JSONResponse({"status": "ok", "recording": str(self.recording.root)}))
            return
        operation = self.routes.operation(method, path)
        target = self._target(wire_path, path, operation.upstream)
        body, complete = await _read(receive, MAX_BODY)
        if target is None:
            message = f"mockserver record: no upstream for {path} (give --upstream-{operation.upstream})"
            if operation.upstream in ("files", "none"):
                message = f"mockserver record: no upstream for {path}: not a path of any recorded API"
            await self._answer(send, self.routes.error(path, 502, message))
            return
        if not complete:
            await self._answer(send, self.routes.error(path, 413, "Request body is too large to record."))
            return
        url = _join(target, wire_path)
        forwarded = [(k, v) for k, v in headers if k not in _HOP]
        started = datetime.now(UTC).isoformat(timespec="milliseconds")
        clock = time.perf_counter()
        assert self.client is not None
        try:
            request = self.client.build_request(
                method,
                url + (f"?{query}" if query else ""),
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in forwarded],  # the bytes as sent
                content=body,
            )
            upstream = await self.client.send(request, stream=True)
            try:
                answer, whole = await _read_stream(upstream, MAX_BODY)
            finally:
                await upstream.aclose()
        except httpx.HTTPError as exc:
            print(f"mockserver record: {method} {path}: upstream failed: {exc!r}", file=self.log, flush=True)
            await self._answer(
                send, self.routes.error(path, 502, f"mockserver record: the upstream failed: {type(exc).__name__}")
            )
            return
        if not whole:
            await self._answer(
                send, self.routes.error(path, 502, "mockserver record: the upstream's answer is too large.")
            )
            return
        finished = time.perf_counter()
        # as bytes read as Latin-1 (as the request's are): any byte an upstream sends is passed on unchanged
        answer_headers = [
            (k.decode("latin-1").lower(), v.decode("latin-1"))
            for k, v in upstream.headers.raw
            if k.decode("latin-1").lower() not in _HOP
        ]
        request_type = next((v for k, v in headers if k == "content-type"), "")
        answer_type = upstream.headers.get("content-type", "")
        redactor = self.recording.redactor
        exchange = {
            "operation": operation.name,
            "surface": operation.surface,
            "upstream": operation.upstream,
            "started": started,
            "elapsed_ms": round((finished - clock) * 1000, 1),
            "request": {
                "method": method,
                "path": wire_path,
                "query": redactor.query(query),
                "headers": redactor.headers(_joined(forwarded)),
                "body": encode_body(body, request_type, redactor, self.keep_binary),
            },
            "response": {
                "status": upstream.status_code,
                "headers": redactor.headers(_joined(answer_headers)),
                "body": encode_body(answer, answer_type, redactor, self.keep_binary),
            },
        }
        written = self.recording.add(exchange, operation.job, finished)
        print(
            f"mockserver record: {method} {path} -> {upstream.status_code} ({operation.upstream}) {written}",
            file=self.log,
            flush=True,
        )
        if is_json(answer_type) and b"://" in answer:
            with contextlib.suppress(UnicodeDecodeError):  # not UTF-8: passed on as it came, URLs not rewritten
                answer = self._rewrite(answer.decode("utf-8"), here).encode()
        answer_headers = [(k, self._rewrite(v, here) if k in ("link", "location") else v) for k, v in answer_headers]
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer_headers]
        length = upstream.headers.get("content-length") if method == "HEAD" else None  # the size a GET would have
        raw.append((b"content-length", (length or str(len(answer))).encode("latin-1")))
        await send({"type": "http.response.start", "status": upstream.status_code, "headers": raw})
        await send({"type": "http.response.body", "body": answer if method != "HEAD" else b""})

    def _target(self, wire_path: str, path: str, upstream: str) -> str | None:
        """A path learned from an answer's URL (as written there, escapes and all) goes back to that URL's host."""
        learned = self.learned.get(wire_path) or self.learned.get(path)
        if learned is not None:
            return learned
        return self.upstreams.get(upstream)

    def _rewrite(self, text: str, here: str) -> str:
        """URLs of an upstream or a followed host, pointed at the proxy (their real origin remembered)."""

        def swap(match: re.Match[str]) -> str:
            url = match.group(0)
            try:
                parts = urlsplit(url)
            except ValueError:
                return url
            origin = origin_of(url)
            followed = any(fnmatch.fnmatch(parts.hostname or "", pattern) for pattern in self.follow_hosts)
            if origin not in self.origins and not followed:
                return url
            if parts.path not in self.learned and len(self.learned) >= MAX_LEARNED:
                self.learned.popitem(last=False)
            self.learned[parts.path] = origin
            return here + url[len(origin) :]

        return _URL.sub(swap, text) if "://" in text else text

    async def _answer(self, send: Send, response: Any) -> None:
        await response({"type": "http", "method": "GET", "path": "/", "headers": []}, _nothing, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=httpx.Timeout(300, connect=15), follow_redirects=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _join(base: str, path: str) -> str:
    """An upstream given with a path (https://api.cloud.scenario.com/v1) is not doubled (/v1/v1/models)."""
    prefix = urlsplit(base).path.rstrip("/")
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        return base[: len(base) - len(urlsplit(base).path)] + path
    return base.rstrip("/") + path


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


async def _read_stream(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
    return b"".join(chunks), True


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
