"""Every error body the Firefly surface sends, in Adobe's exact shapes, built in one place.

Adobe's stack answers in four shapes: IMS (`error`, `error_description`), the API gateway (`error_code` as a
numeric string), the Firefly service (`error_code`, `message`, `validation_errors`), and the custom-models
service (`reason`, `message`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import HTMLResponse, Response

from ..http import json
from ..surface import SurfaceError

_MESSAGES = {
    "validation_error": "Request validation failed.",
    "runtime_error": "An internal error occurred.",
    "timeout_error": "The request timed out.",
    "rate_limited": "Too many requests. Please try again later.",
    "access_error": "Access to this resource is denied.",
    "invalid_content_type": "Content type must be application/json.",
    "empty_input_body": "Request body is empty.",
    "bad_request": "Request body is not valid JSON.",
    "unknown_job_id": "The job id is unknown.",
    "job_already_canceled": "The job was already canceled.",
    "job_completed": "The job was already completed.",
    "job_cancel_failed": "The job failed to cancel.",
    "job_timeout": "The job timed out.",
    "payload_too_large": "Request body is too large.",
    "service_unavailable": "The service is temporarily unavailable.",
    "not_found": "The requested resource was not found.",
}

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# The custom-models service's sentence per status: Adobe's custom_models_listing.json examples where it has one
# (400, 401, 403, 406, 500, 503), otherwise the fake's own wording (docs/fidelity.md).
_MODEL_MESSAGES = {
    400: "The request is invalid.",
    401: "Authorization Token is not accepted.",
    403: "API Key is not accepted.",
    404: "The requested custom model was not found.",
    405: "The requested method is not supported by this resource.",
    406: "The requested format is not supported by this method.",
    408: "The request timed out.",
    429: "Too many requests. Try again later.",
    500: "A problem occurred on our server.",
    503: "We are temporarily offline for maintenance. Try again later.",
}

# IMS answers in OAuth 2.0's error format; the `error` code per status follows RFC 6749 (section 5.2 and 4.1.2.1),
# as Adobe publishes no IMS error table.
_IMS_ERRORS = {
    400: ("invalid_request", "The request is missing a parameter or is otherwise malformed."),
    401: ("invalid_client", "Client authentication failed."),
    403: ("access_denied", "The request was denied."),
    405: ("invalid_request", "The method is not allowed; use POST."),
    408: ("temporarily_unavailable", "The request timed out. Try again later."),
    413: ("invalid_request", "The request body is too large."),
    429: ("temporarily_unavailable", "Too many requests. Try again later."),
    500: ("server_error", "The server encountered an unexpected condition."),
    503: ("temporarily_unavailable", "The service is temporarily unavailable. Try again later."),
}

# What Adobe's API gateway answers for a body over its limit: an HTML page, as `413: text/html` in the
# generate-async spec (clients-copy/image_generation_async_v3.json) says.
TOO_LARGE_HTML = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)

# Which error_code a status maps to when only a status is known (faults, refusals in middleware).
STATUS_CODES = {
    400: "bad_request",
    403: "access_error",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout_error",
    413: "payload_too_large",
    415: "invalid_content_type",
    422: "validation_error",
    429: "rate_limited",
    500: "runtime_error",
    503: "service_unavailable",
}


def message_for(code: str) -> str:
    return _MESSAGES.get(code, code.replace("_", " ").capitalize() + ".")


def ims(status: int, error: str, description: str) -> SurfaceError:
    """IMS's OAuth 2.0 shape (rendered so on /ims paths)."""
    return SurfaceError(status, error, description)


def invalid_token() -> SurfaceError:
    return SurfaceError(401, "401013", "Oauth token is not valid")


def invalid_api_key() -> SurfaceError:
    return SurfaceError(403, "403003", "Api Key is invalid")


def api(
    status: int, code: str, message: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> SurfaceError:
    return SurfaceError(status, code, message, headers, **extra)


def validation(errors: list[dict[str, Any]]) -> SurfaceError:
    return SurfaceError(422, "validation_error", validation_errors=errors)


def reason(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> SurfaceError:
    """The custom-models service's `{reason, message}` body (rendered so on /v3/custom-models paths)."""
    return SurfaceError(status, None, message, headers)


def too_large(headers: dict[str, str] | None = None) -> SurfaceError:
    return SurfaceError(413, "payload_too_large", None, headers)


def for_path(
    path: str,
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Any Firefly error in the shape of the service that answers it: IMS on /ims, Adobe's API gateway for its
    numeric codes (a bad token or key) and for a body over its limit (an HTML page), the custom-models service's
    `{reason, message}` on /v3/custom-models, the Firefly service's `{error_code, message, ...}` elsewhere."""
    if path.startswith("/ims"):
        default_code, default_text = _IMS_ERRORS.get(status, _IMS_ERRORS[500 if status >= 500 else 400])
        return json({"error": code or default_code, "error_description": message or default_text}, status, headers)
    if code is not None and code.isdigit():
        return json({"error_code": code, "message": message or message_for(code), **extra}, status, headers)
    if status == 413:
        return HTMLResponse(TOO_LARGE_HTML, 413, headers)
    if path.startswith("/v3/custom-models"):
        text = message or _MODEL_MESSAGES.get(status) or _REASONS.get(status, "Error") + "."
        return json({"reason": _REASONS.get(status, "Error"), "message": text}, status, headers)
    code = code or STATUS_CODES.get(status, "runtime_error")
    sent = dict(headers or {})
    if status == 429:
        sent.setdefault("x-access-rate-limit-level", "org")
    if status == 403 and code == "access_error":
        sent.setdefault("x-access-error", "quota_exhausted")
    return json({"error_code": code, "message": message or message_for(code), **extra}, status, sent)


class FireflyErrorRendering:
    """The `Surface.error` of every surface that answers in Firefly's (or, under `/ims`, IMS's) format: one
    implementation for the generate, image-operation and video surfaces."""

    def error(
        self,
        path: str,
        status: int,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Response:
        return for_path(path, status, code, message, headers, **extra)
