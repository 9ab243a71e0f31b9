"""The dashboard at /__admin/ui: server-rendered pages over the same core the APIs use.

It is a surface like the control API (same admin token rules, absent with `--no-admin`) and shares its prefix, so
the gateway never journals or faults its requests and the providers' hot paths never see it. Pages only read;
every change (clock, profile, faults, reset, state import) is a call from the page's script to the control API,
so there is one implementation of each action. Templates and static files ship inside the package: no CDN, no
build step, works offline.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..admin_auth import COOKIE, authorized, cookie_value
from ..context import Context
from ..core.assets import Asset
from ..core.profiles import PROFILES
from ..files import asset_bytes
from ..http import BodyTooLarge, base_url, read_body
from ..store import UNAVAILABLE
from ..surface import NO_RATE_LIMITS, SurfaceError
from . import views
from .thumbs import Thumbnails

HERE = Path(__file__).parent
ROOT = "/__admin/ui"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# Everything the pages load comes from this server; no inline script may run.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
LOGIN_BODY_BYTES = 4096
NAV = (("jobs", "Jobs"), ("images", "Images"), ("requests", "Requests"), ("models", "Models"), ("controls", "Controls"))

Handler = Callable[[Request], Awaitable[Response]]


def _bad(message: str) -> SurfaceError:
    return SurfaceError(400, "bad_request", message)


class Dashboard:
    surface = "dashboard"
    prefixes = (ROOT,)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.token = ctx.settings.admin_token
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters["clock"] = views.clock_text
        self.templates.env.filters["pretty"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()
        self.static = {p.name: (p.read_bytes(), STATIC_TYPES[p.suffix]) for p in (HERE / "static").iterdir()}
        self.thumbnails = Thumbnails(ctx)

    def routes(self) -> list[Route]:
        guard = self._guard
        return [
            Route(ROOT, self.home, methods=["GET"]),
            Route(f"{ROOT}/jobs", guard(self.jobs), methods=["GET"]),
            Route(f"{ROOT}/jobs/rows", guard(self.job_rows), methods=["GET"]),
            Route(f"{ROOT}/images", guard(self.images), methods=["GET"]),
            Route(f"{ROOT}/images/{{asset_id}}", guard(self.image), methods=["GET"]),
            Route(f"{ROOT}/thumbs/{{asset_id}}", guard(self.thumb), methods=["GET"]),
            Route(f"{ROOT}/files/{{asset_id}}", guard(self.file), methods=["GET"]),
            Route(f"{ROOT}/requests", guard(self.requests), methods=["GET"]),
            Route(f"{ROOT}/models", guard(self.models), methods=["GET"]),
            Route(f"{ROOT}/controls", guard(self.controls), methods=["GET"]),
            Route(f"{ROOT}/login", self.login, methods=["GET", "POST"]),
            Route(f"{ROOT}/logout", self.logout, methods=["POST"]),
            Route(f"{ROOT}/static/{{name}}", self.static_file, methods=["GET"]),
        ]

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        """Refusals as a small HTML page (a browser is the client), with the same security headers."""
        defaults = {
            404: "There is no such page.",
            405: "Method not allowed.",
            500: "Internal server error.",
            503: UNAVAILABLE,
        }
        text = message or defaults.get(status, "The request failed.")
        html = self.templates.get_template("error.html").render(status=status, message=text, nav=NAV, root=ROOT)
        return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})

    # --- helpers -------------------------------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not authorized(request, self.token):
                return self._login_page(request, 401, "")
            return await handler(request)

        return guarded

    def _page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        clock = self.world.clock
        context = {
            "nav": NAV,
            "root": ROOT,
            "now": clock.now(),
            "frozen": clock.frozen,
            "token_set": bool(self.token),
            "logged_in": name != "login.html",  # the login page shows neither the clock nor a logout button
            **context,
        }
        return self.templates.TemplateResponse(request, name, context, status, SECURITY_HEADERS)

    def _login_page(self, request: Request, status: int, problem: str) -> Response:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self._page(request, "login.html", status, problem=problem, next=_local(wanted))

    @staticmethod
    def _query(request: Request, *names: str) -> dict[str, str | None]:
        return {name: (request.query_params.get(name) or "").strip()[:200] or None for name in names}

    # --- pages ---------------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse(f"{ROOT}/jobs", 303)

    async def jobs(self, request: Request) -> Response:
        filters = self._query(request, "tenant", "surface", "status")
        rows, total = self._job_rows(filters)
        return self._page(
            request,
            "jobs.html",
            rows=rows,
            total=total,
            filters=filters,
            tenants=views.tenants(self.world),
            surfaces=views.SURFACES,
            statuses=views.STATUSES,
            query=request.url.query,
        )

    async def job_rows(self, request: Request) -> Response:
        """The Jobs table's rows alone: what the page's script fetches every second to update in place."""
        filters = self._query(request, "tenant", "surface", "status")
        rows, total = self._job_rows(filters)
        etag = _etag(rows, total)
        headers = {**SECURITY_HEADERS, "etag": etag, "x-total": str(total), "x-shown": str(len(rows))}
        if request.headers.get("if-none-match") == etag:  # nothing moved since the last poll: no rendering
            return Response(status_code=304, headers=headers)
        return self.templates.TemplateResponse(request, "_job_rows.html", {"rows": rows}, 200, headers)

    def _job_rows(self, filters: dict[str, str | None]) -> tuple[list[views.JobRow], int]:
        try:
            return views.jobs(self.world, filters["tenant"], filters["surface"], filters["status"])
        except views.BadFilter as exc:
            raise _bad(str(exc)) from None

    async def images(self, request: Request) -> Response:
        tenant = self._query(request, "tenant")["tenant"]
        return self._page(
            request,
            "images.html",
            pictures=views.pictures(self.world, tenant),
            tenant=tenant,
            tenants=views.tenants(self.world),
            limit=views.MAX_IMAGES,
        )

    async def image(self, request: Request) -> Response:
        found = views.picture(self.world, request.path_params["asset_id"])
        if found is None:
            raise SurfaceError(404, "not_found", "No generated image has this id.")
        return self._page(request, "image.html", picture=found)

    def _asset(self, request: Request) -> Asset:
        asset = self.world.assets.get(request.path_params["asset_id"])
        if asset is None or not asset.mime.startswith("image/"):
            raise SurfaceError(404, "not_found", "No image has this id.")
        return asset

    async def thumb(self, request: Request) -> Response:
        asset = self._asset(request)
        headers = _image_headers(f"thumb:{self.thumbnails.key(asset)}")
        if request.headers.get("if-none-match") == headers["etag"]:
            return Response(status_code=304, headers=headers)
        data = await self.thumbnails.get(asset)
        if data is None:
            raise SurfaceError(404, "not_found", "This image has no pixels to show.")
        return Response(data, 200, headers, media_type="image/jpeg")

    async def file(self, request: Request) -> Response:
        """The full-size file, without a signed URL (the dashboard is behind the admin token instead)."""
        asset = self._asset(request)
        headers = _image_headers(f"file:{self.thumbnails.key(asset)}")
        if request.headers.get("if-none-match") == headers["etag"]:
            return Response(status_code=304, headers=headers)
        data = await asset_bytes(self.ctx, asset)
        if data is None:
            raise SurfaceError(404, "not_found", "This image has no pixels to show.")
        return Response(data, 200, headers, media_type=asset.mime)

    async def requests(self, request: Request) -> Response:
        filters = self._query(request, "surface", "method", "status", "tenant", "path")
        try:
            entries, total = views.requests(self.ctx.journal, base_url(request, self.ctx.settings.public_url), filters)
        except views.BadFilter as exc:
            raise _bad(str(exc)) from None
        return self._page(
            request,
            "requests.html",
            entries=entries,
            total=total,
            filters=filters,
            surfaces=views.JOURNAL_SURFACES,
        )

    async def models(self, request: Request) -> Response:
        tenant = self._query(request, "tenant")["tenant"]
        return self._page(
            request,
            "models.html",
            groups=views.models(self.world, tenant),
            tenant=tenant,
            tenants=views.tenants(self.world),
        )

    async def controls(self, request: Request) -> Response:
        clock = self.world.clock
        return self._page(
            request,
            "controls.html",
            offset=clock.state.offset,
            profile=self.world.profile,
            profiles=PROFILES,
            faults=self.world.faults.list(),
            fault_surfaces=("firefly", "training", "scenario", "files", "none"),
        )

    # --- login, static files -------------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        if not self.token:
            return RedirectResponse(f"{ROOT}/jobs", 303)
        if request.method == "GET":
            return self._page(request, "login.html", problem="", next=_local(request.query_params.get("next", "")))
        try:
            raw = await read_body(request, LOGIN_BODY_BYTES)
        except BodyTooLarge:
            raise _bad("The login form is too large.") from None
        form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), max_num_fields=10)
        given = (form.get("token") or [""])[0]
        wanted = _local((form.get("next") or [""])[0])
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return self._page(request, "login.html", 401, problem="That is not the admin token.", next=wanted)
        response = RedirectResponse(wanted, 303)
        response.set_cookie(
            COOKIE, cookie_value(self.token), httponly=True, samesite="strict", path="/__admin", secure=False
        )
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse(f"{ROOT}/login", 303)
        response.delete_cookie(COOKIE, path="/__admin", httponly=True, samesite="strict")
        return response

    async def static_file(self, request: Request) -> Response:
        found = self.static.get(request.path_params["name"])
        if found is None:
            raise SurfaceError(404, "not_found", "No such file.")
        data, media_type = found
        return Response(data, 200, {"cache-control": "no-cache", "x-content-type-options": "nosniff"}, media_type)


def _etag(rows: list[views.JobRow], total: int) -> str:
    """What the rows fragment shows, as a tag: it changes when a row's phase, progress or poll count does, and with
    the clock while a shown job waits or runs (its timeline marker moves); a frozen clock changes nothing."""
    live = ("pending", "running")
    shown = [(r.job.id, r.status, r.progress, r.job.polls, r.elapsed if r.status in live else 0) for r in rows]
    return f'"{hashlib.blake2b(repr((total, shown)).encode(), digest_size=12).hexdigest()}"'


def _image_headers(key: str) -> dict[str, str]:
    """An image's URL names an asset id, and seeded ids come round again after a reset or an import: the browser
    keeps the picture but asks each time (no-cache), and the tag, from what the picture is drawn from, says
    whether it still holds."""
    tag = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    return {"cache-control": "private, no-cache", "etag": f'"{tag}"'}


def _local(target: str) -> str:
    """Where to go after logging in: a dashboard page only (never another site)."""
    if target.startswith(f"{ROOT}/") and "//" not in target and "\\" not in target:
        return target
    return f"{ROOT}/jobs"
