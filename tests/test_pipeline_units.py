"""Unit tests for the request pipeline's pieces: the surface error each surface renders, operations checked from
the specs (query and header parameters), the shared JSON body, the typed training record and the core training
state as each provider words it."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from starlette.requests import Request

from mockserver import spec as specs
from mockserver.bodies import SCOPE_KEY, parse, read_json
from mockserver.control import Control
from mockserver.core.jobs import Job, Plan
from mockserver.core.trainings import TrainingRecord, TrainingState, decisive, order, state, trigger_word
from mockserver.files import Files
from mockserver.operations import COERCE, DATETIME, operations
from mockserver.providers import firefly, scenario_errors, training
from mockserver.providers import firefly_errors as ff_errors
from mockserver.providers import training_errors as tr_errors
from mockserver.settings import bundled
from mockserver.surface import Surface, SurfaceError, render
from mockserver.unrouted import Unrouted

SPECS = bundled("openapi")


def _body(response: Any) -> Any:
    return orjson.loads(response.body) if response.media_type == "application/json" else response.body.decode()


def _request(query: str = "", headers: dict[str, str] | None = None, scope: dict[str, Any] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    base = {"type": "http", "method": "GET", "path": "/", "query_string": query.encode(), "headers": raw}
    return Request({**base, **(scope or {})})


# --- surface errors: raised once, rendered by the surface the path belongs to ------------------------------


class _Firefly:
    """Firefly's error() without building the whole provider."""

    surface, prefixes, rate_limits = "firefly", ("/ims", "/v3"), {}

    def routes(self) -> list[Any]:
        return []

    error = staticmethod(ff_errors.for_path)


