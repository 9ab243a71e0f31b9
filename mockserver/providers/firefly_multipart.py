"""Firefly's `multipart/form-data` request bodies: a `request` part holding the JSON request and image `files`.

Adobe's specs declare this form for generate-async and the image operations without saying how the files pair with
the request. The fake's reading: each file is checked as the storage API checks an upload, kept as an upload of the
caller, and given, in order, to the image sources the request leaves empty (`{"source": {}}`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from ..bodies import JsonBody, parse, read_json
from ..core.assets import Asset
from ..core.uploads import Full, Uploads
from ..http import BodyTooLarge, header, is_json_type, read_body
from ..uploads import UploadRefused
from ..uploads import check_image as check_bytes
from . import firefly_errors as errors
from .firefly_uploads import refusal

MAX_FILES = 4  # a request names at most an image, a mask and a style or structure reference
Files = list[tuple[str, bytes]]  # (declared content type, bytes)


async def read_request(request: Request, json_limit: int, body_limit: int) -> tuple[Any, Files | None]:
    """The request (parsed JSON) and, for a multipart body, its image files (None for a JSON body); refusals as
    Firefly words them: 415, the API gateway's 413, 400 when empty or unreadable."""
    content_type = header(request, b"content-type")
    main = content_type.split(";", 1)[0].strip().lower()
    multipart = main == "multipart/form-data"
    if not multipart and not is_json_type(main):
        raise errors.api(415, "invalid_content_type", "Content type must be application/json or multipart/form-data.")
    files: Files | None = None
    try:
        if multipart:
            parsed, files = await _form(request, await read_body(request, body_limit))
        else:
            parsed = await read_json(request, json_limit)  # the gateway's parse, when it made one
    except BodyTooLarge:
        raise errors.too_large() from None
    if parsed.value is None:  # a parsed document is neither empty nor broken (JSON `null` is refused later)
        if parsed.empty:
            raise errors.api(400, "empty_input_body")
        if parsed.error is not None:
            raise errors.api(400, "bad_request")
    return parsed.value, files


async def _form(request: Request, raw: bytes) -> tuple[JsonBody, Files]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw

    parser = MultiPartParser(request.headers, stream(), max_files=MAX_FILES, max_fields=MAX_FILES + 1)
    try:
        form = await parser.parse()
    except (MultiPartException, ValueError, KeyError) as exc:
        raise errors.api(400, "bad_request", f"The multipart body cannot be read: {exc}") from None
    request_part = b""
    files: Files = []
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


async def store_files(world: Any, uploads: Uploads, tenant: str, files: Files) -> list[str]:
    """Check each file as the storage API would and keep it as an upload of the caller; their uploadIds."""
    ids = []
    for index, (declared, data) in enumerate(files):
        try:
            image = await check_bytes(data, declared)
        except UploadRefused as refused:
            problem = {"loc": ["body", "files", index], "msg": refusal(refused), "type": "value_error"}
            raise errors.validation([problem]) from None
        now = world.clock.now()
        asset = Asset(world.ids.uuid(), tenant, image.mime, image.width, image.height, now, meta={"kind": "upload"})
        with world.store.transaction():
            try:
                ids.append(uploads.add(asset, data).id)
            except Full:
                raise errors.api(429, "rate_limited", "Too many stored uploads.", {"retry-after": "60"}) from None
    return ids


def fill_sources(
    body: dict[str, Any], upload_ids: list[str], multipart: bool, paths: tuple[tuple[str, ...], ...]
) -> list[dict[str, Any]]:
    """Give the uploads of the files, in order, to the sources at `paths` the request leaves empty; in a JSON body
    (no files) an empty source there is an error. Problems in Firefly's validation shape."""
    left = list(upload_ids)
    found: list[dict[str, Any]] = []
    for path in paths:
        source: Any = body
        for key in path:
            source = source.get(key) if isinstance(source, dict) else None
        if not isinstance(source, dict) or "uploadId" in source or "url" in source:
            continue
        if not left:
            more = " (or one more file)" if multipart else ""
            found.append(
                {"loc": ["body", *path], "msg": f"either uploadId or url is required{more}", "type": "value_error"}
            )
            continue
        source["uploadId"] = left.pop(0)
    if left:
        msg = f"{len(left)} file(s) left over: each file fills an empty image source"
        found.append({"loc": ["body", "files"], "msg": msg, "type": "value_error"})
    return found
