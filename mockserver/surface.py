"""What a surface is, and how its refusals travel: raised anywhere as a `SurfaceError`, rendered once.

A surface is one API the fake serves on the shared port (a provider, the downloads, the control API, the catch-all
for unrouted paths). The gateway, the app and the control plane only ever see this interface. Handlers and their
helpers *raise* a `SurfaceError`; the app's one exception handler (and the gateway, for the refusals it makes before
routing) hands it to the `error()` of the surface the path belongs to, which renders it in that API's wire format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

RateLimits = Mapping[tuple[str, str], list[tuple[float, int]]]
NO_RATE_LIMITS: RateLimits = MappingProxyType({})


class SurfaceError(Exception):
    """A refusal: status, the surface's error code (None: the surface's default for the status), message (None:
    its default wording), response headers, and any extra body fields the wire format carries (Firefly's
    `validation_errors`, the training API's `details`)."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra


class Surface(Protocol):
    """One API on the shared port. `surface` names it in the journal and in fault rules; `prefixes` are the paths
    it owns; `rate_limits` are its per-route windows (--rate-limits realistic)."""

    @property
    def surface(self) -> str: ...

    @property
    def prefixes(self) -> tuple[str, ...]: ...

    @property
    def rate_limits(self) -> RateLimits: ...

    def routes(self) -> Sequence[BaseRoute]: ...

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response: ...


class Surfaces:
    """The surfaces in the order their prefixes are tried (the catch-all with prefix "/" last)."""

    def __init__(self, surfaces: Sequence[Surface]) -> None:
        self.all = list(surfaces)

    def __iter__(self) -> Any:
        return iter(self.all)

    def for_path(self, path: str) -> Surface:
        for surface in self.all:
            if path.startswith(surface.prefixes):
                return surface
        raise LookupError(path)  # unreachable while the catch-all (prefix "/") is in the list


SCOPE_KEY = "mock.surface"  # the gateway puts the request's surface here, so nothing looks it up twice


def surface_of(surfaces: Surfaces, scope: Mapping[str, Any]) -> Surface:
    found: Surface | None = scope.get(SCOPE_KEY)
    return found if found is not None else surfaces.for_path(scope["path"])


class SurfaceRoutes(BaseRoute):
    """One surface's routes, mounted as one route of the app: it matches the requests that are the surface's (the
    gateway decided which, once, by prefix) and hands them to the surface's own router."""

    def __init__(self, surfaces: Surfaces, surface: Surface, hot: Sequence[str] = ()) -> None:
        self.surfaces = surfaces
        self.surface = surface
        routes = list(surface.routes())
        # A router tries its routes in order: the ones clients hit in loops (status polls, downloads) go first.
        routes.sort(key=lambda r: hot.index(path) if (path := getattr(r, "path", None)) in hot else len(hot))
        self.router = Router(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and surface_of(self.surfaces, scope) is self.surface:
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.router.url_path_for(name, **path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.router(scope, receive, send)  # an unknown path or method raises 404/405 for the app's handler


def render(surface: Surface, path: str, exc: SurfaceError) -> Response:
    return surface.error(path, exc.status, exc.code, exc.message, exc.headers, **exc.extra)


def error_handler(surfaces: Surfaces) -> Any:
    """The app's exception handler for `SurfaceError`: the one place a handler's refusal becomes a response."""

    async def render_raised(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SurfaceError)
        return render(surface_of(surfaces, request.scope), request.url.path, exc)

    return render_raised
