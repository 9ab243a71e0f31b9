"""The app factory: tests, the CLI, the pytest plugin and the Docker entrypoint all build the app here."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from . import fixtures as fixture_files
from . import logs
from . import spec as specs
from .context import Context
from .control import Control
from .core.world import World
from .dashboard import Dashboard
from .direct import Direct
from .files import Files
from .gateway import Gateway
from .http import json
from .images import ImageCache
from .journal import Journal, SharedJournal
from .providers.firefly import Firefly
from .providers.firefly_async import FireflyAsync
from .providers.firefly_uploads import FireflyStorage
from .providers.firefly_video import FireflyVideo
from .providers.scenario import Scenario
from .providers.training import Training
from .settings import Settings
from .store import MemoryStore
from .store_sqlite import SqliteStore
from .surface import Surface, SurfaceError, SurfaceRoutes, Surfaces, error_handler
from .unrouted import Unrouted

SPEC_FILES = ("firefly-v3.yaml", "admin.yaml", "training.yaml", "scenario.yaml")


def build_context(settings: Settings) -> Context:
    """Load fixtures and specs (raising FixtureError or OSError with a clear message) and build the world."""
    loaded = fixture_files.load(settings.fixtures)
    store: Any
    if settings.database_url:
        from .store_postgres import PostgresStore  # psycopg is an optional extra

        store = PostgresStore(settings.database_url)
    else:
        store = SqliteStore(settings.state_dir) if settings.state_dir else MemoryStore()
    world = World(
        store,
        loaded,
        seed=settings.seed,
        profile=settings.profile,
        auth_mode=settings.auth_mode,
        max_jobs=settings.max_jobs,
        max_tokens=settings.max_tokens,
    )
    journal = SharedJournal(store, settings.journal_size) if store.shared else Journal(settings.journal_size)
    spec_dir = Path(settings.specs)
    loaded_specs = {name: specs.load(str(spec_dir), name) for name in SPEC_FILES}
    return Context(settings, world, loaded_specs, ImageCache(settings.image_cache_mb * 1024 * 1024), journal)


def create_app(settings: Settings | None = None) -> Gateway:
    settings = settings or Settings.from_env()
    ctx = build_context(settings)
    listed: list[Surface] = [
        FireflyAsync(ctx),  # its paths and the video's are under Firefly's /v3: more specific prefixes first
        FireflyVideo(ctx),
        Firefly(ctx),
        FireflyStorage(ctx),
        Training(ctx),
        Scenario(ctx),
        Files(ctx),
    ]
    if not settings.no_admin:
        listed += [Dashboard(ctx), Control(ctx)]  # the dashboard's /__admin/ui before the control API's /__admin
    ctx.world.start()
    ready = {"ok": False}

    async def health(request: Request) -> Response:
        return json({"status": "ok"})

    store_answers = getattr(ctx.world.store, "available", None)  # PostgreSQL: not ready while it is lost

    async def readiness(request: Request) -> Response:
        if not ready["ok"]:
            return json({"status": "starting"}, 503)
        if store_answers is not None and not store_answers():
            return json({"status": "database unavailable"}, 503)
        return json({"status": "ready"})

    async def openapi(request: Request) -> Response:
        found = ctx.specs.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", 404)
        return PlainTextResponse(found.text, media_type="application/yaml")

    own: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", readiness, methods=["GET"]),
        Route("/openapi/{name}", openapi, methods=["GET"]),
    ]
    listed.append(Unrouted(own))  # last: its prefix "/" matches every path no other surface claims
    surfaces = Surfaces(listed)
    # Each surface's routes are mounted as one route; the surfaces clients poll come first, and within each
    # surface the routes they poll (status, downloads, job and prediction reads).
    hot = (
        "/v3/status/{job_id:path}",
        "/files/{name}",
        "/v1/jobs/{job_id}",
        "/predictions/{prediction_id}",
        "/v3/custom-models",
        "/v3/images/generate-async",
    )
    first = ("firefly", "files", "scenario", "training")
    ordered = sorted(surfaces, key=lambda s: first.index(s.surface) if s.surface in first else len(first))
    routes: list[BaseRoute] = [SurfaceRoutes(surfaces, each, hot) for each in ordered]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ready["ok"] = True
        yield
        ready["ok"] = False
        ctx.world.store_settle()  # a group transaction still open when the loop stops is committed now

    refused = error_handler(surfaces)

    async def unrouted(request: Request, exc: Exception) -> Response:
        """Unknown paths and methods answer in the format of the surface the path belongs to."""
        status = getattr(exc, "status_code", 404)
        message = "The requested resource was not found." if status == 404 else "Method not allowed."
        return await refused(request, SurfaceError(status, None, message, getattr(exc, "headers", None)))

    async def crashed(request: Request, exc: Exception) -> Response:
        """A handler that crashed answers 500 in its provider's format (Starlette's error middleware sends this,
        then re-raises so the gateway logs the crash)."""
        return await refused(request, SurfaceError(500))

    handlers = {SurfaceError: refused, 404: unrouted, 405: unrouted, Exception: crashed}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.ctx = ctx
    app.state.surfaces = surfaces
    return Gateway(app, ctx, surfaces, Direct(app, [r for r in routes if isinstance(r, SurfaceRoutes)], hot))


def app_from_env() -> Gateway:
    """The factory Uvicorn worker processes call: settings come from MOCKSERVER_* (the CLI exports them)."""
    settings = Settings.from_env()
    if settings.access_log:
        logs.configure(settings.log_format)
    app = create_app(settings)
    tune_gc()
    return app


# A young collection per 50,000 net new container objects instead of 700, and older generations as rarely.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """For a server process only (the CLI and its workers; never a test process that embeds the app): what the
    fake keeps (jobs, assets, tokens) is freed by reference counting, not by the cycle collector, yet with the
    default thresholds the collector walked every stored job again and again: about a sixth of a generate's time
    with 10,000 jobs kept, and pauses of 100 ms and more. What exists at start-up (specs, fixtures, compiled
    checks) is frozen out of its walks altogether."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
