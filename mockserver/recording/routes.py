"""Which surface, operation and job a path is, asked of the fake's own surfaces (no second routing table).

The fake is built once without serving (its routes and error renderers are all that is used): a path belongs to the
surface whose prefix claims it, its operation is the method and the template of the route that matches it
(`GET /v3/status/{job_id:path}`), and a GET whose route names a job parameter is a status poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import Match

from ..settings import Settings
from ..surface import Surface

# a GET on a route with one of these parameters reads a job's status: its reads form one sequence per job
JOB_PARAMETERS = ("job_id", "prediction_id", "training_id")


@dataclass(frozen=True)
class Operation:
    surface: str  # the fake's surface name: firefly, training, scenario, files, none
    upstream: str  # which upstream serves it: ims, firefly, training, scenario, files, none
    name: str  # "METHOD /template", or "METHOD /path" when no route matches
    job: str | None  # the job a status poll reads


class Routes:
    def __init__(self, settings: Settings | None = None) -> None:
        from ..app import create_app

        app = create_app(settings or Settings.from_env(env={}, no_admin=True, access_log=False))
        self.surfaces: list[Surface] = list(app.state.surfaces)

    def surface(self, path: str) -> Surface:
        return next(s for s in self.surfaces if path.startswith(s.prefixes))

    def operation(self, method: str, path: str) -> Operation:
        surface = self.surface(path)
        upstream = surface.surface
        if surface.surface == "firefly" and path.startswith("/ims"):
            upstream = "ims"
        scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "root_path": ""}
        for route in surface.routes():
            match, child = route.matches(scope)
            if match == Match.NONE:
                continue
            template = getattr(route, "path", path)
            params: dict[str, str] = child.get("path_params", {})
            job = next((params[p] for p in JOB_PARAMETERS if p in params), None)
            return Operation(surface.surface, upstream, f"{method} {template}", job if method == "GET" else None)
        return Operation(surface.surface, upstream, f"{method} {path}", None)

    def error(self, path: str, status: int, message: str) -> Response:
        """An answer of the proxy's own (no upstream, upstream unreachable) in the format of the path's surface."""
        return self.surface(path).error(path, status, None, message)
