"""Every error body the Scenario surface sends, built in one place.

The real API answers errors as `{"reason": "..."}` (e.g. `{"reason": "Model model_X not found"}`,
`{"reason": "Input lorasScale must be at most 2"}`). 401 bodies also carry `message`, as API gateways answer.
Validation problems arrive here as the pydantic-style dicts `Spec.errors` / `spec.describe` produce and leave as
one sentence naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from ..http import json
from ..operations import COERCE, DATETIME
from ..surface import SurfaceError

_DEFAULT_REASONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body is too large",
    415: "Content-Type must be application/json",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}

_TYPE_WORDS = {
    "type_error.integer": "an integer",
    "type_error.float": "a number",
    "type_error.number": "a number",
    "type_error.str": "a string",
    "type_error.bool": "a boolean",
    "type_error.list": "an array",
    "type_error.dict": "an object",
    "type_error.none.not_allowed": "a value",
}


def reason(status: int, text: str, headers: dict[str, str] | None = None) -> SurfaceError:
    return SurfaceError(status, None, text, headers)


def unauthorized(text: str) -> SurfaceError:
    return SurfaceError(401, None, text, {"www-authenticate": 'Basic realm="scenario"'})


def bad_request(text: str) -> SurfaceError:
    return reason(400, text)


def not_found(kind: str, ident: str) -> SurfaceError:
    return reason(404, f"{kind} {ident} not found")


def too_large() -> SurfaceError:
    return reason(413, _DEFAULT_REASONS[413])


def not_json() -> SurfaceError:
    return reason(415, _DEFAULT_REASONS[415])


def invalid_json() -> SurfaceError:
    return bad_request("Request body is not valid JSON")


def not_an_object() -> SurfaceError:
    return bad_request("Request body must be a JSON object")


def custom_only() -> SurfaceError:
    return bad_request("Custom models only are supported for this endpoint")


def model_not_ready(model_id: str, status: str) -> SurfaceError:
    return bad_request(f"Model {model_id} is not trained (status: {status})")


def invalid_models(ids: list[str], allowed: list[str]) -> SurfaceError:
    """A model input naming models of a type it does not take (recorded wording, newline included)."""
    return bad_request(f"Invalid model(s): {', '.join(ids)}.\nAllowed model types: {', '.join(allowed)}")


def cannot_cancel(job_id: str, status: str) -> SurfaceError:
    return bad_request(f"Job {job_id} cannot be canceled: it is already {status}")


def unsupported_format(fmt: str) -> SurfaceError:
    return bad_request(f"Input targetFormat {fmt} is not supported for image assets (use png, jpeg, jpg or webp)")


def bad_token(param: str) -> SurfaceError:
    return bad_request(f"Query parameter {param} is not a valid pagination token")


def input_problem(problem: dict[str, Any], prefix: str = "Input") -> SurfaceError:
    return bad_request(sentence(problem, prefix))


def parameter_problem(problem: dict[str, Any]) -> SurfaceError:
    """A query or header parameter refused: `Query parameter pageSize must be an integer`."""
    where = "Query parameter" if problem["loc"][0] == "query" else "Header"
    name = problem["loc"][1]
    if problem["type"] == COERCE:
        return bad_request(f"{where} {name} must be {problem['ctx']['expected']}")
    if problem["type"] == DATETIME:
        return bad_request(f"{where} {name} must be an ISO 8601 date-time")
    return input_problem(problem, where)


_LIMIT_SENTENCES = {
    "value_error.number.not_le": "must be at most {}",
    "value_error.number.not_ge": "must be at least {}",
    "value_error.number.not_lt": "must be less than {}",
    "value_error.number.not_gt": "must be greater than {}",
    "value_error.any_str.max_length": "must be at most {} characters long",
    "value_error.any_str.min_length": "must be at least {} characters long",
    # as recorded: "Input loras must be at most 6 items long"
    "value_error.list.max_items": "must be at most {} items long",
    "value_error.list.min_items": "must be at least {} items long",
}


def sentence(problem: dict[str, Any], prefix: str = "Input") -> str:
    """One validation problem (pydantic-style `loc`/`msg`/`type`/`ctx`) as a sentence naming the field:
    `Input numOutputs must be at most 4`, `Query parameter pageSize must be an integer`."""
    loc = [part for part in problem.get("loc", []) if part not in ("body", "query", "header")]
    name = str(loc[0]) if loc else "body"
    field = f"{prefix} {name}"
    kind = problem.get("type", "")
    limit = problem.get("ctx", {}).get("limit_value")
    if kind == "value_error.missing":
        return f"{field} is required"
    if kind == "value_error.extra":
        return f"{field} is not allowed"
    if kind == "type_error.enum":
        allowed = ", ".join(str(v) for v in problem.get("ctx", {}).get("enum_values", []))
        return f"{field} must be one of: {allowed}"
    if kind in _TYPE_WORDS:
        item = " items" if len(loc) > 1 else ""
        return f"{field}{item} must be {_TYPE_WORDS[kind]}"
    if kind in _LIMIT_SENTENCES:
        return f"{field} {_LIMIT_SENTENCES[kind].format(_num(limit))}"
    if kind == "value_error.multipleOf":
        return f"{field} must be a multiple of {_num(problem.get('ctx', {}).get('multiple_of'))}"
    if kind == "value_error.format":
        return f"{field} must be a valid {problem.get('ctx', {}).get('format', 'value')}"
    return f"{field} is invalid: {problem.get('msg', 'invalid value')}"


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def for_path(
    path: str,
    status: int,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Every Scenario refusal in its `{"reason": ...}` shape (401s also carry `message`, as API gateways answer)."""
    text = message or _DEFAULT_REASONS.get(status, "Error")
    body: dict[str, Any] = {"reason": text}
    if status == 401:
        body["message"] = "Unauthorized"
    if code:
        body["code"] = code
    sent = dict(headers or {})
    lowered = {k.lower() for k in sent}
    if status in (429, 503) and "retry-after" not in lowered:
        millis = next((v for k, v in sent.items() if k.lower() == "retry-after-ms"), None)
        sent["retry-after"] = _ceil_seconds(millis) if millis is not None else "1"
    return json(body, status, sent)


def _ceil_seconds(millis: str) -> str:
    try:
        value = float(millis)
    except ValueError:
        return "1"
    return str(max(1, -(-int(value) // 1000)))
