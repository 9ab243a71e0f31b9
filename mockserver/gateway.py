"""The gateway: one pure-ASGI middleware in front of every surface.

It gives each request an id, refuses oversized bodies before reading them, applies fault rules and optional
rate limits, and records the request in the journal. Errors it makes itself are rendered by the surface the path
belongs to, so they arrive in that provider's own format.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import bodies, logs
from .context import Context
from .core.faults import FaultRule
from .core.faults import Request as FaultRequest
from .core.jobs import Outcome
from .direct import Direct
from .http import MAX_DIGITS, MAX_JSON_DEPTH, too_deep
from .http import json as json_response
from .journal import as_dict
from .ratelimits import RateLimiter
from .store import StoreUnavailable
from .surface import SCOPE_KEY, Surface, SurfaceError, Surfaces, render

JOURNAL_BODY_BYTES = 64 * 1024  # larger JSON bodies are journaled as {"_truncated": <size>}
log = logging.getLogger("mockserver")
_UNJOURNALED = ("/__admin", "/health", "/ready", "/openapi")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class Gateway:
    def __init__(self, app: ASGIApp, ctx: Context, surfaces: Surfaces, direct: Direct | None = None) -> None:
        self.app = app
        self.direct = direct
        self.ctx = ctx
        self.surfaces = surfaces
        self.limiter = RateLimiter(surfaces, ctx.world.store) if ctx.settings.rate_limits == "realistic" else None
        self.shared = ctx.world.store.shared
        self.world = ctx.world
        self.clock = ctx.world.clock
        self.journal = ctx.journal
        self.access_log = ctx.settings.access_log
        self.max_body_bytes = ctx.settings.max_body_bytes
        self.max_json_bytes = ctx.settings.max_json_bytes
        # request ids: unique per process (random prefix) and cheap (a counter, no syscall per request)
        self.id_prefix = os.urandom(10).hex()
        self.id_counter = itertools.count(1)

    def _tenant(self, headers: dict[str, str]) -> str | None:
        hint = _tenant_hint(headers)
        return self.ctx.world.tenants.tenant_of(hint) if hint is not None else None

    @property
    def state(self) -> Any:
        """The wrapped Starlette app's state (tests and the CLI reach the context through it)."""
        return self.app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self.shared:
            # A lost database: the request meets it again where it needs the store, and answers 503 in its format
            with contextlib.suppress(StoreUnavailable):
                self.ctx.world.sync()
        path: str = scope["path"]
        headers, bounded = _headers(scope["headers"])
        request_id = headers.get("x-request-id") or f"{self.id_prefix}{next(self.id_counter):012x}"
        surface = scope[SCOPE_KEY] = self.surfaces.for_path(path)  # the app's error handlers read it from here
        if path.startswith(_UNJOURNALED):
            await self._unjournaled(scope, receive, send, path, request_id)
            return
        exchange = _Exchange(self, scope, surface, headers, bounded, started, request_id, send)
        try:
            if (
                scope["method"] in _BODY_METHODS
                or self.limiter is not None
                or "content-length" in headers
                or self.world.faults.any()
            ):
                passed = await self._handle(scope, receive, send, exchange)
                if passed is None:
                    return  # answered by the gateway itself
                receive = passed
            # else the polling fast path. Then hand the request on: straight to a hot route's endpoint when it is
            # one, else through the app
            direct = self.direct
            found = direct.find(scope, surface) if direct is not None else None
            if direct is None or found is None:
                await self.app(scope, receive, exchange.send)
            else:
                await direct.serve(found, scope, receive, exchange)
        except SurfaceError as exc:  # a lost database (StoreUnavailable) met before routing
            if exchange.recorded:
                raise
            await self._error(surface, path, exc, exchange.send)
        except Exception:
            if exchange.finished:  # Starlette's error middleware answered 500 in the provider's format already
                log.exception("mockserver: unhandled error on %s %s", scope["method"], path)
                return
            if exchange.recorded:  # the answer had started: all that is left is to drop the connection
                raise
            log.exception("mockserver: unhandled error on %s %s", scope["method"], path)
            await self._error(surface, path, SurfaceError(500), exchange.send)  # in the provider's format
        finally:
            exchange.record(0)  # no response at all (a dropped connection)

    async def _unjournaled(self, scope: Scope, receive: Receive, send: Send, path: str, request_id: str) -> None:
        """The fake's own routes (control API, dashboard, health, specs): not journaled, never fault-matched."""
        rid_header = (b"x-request-id", request_id.encode("latin-1", "replace"))
        started_box = [False]

        async def send_plain(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_box[0] = True
                message["headers"] = [*message.get("headers", []), rid_header]
                settled = self.world.settled()  # a SQLite store's group commit of what the request wrote
                if settled is not None:
                    await settled
            await send(message)

        try:
            await self.app(scope, receive, send_plain)
        except Exception:
            if started_box[0]:
                raise
            log.exception("mockserver: unhandled error on %s %s", scope["method"], path)
            response = json_response({"error": "internal_error", "message": "Internal server error."}, 500)
            await response(scope, _no_body, send_plain)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> Receive | None:
        """Body-size refusal, the one JSON parse, faults and rate limits; `send` is the server's own (a dropped
        connection needs it), `exchange.send` the one that adds the request id and journals. Returns the receive
        to hand on (one that replays a body read here), or None when the request was answered here."""
        world = self.world
        surface, headers, send_with_id = exchange.surface, exchange.headers, exchange.send
        path: str = scope["path"]
        method: str = scope["method"]
        declared = headers.get("content-length", "")
        # a declared count (as over_limit reads one): past MAX_DIGITS digits it is over any limit, and not converted
        size = (
            (int(declared) if len(declared) <= MAX_DIGITS else -1)
            if declared.isdigit() and declared.isascii()
            else None
        )
        if size is not None and (size < 0 or size > self.max_body_bytes):
            await self._error(surface, path, SurfaceError(413, None, "Request body is too large."), send_with_id)
            return None
        if (
            method in _BODY_METHODS
            and "json" in headers.get("content-type", "").lower()
            and (size is None or size <= self.max_json_bytes)
        ):
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                whole: bytes = message.get("body", b"")  # the whole body in one message (the usual)
                body_bytes: bytes | None = whole
                receive = _Replay([whole], receive, None, True)
            else:
                body_bytes, receive = await _buffer(receive, self.max_json_bytes, message)
            if body_bytes is not None:
                parsed = scope[bodies.SCOPE_KEY] = bodies.parse(body_bytes)  # the handler takes it from here
                body = parsed.value
                if too_deep(body):
                    deep = SurfaceError(400, "bad_request", f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
                    await self._error(surface, path, deep, send_with_id)
                    return None
                exchange.body = {"_truncated": len(body_bytes)} if len(body_bytes) > JOURNAL_BODY_BYTES else body
        body = exchange.body
        faulty = world.faults.any()
        if self.limiter is not None or faulty:
            exchange.tenant = self._tenant(headers)
        if faulty:
            prompt = body.get("prompt") if isinstance(body, dict) and isinstance(body.get("prompt"), str) else None
            fired = world.faults.fire(FaultRequest(surface.surface, method, path, exchange.tenant, prompt))
            if await self._apply(fired, scope, send, send_with_id, surface, path):
                return None
        if self.limiter is not None:
            wait = self.limiter.check(surface, method, path, exchange.tenant or "", world.clock.now())
            if wait is not None:
                retry = {"retry-after": str(math.ceil(wait)), "x-access-rate-limit-level": "org"}
                await self._error(surface, path, SurfaceError(429, "rate_limited", None, retry), send_with_id)
                return None
        return receive

    async def _apply(
        self, fired: list[FaultRule], scope: Scope, raw_send: Send, send: Send, surface: Surface, path: str
    ) -> bool:
        """Carry out fired rules in order: latencies add up, a job outcome waits for the handler, and the first
        HTTP error or dropped connection answers the request. True when the request was answered."""
        for rule in fired:
            if rule.effect == "latency":
                low = rule.latency_ms or 0.0
                high = rule.latency_max_ms if rule.latency_max_ms is not None else low
                delay = low if high <= low else self.ctx.world.ids.uniform(low, high)
                await asyncio.sleep(delay / 1000)
            elif rule.effect == "job" and "mock.job_outcome" not in scope:
                scope["mock.job_outcome"] = Outcome(
                    kind=rule.outcome or "fail",
                    error_code=rule.error_code or "runtime_error",
                    message=rule.message or "Internal server error.",
                    at_progress=rule.at_progress,
                )
            elif rule.effect == "http":
                headers = dict(rule.headers)
                if rule.retry_after is not None or rule.status in (429, 503):
                    headers.setdefault("retry-after", _seconds(rule.retry_after if rule.retry_after is not None else 1))
                await self._error(
                    surface, path, SurfaceError(rule.status or 500, rule.error_code, rule.message, headers), send
                )
                return True
            elif rule.effect == "drop":
                await _drop(raw_send)
                return True
        return False

    async def _error(self, surface: Surface, path: str, exc: SurfaceError, send: Send) -> None:
        """A refusal the gateway makes before routing, rendered as the app renders a raised one."""
        response = render(surface, path, exc)
        await response({"type": "http", "method": "GET", "path": path, "headers": []}, _no_body, send)


class _Exchange:
    """One journaled request on its way through the gateway: what the journal will say about it, filled in as the
    gateway learns it, and the `send` that adds the request id and journals the answer as it starts."""

    __slots__ = (
        "gateway",
        "scope",
        "surface",
        "headers",
        "bounded",
        "started",
        "request_id",
        "downstream",
        "body",
        "tenant",
        "recorded",
        "finished",
    )

    def __init__(
        self,
        gateway: Gateway,
        scope: Scope,
        surface: Surface,
        headers: dict[str, str],
        bounded: list[tuple[bytes, bytes]],
        started: float,
        request_id: str,
        downstream: Send,
    ) -> None:
        self.gateway = gateway
        self.scope = scope
        self.surface = surface
        self.headers = headers
        self.bounded = bounded
        self.started = started
        self.request_id = request_id
        self.downstream = downstream
        self.body: Any = None
        self.tenant: str | None = None
        self.recorded = False
        self.finished = False

    def record(self, status: int) -> Any:
        """Journal the request once (`status` 0: it got no answer); returns what to await, if anything."""
        if self.recorded:
            return None
        self.recorded = True
        gateway, scope = self.gateway, self.scope
        entry = (
            gateway.clock.now(),  # formatted when read, not on every request
            self.surface.surface,
            scope["method"],
            scope["path"],
            scope.get("query_string", b""),
            scope.get("mock.tenant") or self.tenant or gateway._tenant(self.headers),
            status,
            time.perf_counter() - self.started,
            self.request_id,
            self.body,
            self.bounded,  # raw; decoded only when someone reads the journal
        )
        committed = gateway.journal.record(entry)  # what to await before the answer may start
        if gateway.access_log:
            logs.request_line(as_dict(entry))
        return committed

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A whole answer, as `Response.__call__` sends it through `send` (a start, then the body), without the
        two messages going through `send`: the same headers, journal entry and order."""
        stamped = self._stamped(headers)
        committed = self.record(status)
        if committed is not None:  # a shared journal's group commit
            await committed
        downstream = self.downstream
        await downstream({"type": "http.response.start", "status": status, "headers": stamped})
        self.finished = True
        await downstream({"type": "http.response.body", "body": body})

    def _stamped(self, headers: Any) -> list[tuple[bytes, bytes]]:
        """An answer's headers with the request id added (every answer carries it)."""
        return [*headers, (b"x-request-id", self.request_id.encode("latin-1", "replace"))]

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = self._stamped(message.get("headers", ()))
            committed = self.record(message["status"])
            if committed is not None:  # a shared journal's group commit
                await committed  # journaled before the client can read a byte of the answer
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self.downstream(message)


# The headers the gateway reads, by their raw name (decoded once here, not per request)
_WANTED = {
    name: name.decode("latin-1")
    for name in (b"x-request-id", b"content-length", b"content-type", b"x-api-key", b"authorization")
}


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[dict[str, str], list[tuple[bytes, bytes]]]:
    """Only the headers the gateway looks at (ASGI servers hand names over lower-cased), and all of them as the
    journal keeps them: huge values are cut before they are kept, so the journal stays small in bytes too."""
    wanted: dict[str, str] = {}
    size = 0
    for name, value in raw:
        size += len(value)
        if name in _WANTED:
            wanted[_WANTED[name]] = value.decode("latin-1")
    return wanted, (raw if size <= 8192 else [(k[:128], v[:512]) for k, v in raw])


def _tenant_hint(headers: dict[str, str]) -> str | None:
    """Who is calling, as far as headers tell before the provider authenticates (for fault matching)."""
    key = headers.get("x-api-key")
    if key:
        return key
    auth = headers.get("authorization", "")
    if auth[:6].lower() == "basic ":
        import base64
        import binascii

        try:
            return base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _seconds(value: float) -> str:
    return str(max(0, math.ceil(value)))


async def _buffer(receive: Receive, limit: int, message: Message) -> tuple[bytes | None, Receive]:
    """Read a JSON body (its first message already received) up to `limit` bytes and hand the app a receive that
    replays it. Past the limit the chunks read so far are replayed followed by the rest of the stream, so the
    handler refuses it itself."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] != "http.request":
            return None, _Replay(chunks, receive, message)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
        if size > limit:
            return None, _Replay(chunks, receive, None)
        message = await receive()
    data = b"".join(chunks)
    return data, _Replay([data], receive, None, True)


class _Replay:
    """A receive that gives the chunks read already, then `pending` (a message read past them), then the rest of
    the stream (unless the chunks were all of it)."""

    __slots__ = ("queue", "receive", "pending", "done")

    def __init__(self, chunks: list[bytes], receive: Receive, pending: Message | None, done: bool = False) -> None:
        self.queue = chunks
        self.receive = receive
        self.pending = pending
        self.done = done

    async def __call__(self) -> Message:
        queue = self.queue
        if queue:
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue) or not self.done}
        if self.pending is not None:
            return self.pending
        return await self.receive()


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(send: Send) -> None:
    """Close the connection without any response. Uvicorn exposes no ASGI way to do it, so reach the transport
    through its send callable; elsewhere (in-process transports) raise, which the client sees as a failure."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("mockserver fault: connection dropped")
    transport.close()
    for _ in range(3):
        await asyncio.sleep(0)
