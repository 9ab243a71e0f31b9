"""Downloads behind signed URLs, shared by every surface: generated images render here on first request."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import video
from .context import Context
from .core.assets import Asset
from .core.memo import Memo
from .http import Prepared
from .images import Layer, render
from .surface import NO_RATE_LIMITS, SurfaceError

# One render thread: renders never block the event loop, and big temporary buffers are freed into one malloc arena
# instead of one per pool thread, which keeps resident memory flat.
_RENDERER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mockserver-render")

_S3_ERROR = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'


def _xml(status: int, code: str, message: str) -> Response:
    return Response(_S3_ERROR.format(code=code, message=message), status, media_type="application/xml")


class Files:
    """Pre-signed downloads answer like an object store: no auth headers, S3-style XML errors."""

    surface = "files"
    prefixes = ("/files",)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.answers = Memo(ctx.world.store, ctx.world.clock)

    def routes(self) -> list[Route]:
        return [Route("/files/{name}", self.download, methods=["GET", "HEAD"])]

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        default = {
            404: ("NoSuchKey", "The specified key does not exist."),
            405: ("MethodNotAllowed", "The specified method is not allowed against this resource."),
            503: ("ServiceUnavailable", "Please reduce your request rate."),
        }
        fallback = default.get(status, ("InternalError", "We encountered an internal error."))
        response = _xml(status, code or fallback[0], message or fallback[1])
        response.headers.update(headers or {})
        return response

    async def download(self, request: Request) -> Response:
        # A good URL to a generated picture is remembered per path and query until the store changes: each request
        # then checks only that the URL has not expired and that the picture is still in the image cache.
        world = self.ctx.world
        key = (request.scope["path"], request.scope["query_string"])
        revision = world.store.revision()
        kept = self.answers.kept(key, revision)
        if kept is not None and world.clock.now() < kept[0]:
            data = self.ctx.images.get(kept[1])
            if data is not None:
                return Prepared(data, kept[2])
        response, expires, render = await self._download(request)
        if render is not None:  # a generated picture (uploaded files are read from the store each time)
            self.answers.keep(key, revision, (expires, render, response.raw_headers))
        return response

    async def _download(self, request: Request) -> tuple[Response, int, str | None]:
        """The answer, when the URL expires, and the image cache's key for a rendered picture."""
        world = self.ctx.world
        asset_id = request.path_params["name"].split(".", 1)[0]
        q = request.query_params
        problem = world.signer.check(asset_id, q.get("expires", ""), q.get("signature", ""), world.clock.now())
        if problem == "expired":
            raise SurfaceError(403, "AccessDenied", "Request has expired")
        if problem:
            raise SurfaceError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        asset = world.assets.get(asset_id)
        data = await asset_bytes(self.ctx, asset) if asset is not None else None
        if asset is None or data is None:
            raise SurfaceError(404)
        headers = {"cache-control": "private, max-age=3600", "etag": f'"{asset.id}"'}
        response = Response(data, 200, headers=headers, media_type=asset.mime)
        return response, int(q["expires"]), render_key(asset) if asset.render is not None else None


async def asset_bytes(ctx: Context, asset: Asset) -> bytes | None:
    """An asset's file: uploaded bytes from the store, or a generated image rendered once (off the event loop)
    and then served from the bounded cache. Every surface that hands out or converts files uses this."""
    if asset.render is None:
        return ctx.world.assets.data(asset)
    key = render_key(asset)
    data = ctx.images.get(key)
    if data is None:
        spec = asset.render
        layers = _layers(ctx, spec.get("layers") or [])
        loop = asyncio.get_running_loop()
        if asset.mime == "video/mp4":
            if not video.available():
                return None
            crf = int(spec.get("crf", 18))
            data = await loop.run_in_executor(
                _RENDERER, video.render_mp4, asset.width, asset.height, spec["key"], spec["lines"], crf, layers
            )
        else:
            data = await loop.run_in_executor(
                _RENDERER, render, asset.width, asset.height, asset.mime, spec["key"], spec["lines"], layers
            )
        ctx.images.put(key, data)
    return data


def _layers(ctx: Context, described: list[dict[str, Any]]) -> list[Layer]:
    """The uploaded pixels a picture is drawn over (Firefly expand, fill, similar, composite), read from the store
    here so the render thread never touches it."""

    def data(asset_id: str | None) -> bytes | None:
        found = ctx.world.assets.get(asset_id) if asset_id else None
        return ctx.world.assets.data(found) if found is not None else None

    return [
        Layer(data(d["asset"]), _box(d["box"]), data(d.get("mask")), d.get("keep", "dark"), d.get("outline", True))
        for d in described
    ]


def _box(box: list[float]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    return x0, y0, x1, y1


def render_key(asset: Asset) -> str:
    """The cache key of a generated image: a digest of everything the picture is drawn from, so an asset id
    reused after a state import or a seeded reset can never be answered with another job's picture."""
    spec = asset.render or {}
    described = orjson.dumps(
        [
            asset.width,
            asset.height,
            asset.mime,
            spec.get("key"),
            spec.get("lines"),
            spec.get("layers"),
            spec.get("crf"),
            spec.get("sources"),
        ]
    )
    return hashlib.blake2b(described, digest_size=16).hexdigest()
