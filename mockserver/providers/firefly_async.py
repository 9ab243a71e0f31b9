"""Firefly v3's image-to-image async operations: expand, fill, generate-similar and generate-object-composite.

Each takes a JSON body (or `multipart/form-data` with a `request` part and image `files`), validated against its
schema in `openapi/firefly-v3.yaml` and then by the rules a schema cannot state (`firefly_rules`). A job runs on the
shared clock and profiles; `/v3/status` and `/v3/cancel` (in `firefly`) find it like a generate job. Its pictures
show what was asked, drawn over the caller's uploaded pixels (`images.Layer`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import Context
from ..core.assets import Asset
from ..core.jobs import Job
from ..core.uploads import Full
from ..http import BodyTooLarge, base_url, is_json_type, json, parse_json, read_body
from . import firefly_errors as errors
from . import firefly_rules as rules
from .firefly import SPEC, _header_errors, _whole_numbers
from .firefly_uploads import authenticate, check_image, uploads

MAX_FILES = 4  # a request names at most an image, a mask and a style reference


@dataclass(frozen=True)
class Operation:
    kind: str  # the job kind
    schema: str  # the request schema in openapi/firefly-v3.yaml
    title: str  # the first caption line


OPERATIONS = {
    "/v3/images/expand-async": Operation("firefly.expand", "ExpandImageRequest", "Generative Expand"),
    "/v3/images/fill-async": Operation("firefly.fill", "FillImageRequest", "Generative Fill"),
    "/v3/images/generate-similar-async": Operation(
        "firefly.similar", "GenerateSimilarImagesRequest", "Generate Similar"
    ),
    "/v3/images/generate-object-composite-async": Operation(
        "firefly.composite", "GenerateObjectCompositeRequest", "Object Composite"
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
        self.spec = ctx.specs[SPEC]
        self.uploads = uploads(ctx)
        for op in OPERATIONS.values():
            self.spec.validator(op.schema)  # compile at start-up, not on the first request

    def routes(self) -> list[Route]:
        return [Route(path, self._handler(op), methods=["POST"]) for path, op in OPERATIONS.items()]

    def error(
        self, path: str, status: int, code: str | None, message: str | None, headers: dict[str, str] | None
    ) -> Response:
        return errors.for_path(path, status, code, message, headers)

    def _handler(self, op: Operation) -> Any:
        async def handle(request: Request) -> Response:
            return await self.start(request, op)

        return handle

    async def start(self, request: Request, op: Operation) -> Response:
        tenant = authenticate(self.ctx, request)
        if isinstance(tenant, Response):
            return tenant
        if tenant == "":
            return errors.api(
                403, "access_error", "The token lacks the firefly_api scope.", {"x-access-error": "invalid_ims_scope"}
            )
        content_type = request.headers.get("content-type", "")
        multipart = content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"
        if not multipart and not is_json_type(content_type):
            return errors.api(
                415, "invalid_content_type", "Content type must be application/json or multipart/form-data."
            )
        limit = self.ctx.settings.max_body_bytes if multipart else self.ctx.settings.max_json_bytes
        try:
            raw = await read_body(request, limit)
        except BodyTooLarge:
            return errors.too_large()
        files: list[tuple[str, bytes]] = []
        if multipart:
            parsed = await _form(request.headers, raw)
            if isinstance(parsed, Response):
                return parsed
            raw, files = parsed
        if not raw.strip():
            return errors.api(400, "empty_input_body")
        try:
            body = parse_json(raw)
        except orjson.JSONDecodeError:
            return errors.api(400, "bad_request")
        request.scope["mock.body"] = body
        mime = request.headers.get("x-accept-mimetype", "image/jpeg")
        profile = request.headers.get("x-mock-profile")
        problems = [e for e in _header_errors("image3", mime, profile) if e["loc"][1] != "x-model-version"]
        if not isinstance(body, dict):
            problems.append({"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"})
            return errors.validation(problems)
        problems += self.spec.errors(op.schema, body)
        if not problems:
            body = _whole_numbers(body)
            problems = rules.errors(op.kind, body)
        if problems:
            return errors.validation(problems)
        stored = await self._store_files(tenant, files) if files else []
        if isinstance(stored, Response):
            return stored
        problems = rules.fill_sources(body, stored, multipart)
        if problems:
            return errors.validation(problems)
        sources = rules.sources(body)
        found: dict[str, Asset] = {}
        for loc, source in sources:
            upload_id = source.get("uploadId")
            if upload_id is None:
                continue
            live = self.uploads.get(tenant, upload_id)
            if live is None:
                problems.append(rules.unknown_upload(loc))
            else:
                found[upload_id] = live[1]
        if problems:
            return errors.validation(problems)
        with self.world.store.transaction():
            job = self._create_job(tenant, op, body, found, mime, profile, request.scope.get("mock.job_outcome"))
        base = base_url(request, self.ctx.settings.public_url)
        status_url, cancel_url = f"{base}/v3/status/{job.id}", f"{base}/v3/cancel/{job.id}"
        link = f'<{status_url}>; rel="status", <{cancel_url}>; rel="cancel"'
        return json({"jobId": job.id, "statusUrl": status_url, "cancelUrl": cancel_url}, 202, {"Link": link})

    async def _store_files(self, tenant: str, files: list[tuple[str, bytes]]) -> list[str] | Response:
        """Check each multipart image as the storage API would, and keep it as an upload of the caller."""
        ids = []
        for index, (declared, data) in enumerate(files):
            checked = (
                await check_image(data, declared)
                if declared in ("image/jpeg", "image/png", "image/webp")
                else (f"content type {declared or 'none'} is not one of image/jpeg, image/png, image/webp")
            )
            if isinstance(checked, str):
                return errors.validation([{"loc": ["body", "files", index], "msg": checked, "type": "value_error"}])
            mime, width, height = checked
            world = self.world
            asset = Asset(world.ids.uuid(), tenant, mime, width, height, world.clock.now(), meta={"kind": "upload"})
            with world.store.transaction():
                try:
                    ids.append(self.uploads.add(asset, data).id)
                except Full:
                    return errors.api(429, "rate_limited", "Too many stored uploads.", {"retry-after": "60"})
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


async def _form(headers: Headers, raw: bytes) -> tuple[bytes, list[tuple[str, bytes]]] | Response:
    """The `request` part (JSON text) and the image `files` of a multipart body, in order."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw

    parser = MultiPartParser(
        headers, stream(), max_files=MAX_FILES, max_fields=MAX_FILES + 1, max_part_size=1024 * 1024
    )
    try:
        form = await parser.parse()
    except (MultiPartException, ValueError, KeyError) as exc:
        return errors.api(400, "bad_request", f"The multipart body cannot be read: {exc}")
    request_part: bytes = b""
    files: list[tuple[str, bytes]] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "files":
                    return errors.validation(
                        [{"loc": ["body", name], "msg": "extra fields not permitted", "type": "value_error.extra"}]
                    )
                files.append(((value.content_type or "").split(";", 1)[0].strip().lower(), await value.read()))
            elif name == "request":
                request_part = value.encode("utf-8")
            else:
                return errors.validation(
                    [{"loc": ["body", name], "msg": "extra fields not permitted", "type": "value_error.extra"}]
                )
    finally:
        await form.close()
    for name, present in (("request", request_part), ("files", files)):
        if not present:
            return errors.validation([{"loc": ["body", name], "msg": "field required", "type": "value_error.missing"}])
    return request_part, files
