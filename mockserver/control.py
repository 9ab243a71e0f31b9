"""The control API under /__admin: reset, clock, timing profile, faults, request journal, state export/import.

It needs no provider credentials; `--admin-token` makes it require `Authorization: Bearer <token>` (or the
dashboard's login cookie, see `admin_auth`), and `--no-admin` leaves these routes out entirely. Bodies are checked
against `openapi/admin.yaml`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import codec
from .admin_auth import authorized
from .bodies import read_json
from .context import Context
from .core.clock import ClockState
from .core.faults import rule_from
from .core.profiles import PROFILES
from .http import MAX_JSON_DEPTH, BodyTooLarge, is_count, json, too_deep
from .operations import operations
from .state_check import check_clock, check_objects
from .store import UNAVAILABLE
from .surface import NO_RATE_LIMITS, SurfaceError

SPEC = "admin.yaml"
STATE_VERSION = 1
_KEPT_ON_IMPORT = ("seeded", "seed", "ids", "fault_ids")


def _error(status: int, code: str, message: str) -> SurfaceError:
    return SurfaceError(status, code, message)


class Control:
    surface = "admin"
    prefixes = ("/__admin",)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.spec = ctx.specs[SPEC]
        self.operations = operations(self.spec)

    def routes(self) -> list[Route]:
        guard = self._guard
        return [
            Route("/__admin/reset", guard(self.reset), methods=["POST"]),
            Route("/__admin/clock", guard(self.clock), methods=["GET"]),
            Route("/__admin/clock/freeze", guard(self.freeze), methods=["POST"]),
            Route("/__admin/clock/advance", guard(self.advance), methods=["POST"]),
            Route("/__admin/clock/resume", guard(self.resume), methods=["POST"]),
            Route("/__admin/profile", guard(self.profile), methods=["GET", "PUT"]),
            Route("/__admin/faults", guard(self.faults), methods=["GET", "POST", "DELETE"]),
            Route("/__admin/faults/{rule_id}", guard(self.fault), methods=["GET", "DELETE"]),
            Route("/__admin/requests", guard(self.requests), methods=["GET", "DELETE"]),
            Route("/__admin/requests/count", guard(self.count), methods=["GET"]),
            Route("/__admin/state", guard(self.state), methods=["GET", "PUT"]),
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
        if status == 503 and code is None:  # a lost database (StoreUnavailable) names nothing itself
            code, message = "unavailable", message or UNAVAILABLE
        response = json({"error": code or "error", "message": message or "error"}, status)
        response.headers.update(headers or {})  # after the body's own headers, as the control API always sent them
        return response

    def _guard(self, handler: Any) -> Any:
        token = self.ctx.settings.admin_token

        async def guarded(request: Request) -> Response:
            if not authorized(request, token):
                raise _error(401, "unauthorized", "The control API needs Authorization: Bearer <admin token>.")
            return await handler(request)

        return guarded

    async def _body(self, request: Request, operation: str, optional: bool = False) -> Any:
        """The JSON body checked against the operation in admin.yaml (the first problem is refused)."""
        try:
            body = await read_json(request, self.ctx.settings.max_json_bytes)
        except BodyTooLarge:
            raise _error(413, "too_large", "Request body is too large.") from None
        if not body.raw:
            if optional:
                return {}
            raise _error(400, "empty_body", "A JSON body is required.")
        if body.empty:  # only whitespace: a body was sent, and it is not JSON
            raise _error(400, "invalid_json", "The body is not valid JSON: it holds only whitespace.")
        if body.error is not None:
            raise _error(400, "invalid_json", f"The body is not valid JSON: {body.error}")
        if too_deep(body.value):  # the gateway leaves the control API's bodies alone, so the depth is checked here
            raise _error(400, "invalid_json", f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        problems = self.operations[operation].body_errors(body.value)
        if problems:
            first = problems[0]
            where = ".".join(str(p) for p in first["loc"][1:]) or "body"
            raise _error(400, "invalid_request", f"{where}: {first['msg']}")
        return body.value

    # --- reset, clock, profile -----------------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        body = await self._body(request, "reset", optional=True)
        tenant = request.query_params.get("tenant") or body.get("tenant")
        if "seed" in body:
            self.world.reseed(body["seed"])
        self.world.reset(tenant)
        if tenant is None:
            self.ctx.journal.clear()
            self.ctx.images.clear()
        return json({"reset": True, "tenant": tenant})

    def _clock_json(self) -> dict[str, Any]:
        clock = self.world.clock
        now = clock.now()
        return {
            "now": now,
            "iso": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "frozen": clock.frozen,
            "offset": clock.state.offset,
        }

    async def clock(self, request: Request) -> Response:
        return json(self._clock_json())

    async def freeze(self, request: Request) -> Response:
        self.world.change_clock(lambda clock: clock.freeze())
        return json(self._clock_json())

    async def resume(self, request: Request) -> Response:
        self.world.change_clock(lambda clock: clock.resume())
        return json(self._clock_json())

    async def advance(self, request: Request) -> Response:
        body = await self._body(request, "advanceClock")
        try:
            self.world.advance_clock(float(body["seconds"]))
        except ValueError as exc:
            raise _error(422, "clock_out_of_range", str(exc)) from None
        return json(self._clock_json())

    async def profile(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await self._body(request, "setProfile")
            self.world.set_profile(body["name"])
        return json({"name": self.world.profile, "available": list(PROFILES)})

    # --- faults --------------------------------------------------------------------------------------------

    async def faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.world.faults.clear()
            return Response(status_code=204)
        if request.method == "GET":
            return json({"faults": [dataclasses.asdict(r) for r in self.world.faults.list()]})
        body = await self._body(request, "addFault")
        try:
            rule = self.world.faults.add(rule_from(body))
        except (ValueError, TypeError) as exc:
            raise _error(400, "invalid_request", str(exc)) from None
        return json(dataclasses.asdict(rule), 201)

    async def fault(self, request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        found = next((r for r in self.world.faults.list() if r.id == rule_id), None)
        if found is None:
            raise _error(404, "not_found", f"No fault rule {rule_id}.")
        if request.method == "DELETE":
            self.world.faults.remove(rule_id)
            return Response(status_code=204)
        return json(dataclasses.asdict(found))

    # --- journal -------------------------------------------------------------------------------------------

    def _query(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        status = q.get("status")
        if status is not None and not is_count(status):
            raise _error(400, "invalid_request", "status must be an integer")
        return {
            "path": q.get("path"),
            "method": q.get("method"),
            "tenant": q.get("tenant"),
            "status": int(status) if status is not None else None,
            "surface": q.get("surface"),
        }

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.ctx.journal.clear()
            return Response(status_code=204)
        filters = self._query(request)
        limit = request.query_params.get("limit")
        if limit is not None and not is_count(limit):
            raise _error(400, "invalid_request", "limit must be a non-negative integer.")
        found = self.ctx.journal.query(**filters)
        if limit is not None:
            found = found[-int(limit) :] if int(limit) else []
        return json({"requests": found, "count": len(found)})

    async def count(self, request: Request) -> Response:
        filters = self._query(request)
        return json({"count": len(self.ctx.journal.query(**filters))})

    # --- state ---------------------------------------------------------------------------------------------

    async def state(self, request: Request) -> Response:
        if request.method == "GET":
            return json(self.export())
        body = await self._body(request, "importState")
        if body.get("version", STATE_VERSION) != STATE_VERSION:
            raise _error(422, "invalid_state", f"The state cannot be imported: version must be {STATE_VERSION}.")
        try:
            objects = [
                (o["kind"], o["key"], o.get("tenant", ""), codec.decode(o["kind"], o["data"])) for o in body["objects"]
            ]
            clock = ClockState(**body.get("clock", {}))
            check_clock(clock.offset, clock.frozen_at)
            check_objects(objects, self.ctx.specs, self.world.pictures)
        except (KeyError, TypeError, ValueError) as exc:  # StateError is a ValueError
            raise _error(422, "invalid_state", f"The state cannot be imported: {exc}") from None
        store = self.world.store
        with store.transaction():
            # The world's own bookkeeping outlives an import: a restart must not load fixtures over the imported
            # objects, and id counters must not start again under the imported ids.
            kept = {name: store.meta_get(name) for name in _KEPT_ON_IMPORT}
            store.clear()
            for name, value in kept.items():
                if value is not None:
                    store.meta_put(name, value)
            for kind, key, tenant, obj in objects:
                store.put(kind, key, obj, tenant)
            self.world.restore(clock, body.get("profile", self.world.profile))
        return json({"imported": len(objects)})

    def export(self) -> dict[str, Any]:
        state = self.world.clock.state
        return {
            "version": STATE_VERSION,
            "clock": {"offset": state.offset, "frozen_at": state.frozen_at},
            "profile": self.world.profile,
            "objects": [
                {"kind": kind, "key": key, "tenant": tenant, "data": codec.encode(kind, obj)}
                for kind, key, tenant, obj in self.world.store.dump()
                if kind != "rate"  # rate-limit windows are counters of this run, like the journal
            ],
        }
