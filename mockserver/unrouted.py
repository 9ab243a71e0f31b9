"""Paths that belong to no surface (a client with a wrong base URL): answered in a neutral JSON format and still
recorded in the journal under the surface name "none", so the mistake can be seen there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from .http import json
from .surface import NO_RATE_LIMITS

_CODES = {
    404: ("not_found", "The requested resource was not found."),
    405: ("method_not_allowed", "Method not allowed."),
    500: ("internal_error", "Internal server error."),
    503: ("unavailable", "The service is unavailable; try again shortly (retry-after)."),  # a lost database, a fault
}


class Unrouted:
    """Every path no other surface claims. The server's own few routes (/health, /ready, /openapi) live here, so
    they are neither journaled nor faulted under a provider's name."""

    surface = "none"
    prefixes = ("/",)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, routes: list[BaseRoute] | None = None) -> None:
        self._routes = routes or []

    def routes(self) -> list[BaseRoute]:
        return list(self._routes)

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        default_code, default_message = _CODES.get(status, ("error", "The request failed."))
        return json({"error": code or default_code, "message": message or default_message}, status, headers)