def test_firefly_renders_each_service_in_its_own_shape() -> None:
    surface: Surface = _Firefly()
    ims = render(surface, "/ims/token/v3", ff_errors.ims(400, "invalid_client", "invalid client_id parameter"))
    assert _body(ims) == {"error": "invalid_client", "error_description": "invalid client_id parameter"}
    token = render(surface, "/v3/custom-models", ff_errors.invalid_token())
    assert (token.status_code, _body(token)) == (401, {"error_code": "401013", "message": "Oauth token is not valid"})
    reason = render(surface, "/v3/custom-models", ff_errors.reason(406))
    assert _body(reason) == {
        "reason": "Not Acceptable",
        "message": "The requested format is not supported by this method.",
    }
    big = render(surface, "/v3/images/generate-async", ff_errors.too_large())
    assert big.status_code == 413 and big.media_type == "text/html" and "413 Request Entity Too Large" in _body(big)
    problem = {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
    invalid = render(surface, "/v3/images/generate-async", ff_errors.validation([problem]))
    assert (invalid.status_code, _body(invalid)) == (
        422,
        {"error_code": "validation_error", "message": "Request validation failed.", "validation_errors": [problem]},
    )


def test_training_renders_details_and_headers() -> None:
    exc = tr_errors.validation([tr_errors.detail("prompt", "is required")])
    response = render(training.Training.__new__(training.Training), "/predictions", exc)
    assert response.status_code == 422
    assert _body(response) == {
        "error": {
            "code": "validation_error",
            "message": "The request is invalid: prompt: is required.",
            "details": [{"field": "prompt", "message": "is required"}],
        }
    }
    limited = tr_errors.render(429, headers={"retry-after": "3"})
    assert limited.headers["retry-after"] == "3"
    assert _body(limited) == {"error": {"code": "rate_limited", "message": "Too many requests. Please retry later."}}


def test_scenario_renders_reason_and_401_challenge() -> None:
    response = scenario_errors.for_path("/v1/jobs", 401, None, "Bearer token expired", {"www-authenticate": "Basic"})
    assert _body(response) == {"reason": "Bearer token expired", "message": "Unauthorized"}
    assert response.headers["www-authenticate"] == "Basic"
    exc = scenario_errors.not_found("Model", "model_x")
    assert (exc.status, exc.message) == (404, "Model model_x not found")
    assert _body(scenario_errors.for_path("/v1/x", exc.status, exc.code, exc.message, exc.headers)) == {
        "reason": "Model model_x not found"
    }


def test_control_files_and_unrouted_render_their_formats() -> None:
    admin = render(Control.__new__(Control), "/__admin/faults", SurfaceError(404, "not_found", "No fault rule r1."))
    assert _body(admin) == {"error": "not_found", "message": "No fault rule r1."}
    files = render(Files.__new__(Files), "/files/x.jpg", SurfaceError(403, "AccessDenied", "Request has expired"))
    assert files.media_type == "application/xml" and "<Code>AccessDenied</Code>" in _body(files)
    assert "<Code>NoSuchKey</Code>" in _body(render(Files.__new__(Files), "/files/x", SurfaceError(404)))
    none = render(Unrouted(), "/nowhere", SurfaceError(405))
    assert _body(none) == {"error": "method_not_allowed", "message": "Method not allowed."}


def test_a_surface_error_keeps_what_it_was_given() -> None:
    exc = SurfaceError(409, "conflict", "Busy.", {"retry-after": "1"}, details=[{"field": "x", "message": "y"}])
    assert (exc.status, exc.code, exc.message, exc.headers) == (409, "conflict", "Busy.", {"retry-after": "1"})
    assert exc.extra == {"details": [{"field": "x", "message": "y"}]}


# --- operations from the specs -------------------------------------------------------------------------------


def test_firefly_header_enums_come_from_the_spec() -> None:
    op = operations(specs.load(SPECS, "firefly-v3.yaml"))["generateImagesV3Async"]
    assert op.body_schema == "GenerateImagesRequest"
    values, problems = op.parameters(_request(), defaults=True)
    assert (values["x-model-version"], values["x-accept-mimetype"], problems) == ("image3", "image/jpeg", [])
    _, problems = op.parameters(_request(headers={"x-model-version": "image9", "x-mock-profile": "slow"}))
    assert [p["loc"] for p in problems] == [["header", "x-model-version"], ["header", "x-mock-profile"]]
    assert problems[0]["type"] == "type_error.enum"
    assert problems[0]["ctx"]["enum_values"][0] == "image3"
    assert problems[0]["msg"].startswith("value is not a valid enumeration member; permitted: 'image3', ")


def test_the_first_header_of_a_name_is_the_parameter_as_starlette_reads_it() -> None:
    op = operations(specs.load(SPECS, "firefly-v3.yaml"))["generateImagesV3Async"]
    raw = [(b"x-model-version", b"image4_ultra"), (b"x-model-version", b"image9"), (b"x-mock-profile", b"")]
    values, problems = op.parameters(_request(scope={"headers": raw}), defaults=True)
    assert values["x-model-version"] == "image4_ultra" and values["x-accept-mimetype"] == "image/jpeg"
    assert [p["loc"] for p in problems] == [["header", "x-mock-profile"]]  # an empty value is still a value


def test_whole_numbers_copies_only_a_body_that_has_one_to_make_whole() -> None:
    plain = {"prompt": "x", "numVariations": 2, "size": {"width": 1024, "height": 1024}, "style": {"strength": 5}}
    assert firefly.whole_numbers(plain) is plain
    floats = {**plain, "numVariations": 2.0, "seeds": [1.0, 2], "size": {"width": 1024.0, "height": 1024}}
    floats["structure"] = {"strength": 3.0, "imageReference": {}}
    made = firefly.whole_numbers(floats)
    assert made == {
        **floats,
        "numVariations": 2,
        "seeds": [1, 2],
        "size": {"width": 1024, "height": 1024},
        "structure": {"strength": 3, "imageReference": {}},
    }
    assert [type(v) for v in (made["numVariations"], *made["seeds"], made["size"]["width"])] == [int, int, int, int]
    assert type(made["structure"]["strength"]) is int and list(made) == list(floats)
    assert floats["numVariations"] == 2.0 and type(floats["numVariations"]) is float  # the body itself is kept


def test_json_depth_is_counted_for_flat_and_nested_bodies() -> None:
    from mockserver.http import too_deep

    assert not too_deep({"a": 1, "b": "x"}) and too_deep({"a": 1}, limit=0) and not too_deep({}, limit=1)
    nested: Any = 1
    for _ in range(64):
        nested = {"a": nested}
    assert not too_deep(nested) and too_deep({"a": nested}) and too_deep({"x": 1, "a": [nested]})


def test_the_instant_plan_is_the_one_plan_for_makes() -> None:
    from mockserver.core.ids import Ids
    from mockserver.core.profiles import plan_for
    from mockserver.core.world import INSTANT

    assert plan_for("instant", "generate", Ids(1)) == INSTANT


def test_query_parameters_are_typed_and_checked_from_the_spec() -> None:
    op = operations(specs.load(SPECS, "scenario.yaml"))["listJobs"]
    values, problems = op.parameters(_request("pageSize=10&createdAfter=2025-01-01T00:00:00Z&unknown=1"))
    assert problems == [] and values["pageSize"] == 10 and values["createdAfter"] == 1735689600.0
    assert "unknown" not in values
    _, problems = op.parameters(_request("pageSize=ten"))
    assert problems[0]["type"] == COERCE and problems[0]["ctx"]["expected"] == "an integer"
    _, problems = op.parameters(_request("createdAfter=yesterday"))
    assert problems[0]["type"] == DATETIME and problems[0]["loc"] == ["query", "createdAfter"]


def test_every_provider_words_parameter_problems_its_own_way() -> None:
    header = {"loc": ["header", "x-mock-profile"], "msg": "…", "type": "type_error.enum"}
    header["ctx"] = {"enum_values": ["instant", "fast"]}
    assert tr_errors.from_parameters([header]) == [
        {"field": "x-mock-profile", "message": "must be one of instant, fast"}
    ]
    assert scenario_errors.parameter_problem(header).message == "Header x-mock-profile must be one of: instant, fast"
    coerce = {"loc": ["query", "pageSize"], "msg": "…", "type": COERCE, "ctx": {"expected": "an integer"}}
    assert scenario_errors.parameter_problem(coerce).message == "Query parameter pageSize must be an integer"


# --- one body pipeline ---------------------------------------------------------------------------------------


def test_a_body_is_parsed_once_and_taken_from_the_gateway() -> None:
    assert parse(b"  ").empty and parse(b"  ").value is None
    broken = parse(b"{")
    assert broken.value is None and broken.error
    parsed = parse(b'{"a": 1}')
    request = _request(scope={SCOPE_KEY: parsed})
    assert asyncio.run(read_json(request, 10)) is parsed  # nothing read or parsed again


# --- trainings: a typed record, a core state, wire words in the providers -----------------------------------


def _training(job_id: str, model_id: str, seq: int, created: float, pending: float = 1, running: float = 1) -> Job:
    record = TrainingRecord(model_id, f"WORD{seq}", seq)
    return Job(job_id, "t", "training", created, Plan(pending, running), extra={**record.fields(), "speed": "fast"})


def test_training_record_round_trips_through_the_job() -> None:
    job = _training("j1", "m1", 3, 100.0)
    assert TrainingRecord.of(job) == TrainingRecord("m1", "WORD3", 3)
    assert job.extra["speed"] == "fast"  # the provider's own fields sit beside it


def test_training_state_is_derived_and_worded_by_each_provider() -> None:
    first, second = _training("a", "m", 1, 0.0), _training("b", "m", 2, 0.0)
    assert state([], 0.0) is TrainingState.NONE
    assert state([first], 0.5) is TrainingState.QUEUED
    assert state([first], 1.5) is TrainingState.TRAINING
    assert state([first, second], 5.0) is TrainingState.READY
    assert order(second) > order(first)  # same instant: the sequence number decides
    assert trigger_word([first, second], 5.0) == "WORD2"
    second.canceled_at = 0.5
    assert state([second], 5.0) is TrainingState.CANCELLED
    assert decisive([first, second], 5.0, lambda model_id: True) == {"a", "b"}
    assert decisive([first, second], 5.0, lambda model_id: False) == set()
    assert set(training._MODEL_STATUS) == set(TrainingState)
    assert training._MODEL_STATUS[TrainingState.NONE] == "untrained"
    assert set(firefly._TRAINING_FILTERS) <= set(firefly.PUBLISHED_STATES)


def test_firefly_status_finds_every_firefly_job_kind() -> None:
    from mockserver.core.jobs import Jobs
    from mockserver.store import MemoryStore

    class _Clock:
        def now(self) -> float:
            return 0.0

    jobs = Jobs(MemoryStore(), _Clock())
    jobs.add(Job("j-expand", "t", "firefly.expand", 0.0, Plan(1, 1)))
    assert jobs.get("t", "j-expand", ("firefly.generate", "firefly.expand")) is not None
    assert jobs.get("t", "j-expand", "firefly.generate") is None
    assert jobs.get("other", "j-expand", ("firefly.generate", "firefly.expand")) is None
    assert firefly.GENERATE in firefly.JOB_KINDS


@pytest.mark.parametrize("surface", [Control, Files, Unrouted, training.Training])
def test_every_surface_declares_the_interface(surface: type) -> None:
    for name in ("surface", "prefixes", "rate_limits", "routes", "error"):
        assert hasattr(surface, name), f"{surface.__name__} lacks {name}"
