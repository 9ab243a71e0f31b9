"""The routes clients hit in loops, entered without Starlette's middleware and router layers.

On a status poll Starlette's error and exception middleware, the app router, the surface's mount and the route's
own exception wrapper cost about as much as the handler. For the first routes of each surface's router (the hot
ones, which that router tries first anyway) the gateway matches the route itself, with the route's own `matches`,
and calls its endpoint; it answers refusals and crashes as those layers do. Anything else (another route, a
method the route does not take, a root path) goes through the app as before.
"""

from __future__ import annotations

from typing import Any

from starlette._utils import is_async_callable
from starlette.convertors import PathConvertor, StringConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from .surface import Surface, SurfaceError, SurfaceRoutes, render


class Direct:
    def __init__(self, app: Any, mounted: list[SurfaceRoutes], hot: tuple[str, ...]) -> None:
        self.app = app
        self.routes: dict[int, list[_Hot]] = {}
        # Per surface, the hot routes without parameters by their path, where no route before them matches that
        # path: found by one lookup, as the router would find them by trying each route in turn
        self.literal: dict[int, dict[str, _Hot]] = {}
        for mount in mounted:
            leading: list[_Hot] = []
            exact: dict[str, _Hot] = {}
            for route in mount.router.routes:  # in the router's order: only its leading hot routes qualify
                if not (isinstance(route, Route) and route.path in hot and is_async_callable(route.endpoint)):
                    break
                found = _Hot(route)
                if not route.param_convertors and not any(h.regex.match(route.path) for h in leading):
                    exact[route.path] = found
                leading.append(found)
            self.routes[id(mount.surface)] = leading
            self.literal[id(mount.surface)] = exact

    def find(self, scope: Scope, surface: Surface) -> tuple[_Hot, dict[str, Any]] | None:
        """The route the surface's router would pick, if it is one of its leading hot routes, and its path
        parameters; else None. Matched as Starlette's `Route.matches` does, without the scopes it builds."""
        if scope.get("root_path"):
            return None
        path = scope["path"]
        exact = self.literal.get(id(surface))
        if exact is not None and path in exact:
            hot = exact[path]
            return (hot, {}) if scope["method"] in hot.methods else None
        for hot in self.routes.get(id(surface), ()):
            match = hot.regex.match(path)
            if match is not None:
                if scope["method"] not in hot.methods:
                    return None  # the router would look further (and answer 405): leave it to the router
                params = match.groupdict()
                for name, convert in hot.converting:
                    params[name] = convert(params[name])
                return hot, params
        return None

    async def serve(
        self,
        found: tuple[_Hot, dict[str, Any]],
        scope: Scope,
        receive: Receive,
        exchange: Any,
    ) -> None:
        """The gateway's `exchange` gives the surface, the `send` that journals, and whether the answer has begun
        (`recorded`: that send sees every message); `exchange.respond` sends a whole answer as `send` would send
        its two messages."""
        hot, params = found
        send, surface = exchange.send, exchange.surface
        scope["endpoint"] = hot.endpoint
        scope["path_params"] = params
        scope["app"] = self.app
        try:
            try:
                response = await hot.endpoint(Request(scope, receive, send))
            except SurfaceError as exc:  # the app's exception handler would render it
                if exchange.recorded:
                    raise
                response = render(surface, scope["path"], exc)
            if response.background is None and type(response).__call__ is _SEND_WHOLE:
                await exchange.respond(response.status_code, response.raw_headers, response.body)
            else:  # a streamed or file answer, or one with a background task: sent as it sends itself
                await response(scope, receive, send)
        except Exception:
            if not exchange.recorded:  # as Starlette's error middleware: answer 500 in the provider's format, re-raise
                await render(surface, scope["path"], SurfaceError(500))(scope, receive, send)
            raise


# A response that `Response.__call__` sends (its start, then its whole body): the exchange sends it as it would
_SEND_WHOLE = Response.__call__


class _Hot:
    """A hot route as `Route.matches` uses it: its pattern, the methods it takes and the parameters to convert
    (`str` and `path` parameters are taken as matched, as their convertors do)."""

    def __init__(self, route: Route) -> None:
        self.endpoint = route.endpoint
        self.regex = route.path_regex
        self.methods: set[str] | frozenset[str] = route.methods or frozenset()
        self.converting = [
            (name, convertor.convert)
            for name, convertor in route.param_convertors.items()
            if not isinstance(convertor, (StringConvertor, PathConvertor))
        ]
