"""Firefly's storage API: `POST /v2/storage/image` keeps an image for 7 days and answers its `uploadId`.

Its errors have their own shape (Adobe's `upload_image.json`): `{"message", "error_code"}` with the gateway's
numeric codes, not the `/v3` services' word codes. The image checks are the training API's (Pillow decode, declared
against real type, decompression bombs), so both surfaces refuse the same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import Context
from ..core.assets import Asset
from ..core.jwt import claims
from ..core.tenants import CredentialError
from ..core.uploads import Full, Uploads
from ..http import BodyTooLarge, header, json, read_body
from ..surface import NO_RATE_LIMITS, SurfaceError
from ..uploads import Problem, UploadedImage, UploadRefused
from ..uploads import check_image as check_bytes
from . import firefly_errors as errors

MAX_UPLOAD_BYTES = 15 * 1024 * 1024  # "The maximum file size supported for uploading an image is 15MB."
UPLOAD_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}  # the spec's request media types
SCOPE = "firefly_api"
PER_TENANT = 500
TOTAL = 5_000
TOTAL_BYTES = 1024 * 1024 * 1024

# Adobe's examples per status (upload_image.json): 400, 401, 403, 429, 451, 500. The spec shows no 413 or 415;
# the fake answers those in the same shape with the status as the code (docs/fidelity.md).
_ERRORS = {
    400: ("10075", "Bad Request"),
    401: ("401013", "Oauth token is not valid"),
    403: ("10007", "Missing required IMS scope"),
    413: ("413", "Request Entity Too Large"),
    415: ("415", "Unsupported Media Type"),
    429: ("10011", "Too Many Requests"),
    451: ("10008", "Unavailable For Legal Reasons"),
    500: ("10002", "Internal Server Error"),
}
_WORD_CODES = {"rate_limited": "10011", "runtime_error": "10002", "bad_request": "10075"}


def error(
    status: int, code: str | None = None, message: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    default_code, default_message = _ERRORS.get(status, (str(status), "Error"))
    code = _WORD_CODES.get(code or "", code) or default_code
    return json({"message": message or default_message, "error_code": code}, status, headers)


class FireflyStorage:
    surface = "firefly"
    prefixes = ("/v2/storage",)
    rate_limits = NO_RATE_LIMITS

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.world = ctx.world
        self.uploads = uploads(ctx)

    def routes(self) -> list[Route]:
        return [Route("/v2/storage/image", self.upload, methods=["POST"])]

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return error(status, code, message if status != 404 else message or "Not Found", headers)

    async def upload(self, request: Request) -> Response:
        tenant = authenticate(self.ctx, request)
        if tenant == "":
            raise SurfaceError(403)
        declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if declared not in UPLOAD_TYPES:
            shown = declared or "none"
            message = f"Content type {shown} is not supported; send image/jpeg, image/png or image/webp."
            raise SurfaceError(415, message=message)
        try:
            data = await read_body(request, MAX_UPLOAD_BYTES)
        except BodyTooLarge:
            raise SurfaceError(413, message="The image is larger than the 15MB limit.") from None
        image = await check_image(data, declared)
        world = self.world
        asset = Asset(
            world.ids.uuid(), tenant, image.mime, image.width, image.height, world.clock.now(), meta={"kind": "upload"}
        )
        with world.store.transaction():
            try:
                upload = self.uploads.add(asset, data)
            except Full:
                raise SurfaceError(429, message="Too many stored uploads; they expire 7 days after upload.") from None
        return json({"images": [{"id": upload.id}]})


def uploads(ctx: Context) -> Uploads:
    return Uploads(ctx.world.store, ctx.world.clock, ctx.world.assets, PER_TENANT, TOTAL, TOTAL_BYTES)


def tenant_of(ctx: Context, request: Request) -> str:
    """The caller's tenant from `Authorization: Bearer` and `x-api-key`, as Adobe's gateway checks them on every
    Firefly route: a bad token is 401, then a bad key 403 (raised)."""
    auth = api_key = None
    for key, value in request.scope["headers"]:  # both headers in one pass (the first of each name, as header())
        if key == b"authorization":
            if auth is None:
                auth = value.decode("latin-1")
        elif key == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1")
    token = bearer_token(auth or "")
    try:
        tenant = ctx.world.tenants.check_token(token, api_key or "")
    except CredentialError as exc:
        raise errors.invalid_token() if exc.reason == "bad_token" else errors.invalid_api_key() from None
    request.scope["mock.tenant"] = tenant
    return tenant


def authenticate(ctx: Context, request: Request) -> str:
    """`tenant_of`, and "" for a valid token without the `firefly_api` scope; the caller answers that in its own
    format."""
    tenant = tenant_of(ctx, request)
    return tenant if has_scope(bearer(request)) else ""


def bearer(request: Request) -> str:
    return bearer_token(header(request, b"authorization"))


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer …` value ("" for any other)."""
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""


def unknown_upload(loc: list[Any]) -> dict[str, Any]:
    """The validation error for a `source.uploadId` that is not a live upload of the caller."""
    return {
        "loc": ["body", *loc, "uploadId"],
        "msg": "unknown uploadId: not uploaded by this caller, or expired (uploads last 7 days)",
        "type": "value_error",
    }


def has_scope(token: str) -> bool:
    """A token issued without a `scope` carries the credential's default scopes, which include `firefly_api` (as
    for an IMS credential set up for Firefly); one that asked for scopes must have asked for `firefly_api`."""
    scope = (claims(token) or {}).get("scope", "")
    return not isinstance(scope, str) or not scope.strip() or SCOPE in (s.strip() for s in scope.split(","))


async def check_image(data: bytes, declared: str) -> UploadedImage:
    """The shared image checks (`mockserver.uploads`), refusals worded for the storage API: 400 `10075`."""
    try:
        return await check_bytes(data, declared)
    except UploadRefused as refused:
        raise SurfaceError(400, message=refusal(refused)) from None


def refusal(refused: UploadRefused) -> str:
    """Why an image was refused, in a sentence."""
    if refused.problem is Problem.TYPE_MISMATCH:
        return f"The body is {refused.actual}, but the content type says {refused.declared}."
    if refused.problem is Problem.UNSUPPORTED_FORMAT:
        return f"The body is {refused.actual}, not JPEG, PNG or WEBP."
    if refused.problem is Problem.UNSUPPORTED_TYPE:
        return f"Content type {refused.declared or 'none'} is not one of image/jpeg, image/png, image/webp."
    return refused.reason or "The body is not a readable image."
