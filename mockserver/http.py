"""Small HTTP helpers every provider uses: fast JSON responses, bounded body reads, absolute URLs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

_JSON_TYPE = (b"content-type", b"application/json")


class JSON(Response):
    """A JSON response rendered with orjson (the hot path answers mostly small JSON documents)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's headers, in its order (given ones, then content-length, then content-type), built without
        its general case when no given header names either of those two (every answer on the hot routes)."""
        raw = []
        if headers:
            for name, value in headers.items():
                lower = name.lower()
                if lower == "content-length" or lower == "content-type":
                    super().init_headers(headers)
                    return
                raw.append((lower.encode("latin-1"), value.encode("latin-1")))
        if self.status_code < 200 or self.media_type != "application/json":
            super().init_headers(headers)
            return
        if self.status_code not in (204, 304):
            raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        raw.append(_JSON_TYPE)
        self.raw_headers = raw


class Prepared(Response):
    """An answer whose body and headers were rendered before (and kept): sent as Starlette's `Response` sends."""

    def __init__(self, body: bytes, raw_headers: list[tuple[bytes, bytes]], status: int = 200) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = list(raw_headers)


def json(content: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSON:
    return JSON(content, status_code=status, headers=headers)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes `limit` bytes (a declared Content-Length over the limit
    is refused before reading anything)."""
    if over_limit(request.headers.get("content-length"), limit):
        raise BodyTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


MAX_DIGITS = 18  # every count the fake accepts fits in 18 digits; longer ones are refused before int() sees them


def is_count(text: str | None) -> bool:
    """A non-negative decimal integer in ASCII digits (str.isdigit() also accepts '²', which int() refuses), of
    at most MAX_DIGITS digits: int() of a 4,301-digit string raises, and long ones cost quadratic time."""
    return text is not None and 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def over_limit(declared: str | None, limit: int) -> bool:
    """Whether a declared Content-Length is a count above `limit` (a count too long to convert is above it)."""
    if not declared or not (declared.isascii() and declared.isdigit()):
        return False
    return len(declared) > MAX_DIGITS or int(declared) > limit


MAX_JSON_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit`. Iterative, so hostile input cannot exhaust the stack;
    validators and the journal's serialiser then never see such documents."""
    if type(value) is dict:  # the usual request body: an object of scalars, decided without the walk
        for child in value.values():
            if isinstance(child, (dict, list)):
                break
        else:
            return limit < 1
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def header(request: Request, name: bytes) -> str:
    """One request header by its lower-case name, read from the raw ASGI list (cheaper than `request.headers`
    on the paths clients poll)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def base_url(request: Request, public_url: str | None = None) -> str:
    """The address the client used (scheme, host and port), so returned URLs work from where it stands.
    Read straight from the ASGI scope: this runs on every status poll."""
    if public_url:
        return public_url.rstrip("/")
    scope = request.scope
    host = proto = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1")
    scheme = proto or scope.get("scheme", "http")
    if host:
        return f"{scheme}://{host}"
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"{scheme}://{server[0]}:{server[1]}"


def is_json_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))
