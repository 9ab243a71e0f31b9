"""Every error body the training surface sends, built in one place.

The training API's real error format is not public, so the fake uses one clean shape everywhere (also described
by `ErrorResponse` in `openapi/training.yaml`):

    {"error": {"code": "not_found", "message": "Model abc123 was not found.",
               "details": [{"field": "scaleConfigs.1.modelId", "message": "..."}]}}

`details` appears only when the problem is about particular fields or entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from ..http import json
from ..surface import SurfaceError

# The code a status maps to when nothing more specific is known (injected faults, refusals in middleware).
STATUS_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    409: "conflict",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

_MESSAGES = {
    "invalid_json": "The request body is not valid JSON.",
    "unauthorized": "A valid API key is required in the x-api-key header.",
    "forbidden": "Access to this resource is denied.",
    "not_found": "The requested resource was not found.",
    "timeout": "The request timed out.",
    "conflict": "The request conflicts with the current state of the resource.",
    "payload_too_large": "The request body is too large.",
    "unsupported_media_type": "The request body has an unsupported content type.",
    "validation_error": "The request is invalid.",
    "rate_limited": "Too many requests. Please retry later.",
    "internal_error": "An internal error occurred.",
    "service_unavailable": "The service is temporarily unavailable.",
}

Detail = dict[str, str]


def message_for(code: str) -> str:
    return _MESSAGES.get(code, code.replace("_", " ").capitalize() + ".")


def error(
    status: int,
    code: str | None = None,
    message: str | None = None,
    details: list[Detail] | None = None,
    headers: dict[str, str] | None = None,
) -> SurfaceError:
    return SurfaceError(status, code, message, headers, **({"details": details} if details else {}))


def render(
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    details: list[Detail] | None = None,
) -> Response:
    """The one `{"error": {...}}` body every refusal of this surface is rendered as."""
    code = code or STATUS_CODES.get(status, "error")
    body: dict[str, Any] = {"code": code, "message": message or message_for(code)}
    if details:
        body["details"] = details
    return json({"error": body}, status, dict(headers) if headers else None)


def detail(field: str, message: str) -> Detail:
    return {"field": field, "message": message}


# --- auth, transport ----------------------------------------------------------------------------------------


def missing_key() -> SurfaceError:
    return error(401, "unauthorized", "The x-api-key header is missing.")


def invalid_key() -> SurfaceError:
    return error(401, "unauthorized", "The API key in the x-api-key header is not valid.")


def not_json_type(content_type: str) -> SurfaceError:
    shown = content_type or "(none)"
    return error(415, "unsupported_media_type", f"Content-Type must be application/json, not {shown}.")


def body_too_large(limit: int) -> SurfaceError:
    return error(413, "payload_too_large", f"The request body is larger than the limit of {limit} bytes.")


def invalid_json() -> SurfaceError:
    return error(400, "invalid_json", "The request body is not valid JSON.")


def validation(details: list[Detail]) -> SurfaceError:
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return error(422, "validation_error", f"The request is invalid: {summary}{more}.", details)


def from_schema(problems: list[dict[str, Any]]) -> list[Detail]:
    """Reshape pydantic-style errors from `Spec.errors` (`loc` starting at "body") into field details."""
    out = []
    for problem in problems:
        path = ".".join(str(part) for part in problem["loc"][1:] if part != "")
        out.append(detail(path or "body", _reword(problem["msg"])))
    return out


def from_parameters(problems: list[dict[str, Any]]) -> list[Detail]:
    """Reshape parameter problems (`loc` ["header", name]): an enumerated header names its allowed values."""
    out = []
    for problem in problems:
        name = str(problem["loc"][1])
        allowed = problem.get("ctx", {}).get("enum_values")
        out.append(detail(name, "must be one of " + ", ".join(allowed) if allowed else _reword(problem["msg"])))
    return out


_REWORDS = {
    "field required": "is required",
    "extra fields not permitted": "is not a known field",
    "value is not a valid integer": "must be an integer",
    "value is not a valid float": "must be a number",
    "str type expected": "must be a string",
    "value is not a valid dict": "must be an object",
    "value is not a valid list": "must be an array",
    "value could not be parsed to a boolean": "must be a boolean",
}


def _reword(msg: str) -> str:
    if msg in _REWORDS:
        return _REWORDS[msg]
    if msg.startswith("value is not a valid enumeration member; permitted: "):
        return "must be one of " + msg.split(": ", 1)[1]
    for prefix, word in (
        ("ensure this value is greater than or equal to ", "must be at least "),
        ("ensure this value is less than or equal to ", "must be at most "),
        ("ensure this value has at least ", "must have at least "),
        ("ensure this value has at most ", "must have at most "),
    ):
        if msg.startswith(prefix):
            return word + msg[len(prefix) :]
    return msg


# --- resources ----------------------------------------------------------------------------------------------


def model_not_found(model_id: str, field: str | None = None) -> SurfaceError:
    message = f"Model {model_id} was not found."
    return error(404, "not_found", message, [detail(field, message)] if field else None)


def image_not_found(model_id: str, data_id: str) -> SurfaceError:
    return error(404, "not_found", f"Training image {data_id} of model {model_id} was not found.")


def training_not_found(model_id: str, training_id: str) -> SurfaceError:
    return error(404, "not_found", f"Training {training_id} of model {model_id} was not found.")


def prediction_not_found(prediction_id: str) -> SurfaceError:
    return error(404, "not_found", f"Prediction {prediction_id} was not found.")


def bad_references(details: list[Detail], missing: bool) -> SurfaceError:
    """A prediction naming models or trainings it cannot use: 404 when any is unknown, else 409 (not ready)."""
    summary = "; ".join(d["message"] for d in details[:3])
    if missing:
        return error(404, "not_found", f"A scaleConfigs entry names something that was not found: {summary}", details)
    return error(
        409, "training_not_succeeded", f"Every scaleConfigs entry must name a succeeded training: {summary}", details
    )


# --- uploads ------------------------------------------------------------------------------------------------


def unsupported_image_type(declared: str, allowed: tuple[str, ...]) -> SurfaceError:
    shown = declared or "(none)"
    return error(
        415,
        "unsupported_media_type",
        f"Content-Type {shown} is not a supported image type; send one of {', '.join(allowed)}.",
    )


def unsupported_image_format(actual: str) -> SurfaceError:
    return error(
        415,
        "unsupported_media_type",
        f"The body is a {actual} image, which is not supported; send a PNG, JPEG or WebP image.",
    )


def image_type_mismatch(declared: str, actual: str) -> SurfaceError:
    return error(
        415,
        "unsupported_media_type",
        f"The body is a {actual} image but Content-Type says {declared}; they must match.",
    )


def image_too_large(limit: int) -> SurfaceError:
    return error(
        413, "payload_too_large", f"A training image may be at most {limit} bytes ({limit // (1024 * 1024)} MB)."
    )


def invalid_image(reason: str) -> SurfaceError:
    return error(422, "invalid_image", reason)


# --- trainings ----------------------------------------------------------------------------------------------


def no_training_data(model_id: str) -> SurfaceError:
    return error(
        409,
        "no_training_data",
        f"Model {model_id} has no training images; upload at least one before starting a training.",
    )


def training_in_progress(model_id: str, training_id: str, status: str) -> SurfaceError:
    return error(
        409,
        "training_in_progress",
        f"Model {model_id} already has training {training_id} in progress ({status}); wait for it to "
        "finish or cancel it.",
    )


def training_finished(training_id: str, status: str) -> SurfaceError:
    return error(
        409,
        "training_finished",
        f"Training {training_id} has already finished ({status}); only a queued or processing training "
        "can be cancelled.",
    )
