"""The routes clients hit in loops, entered without Starlette's middleware and router layers.

On a status poll Starlette's error and exception middleware, the app router, the surface's mount and the route's
own exception wrapper cost about as much as the handler. For the first routes of each surface's router (the hot
ones, which that router tries first anyway) the gateway matches the route itself, with the route's own `matches`,
and calls its endpoint; it answers refusals and crashes as those layers do. Anything else (another route, a
method the route does not take, a root path) goes through the app as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette._utils import is_async_callable
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from .surface import Surface, SurfaceError, SurfaceRoutes, render


class Direct:
    def __init__(self, app: Any, mounted: list[SurfaceRoutes], hot: tuple[str, ...]) -> None:
        self.app = app
        self.routes: dict[int, list[Route]] = {}
        for mount in mounted:
            leading: list[Route] = []
            for route in mount.router.routes:  # in the router's order: only its leading hot routes qualify
                if not (isinstance(route, Route) and route.path in hot and is_async_callable(route.endpoint)):
                    break
                leading.append(route)
            self.routes[id(mount.surface)] = leading

    def find(self, scope: Scope, surface: Surface) -> tuple[Route, Scope] | None:
        """The route the surface's router would pick, if it is one of its leading hot routes; else None."""
        if scope.get("root_path"):
            return None
        for route in self.routes.get(id(surface), ()):
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, child
            if match is Match.PARTIAL:  # the router would look further: leave it to the router
                return None
        return None

    async def serve(
        self,
        found: tuple[Route, Scope],
        scope: Scope,
        receive: Receive,
        send: Send,
        surface: Surface,
        started: Callable[[], bool],
    ) -> None:
        """`started` tells whether the answer has begun (the gateway's send sees every message anyway)."""
        route, child = found
        scope.update(child)
        scope["app"] = self.app
        try:
            try:
                response = await route.endpoint(Request(scope, receive, send))
            except SurfaceError as exc:  # the app's exception handler would render it
                if started():
                    raise
                response = render(surface, scope["path"], exc)
            await response(scope, receive, send)
        except Exception:
            if not started():  # as Starlette's error middleware: answer 500 in the provider's format, then re-raise
                await render(surface, scope["path"], SurfaceError(500))(scope, receive, send)
            raise
