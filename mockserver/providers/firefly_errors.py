"""Every error body the Firefly surface sends, in Adobe's exact shapes, built in one place.

Adobe's stack answers in four shapes: IMS (`error`, `error_description`), the API gateway (`error_code` as a
numeric string), the Firefly service (`error_code`, `message`, `validation_errors`), and the custom-models
service (`reason`, `message`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..http import json

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
    406: "Not Acceptable",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

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


def ims(status: int, error: str, description: str) -> Response:
    return json({"error": error, "error_description": description}, status)


def invalid_token() -> Response:
    return json({"error_code": "401013", "message": "Oauth token is not valid"}, 401)


def invalid_api_key() -> Response:
    return json({"error_code": "403003", "message": "Api Key is invalid"}, 403)


def api(
    status: int, code: str, message: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    return json({"error_code": code, "message": message or message_for(code), **extra}, status, headers)


def validation(errors: list[dict[str, Any]]) -> Response:
    return json(
        {"error_code": "validation_error", "message": message_for("validation_error"), "validation_errors": errors}, 422
    )


def reason(status: int, message: str) -> Response:
    return json({"reason": _REASONS.get(status, "Error"), "message": message}, status)


def for_path(
    path: str, status: int, code: str | None = None, message: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """An error for any Firefly path in the shape that path's service uses (for faults and refusals)."""
    if path.startswith("/ims"):
        return json(
            {"error": code or "server_error", "error_description": message or _REASONS.get(status, "error")},
            status,
            headers,
        )
    if path.startswith("/v3/custom-models"):
        return json(
            {"reason": _REASONS.get(status, "Error"), "message": message or message_for(code or "")}, status, headers
        )
    code = code or STATUS_CODES.get(status, "runtime_error")
    headers = dict(headers or {})
    if status == 429:
        headers.setdefault("x-access-rate-limit-level", "org")
    if status == 403 and code == "access_error":
        headers.setdefault("x-access-error", "quota_exhausted")
    return api(status, code, message, headers)
