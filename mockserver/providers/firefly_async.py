"""Firefly v3's image-to-image async operations: expand, fill, generate-similar and generate-object-composite.

Each takes a JSON body (or `multipart/form-data` with a `request` part and image `files`), validated against its
schema in `openapi/firefly-v3.yaml` and then by the rules a schema cannot state (`firefly_rules`). A job runs on the
shared clock and profiles; `/v3/status` and `/v3/cancel` (in `firefly`) find it like a generate job. Its pictures
show what was asked, drawn over the caller's uploaded pixels (`images.Layer`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..bodies import JsonBody, parse, read_json
from ..context import Context
from ..core.assets import Asset
from ..core.jobs import Job
from ..core.uploads import Full
from ..http import BodyTooLarge, base_url, is_json_type, json, read_body
from ..operations import operations
from ..uploads import UploadRefused
from ..uploads import check_image as check_bytes
from . import firefly_errors as errors
from . import firefly_rules as rules
from .firefly import SPEC, _whole_numbers
from .firefly_uploads import authenticate, refusal, uploads

MAX_FILES = 4  # a request names at most an image, a mask and a style reference


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


class FireflyAsync:
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

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return errors.for_path(path, status, code, message, headers, **extra)

    def _handler(self, op: Operation) -> Any:
        async def handle(request: Request) -> Response:
            return await self.start(request, op)

        return handle

    async def start(self, request: Request, op: Operation) -> Response:
        tenant = authenticate(self.ctx, request)
        if tenant == "":
            headers = {"x-access-error": "invalid_ims_scope"}
            raise errors.api(403, "access_error", "The token lacks the firefly_api scope.", headers)
        body, files = await self._body(request)
        params, problems = self.operations[op.id].parameters(request, defaults=True)
        if not isinstance(body, dict):
            problems.append({"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"})
            raise errors.validation(problems)
        problems += self.operations[op.id].body_errors(body)
        if not problems:
            body = _whole_numbers(body)
            problems = rules.errors(op.kind, body)
        if problems:
            raise errors.validation(problems)
        stored = await self._store_files(tenant, files) if files else []
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

    async def _body(self, request: Request) -> tuple[Any, list[tuple[str, bytes]] | None]:
        """The request (parsed JSON) and, for a multipart body, its image files; refusals as Firefly words them:
        415, the API gateway's 413, 400 when empty or unreadable."""
        content_type = request.headers.get("content-type", "")
        multipart = content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"
        if not multipart and not is_json_type(content_type):
            message = "Content type must be application/json or multipart/form-data."
            raise errors.api(415, "invalid_content_type", message)
        files: list[tuple[str, bytes]] | None = None
        try:
            if multipart:
                parsed, files = await _form(request.headers, await read_body(request, self.ctx.settings.max_body_bytes))
            else:
                parsed = await read_json(request, self.ctx.settings.max_json_bytes)
        except BodyTooLarge:
            raise errors.too_large() from None
        if parsed.empty:
            raise errors.api(400, "empty_input_body")
        if parsed.error is not None:
            raise errors.api(400, "bad_request")
        request.scope["mock.body"] = parsed.value
        return parsed.value, files

    async def _store_files(self, tenant: str, files: list[tuple[str, bytes]]) -> list[str]:
        """Check each multipart image as the storage API would, and keep it as an upload of the caller."""
        ids = []
        for index, (declared, data) in enumerate(files):
            try:
                image = await check_bytes(data, declared)
            except UploadRefused as refused:
                problem = {"loc": ["body", "files", index], "msg": refusal(refused), "type": "value_error"}
                raise errors.validation([problem]) from None
            world = self.world
            asset = Asset(
                world.ids.uuid(),
                tenant,
                image.mime,
                image.width,
                image.height,
                world.clock.now(),
                meta={"kind": "upload"},
            )
            with world.store.transaction():
                try:
                    ids.append(self.uploads.add(asset, data).id)
                except Full:
                    raise errors.api(429, "rate_limited", "Too many stored uploads.", {"retry-after": "60"}) from None
        return ids

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
        outputs = []
        for seed in seeds:
            lines = [
                op.title,
                *picture.lines,
                f"Seed: {seed}",
                f"Size: {width}x{height} {mime}",
                "Adobe Firefly (mock)",
            ]
            render = {
                "key": f"{op.kind}|{body.get('prompt', '')}|{seed}|{width}x{height}|{mime}",
                "lines": lines,
                "layers": picture.layers,
            }
            asset = world.assets.add(Asset(world.ids.uuid(), tenant, mime, width, height, now, render=render))
            outputs.append({"seed": seed, "asset": asset.id})
        inputs: dict[str, Any] = {
            "size": {"width": width, "height": height},
            "mime": mime,
            "prompt": body.get("prompt"),
        }
        if op.kind == "firefly.composite":
            inputs["contentClass"] = content_class
        job = Job(
            id=f"urn:ff:jobs:ue1:{world.ids.uuid()}",
            tenant=tenant,
            kind=op.kind,
            created_at=now,
            plan=world.plan("generate", profile),
            inputs=inputs,
            outputs=outputs,
            outcome=outcome,
        )
        return world.jobs.add(job)


async def _form(headers: Headers, raw: bytes) -> tuple[JsonBody, list[tuple[str, bytes]]]:
    """The `request` part (JSON text) and the image `files` of a multipart body, in order."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw

    parser = MultiPartParser(headers, stream(), max_files=MAX_FILES, max_fields=MAX_FILES + 1, max_part_size=1 << 20)
    try:
        form = await parser.parse()
    except (MultiPartException, ValueError, KeyError) as exc:
        raise errors.api(400, "bad_request", f"The multipart body cannot be read: {exc}") from None
    request_part = b""
    files: list[tuple[str, bytes]] = []
    try:
        for name, value in form.multi_items():
            if name == "files" and isinstance(value, UploadFile):
                files.append(((value.content_type or "").split(";", 1)[0].strip().lower(), await value.read()))
            elif name == "request" and isinstance(value, str):
                request_part = value.encode("utf-8")
            else:
                problem = {"loc": ["body", name], "msg": "extra fields not permitted", "type": "value_error.extra"}
                raise errors.validation([problem])
    finally:
        await form.close()
    for name, present in (("request", request_part), ("files", files)):
        if not present:
            raise errors.validation([{"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}])
    return parse(request_part), files
