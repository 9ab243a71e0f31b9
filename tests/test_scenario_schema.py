"""Schemathesis over openapi/scenario.yaml against the running app: no server errors, and every response
conforms to the spec (status codes, content types, headers, bodies); invalid input is refused, unsupported methods
answer 405 with Allow, and requests without valid credentials are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from mockserver.testing import MockServer, run_server

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "scenario.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    ignored_auth,
]

schema = schemathesis.openapi.from_path(SPEC)
schema.config.generation.update(max_examples=25)
schema.config.auth.update(basic=("scenario-api-key", "scenario-api-secret"))  # so probes know what to remove


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    # strict auth: only the declared key pair passes, so `ignored_auth` can probe with made-up credentials
    with run_server(profile="instant", auth_mode="strict") as server:
        yield server


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_scenario_conforms_to_its_spec(case, mock):
    case.call_and_validate(base_url=mock.base_url, checks=CHECKS)
