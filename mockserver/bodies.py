"""JSON request bodies: read once, parsed once.

The gateway buffers and parses a JSON body before routing (for the depth limit, the journal and fault rules) and
leaves the result in the scope; a handler takes it from there. Only a body the gateway did not parse (not
declared as JSON, or on a path the gateway does not inspect) is read and parsed here. Whether an empty, non-JSON
or unparseable body is refused, and how, is each surface's business.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from .http import read_body

SCOPE_KEY = "mock.json"


class JsonBody:
    """A body as read: one per JSON request, so a plain slotted class (a frozen dataclass sets each field through
    `object.__setattr__`)."""

    __slots__ = ("raw", "value", "error")

    def __init__(self, raw: bytes, value: Any, error: str | None) -> None:
        self.raw = raw
        self.value = value  # None when empty or not JSON
        self.error = error  # the parser's message when the body is not JSON

    @property
    def empty(self) -> bool:
        return not self.raw.strip()


def parse(raw: bytes) -> JsonBody:
    """orjson refuses nesting deeper than 1024 levels instead of overflowing the stack."""
    if not raw.strip():
        return JsonBody(raw, None, None)
    try:
        return JsonBody(raw, orjson.loads(raw), None)
    except orjson.JSONDecodeError as exc:
        return JsonBody(raw, None, str(exc))


async def read_json(request: Request, limit: int) -> JsonBody:
    """The request's body as the gateway parsed it, or read (at most `limit` bytes: BodyTooLarge) and parsed."""
    parsed: JsonBody | None = request.scope.get(SCOPE_KEY)
    if parsed is not None:
        return parsed
    return parse(await read_body(request, limit))
