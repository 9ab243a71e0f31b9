"""Firefly v3's image-to-image async operations: expand, fill, generate-similar and generate-object-composite.

Each takes a JSON body (or `multipart/form-data` with a `request` part and image `files`), validated against its
schema in `openapi/firefly-v3.yaml` and then by the rules a schema cannot state (`firefly_rules`). A job runs on the
shared clock and profiles; `/v3/status` and `/v3/cancel` (in `firefly`) find it like a generate job. Its pictures
show what was asked, drawn over the caller's uploaded pixels (`images.Layer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import Context
from ..core import outputs
from ..core.assets import Asset, sources
from ..core.jobs import Job
from ..core.outputs import PICTURE
from ..http import base_url, json
from ..operations import operations
from . import firefly_errors as errors
from . import firefly_rules as rules
from .firefly import JOB_PREFIX, SPEC, whole_numbers
from .firefly_multipart import read_request, store_files
from .firefly_uploads import authenticate, uploads


@dataclass(frozen=True)
class Operation:
    kind: str  # the job kind
    id: str  # the operationId in openapi/firefly-v3.yaml (its headers and request schema)
    title: str  # the first caption line


OPERATIONS = {
    "/v3/images/expand-async": Operation("firefly.expand", "expandImagesV3Async", "Generative Expand"),
    "/v3/images/fill-async": Operation("firefly.fill", "fillImagesV3Async", "Generative Fill"),
    "/v3/images/generate-similar-async": Operation(
        "firefly.similar", "generateSimilarImagesV3Async", "Generate Similar"
    ),
    "/v3/images/generate-object-composite-async": Operation(
        "firefly.composite", "generateObjectCompositeV3Async", "Object Composite"
    ),
}
KINDS = tuple(op.kind for op in OPERATIONS.values())


class FireflyAsync(errors.FireflyErrorRendering):
    """Part of the Firefly surface (same name, same error formats), owning exactly its four paths: it comes before
    `Firefly` (prefix `/v3`) in the app's list, and `/v3/images/generate-async` stays Firefly's."""

    surface = "firefly"
    prefixes = tuple(OPERATIONS)
    # The same per-organisation limits as generate-async (--rate-limits realistic)
    rate_limits = {("POST", path): [(60.0, 4), (86400.0, 9000)] for path in OPERATIONS}

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.operations = operations(ctx.specs[SPEC])  # request schemas compiled at start-up
        self.uploads = uploads(ctx)

    def routes(self) -> list[Route]:
        return [Route(path, self._handler(op), methods=["POST"]) for path, op in OPERATIONS.items()]

    def _handler(self, op: Operation) -> Any:
        async def handle(request: Request) -> Response:
            return await self.start(request, op)

        return handle

    async def start(self, request: Request, op: Operation) -> Response:
        tenant = authenticate(self.ctx, request)
        if tenant == "":
            headers = {"x-access-error": "invalid_ims_scope"}
            raise errors.api(403, "access_error", "The token lacks the firefly_api scope.", headers)
        settings = self.ctx.settings
        body, files = await read_request(request, settings.max_json_bytes, settings.max_body_bytes)
        params, problems = self.operations[op.id].parameters(request, defaults=True)
        if not isinstance(body, dict):
            problems.append({"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"})
            raise errors.validation(problems)
        problems += self.operations[op.id].body_errors(body)
        if not problems:
            body = whole_numbers(body)
            problems = rules.errors(op.kind, body)
        if problems:
            raise errors.validation(problems)
        stored = await store_files(self.world, self.uploads, tenant, files) if files else []
        problems = rules.fill_sources(body, stored, files is not None)
        found: dict[str, Asset] = {}
        for loc, source in rules.sources(body):
            upload_id = source.get("uploadId")
            if upload_id is not None and not problems:
                live = self.uploads.get(tenant, upload_id)
                if live is None:
                    problems.append(rules.unknown_upload(loc))
                else:
                    found[upload_id] = live[1]
        if problems:
            raise errors.validation(problems)
        mime, profile = params["x-accept-mimetype"], params.get("x-mock-profile")
        with self.world.store.transaction():
            job = self._create_job(tenant, op, body, found, mime, profile, request.scope.get("mock.job_outcome"))
        base = base_url(request, self.ctx.settings.public_url)
        status_url, cancel_url = f"{base}/v3/status/{job.id}", f"{base}/v3/cancel/{job.id}"
        link = f'<{status_url}>; rel="status", <{cancel_url}>; rel="cancel"'
        return json({"jobId": job.id, "statusUrl": status_url, "cancelUrl": cancel_url}, 202, {"Link": link})

    def _create_job(
        self,
        tenant: str,
        op: Operation,
        body: dict[str, Any],
        found: dict[str, Asset],
        mime: str,
        profile: str | None,
        outcome: Any,
    ) -> Job:
        world = self.world
        seeds = body.get("seeds") or []
        count = body.get("numVariations") or len(seeds) or 1
        seeds = list(seeds) or [world.ids.seed_value() for _ in range(count)]
        size = body.get("size") or {"width": 2048, "height": 2048}
        width, height = size["width"], size["height"]
        now = world.clock.now()
        picture = rules.picture(op.kind, body, found, width, height)
        content_class = body.get("contentClass") or "photo"
        drawn = outputs.describe(
            mime,
            width,
            height,
            (f"{op.kind}|{body.get('prompt', '')}|", f"|{width}x{height}|{mime}"),
            ([op.title, *picture.lines], [f"Size: {width}x{height} {mime}", "Adobe Firefly (mock)"]),
            layers=picture.layers,
            sources=sources(found),
        )
        inputs: dict[str, Any] = {
            "size": {"width": width, "height": height},
            "mime": mime,
            "prompt": body.get("prompt"),
        }
        if op.kind == "firefly.composite":
            inputs["contentClass"] = content_class
        job = Job(
            id=f"{JOB_PREFIX}{world.ids.uuid()}",
            tenant=tenant,
            kind=op.kind,
            created_at=now,
            plan=world.plan("generate", profile),
            inputs=inputs,
            outputs=[{"seed": seed} for seed in seeds],
            outcome=outcome,
            extra={PICTURE: drawn},
        )
        return world.jobs.add(job)
