"""Schemathesis over openapi/firefly-v3.yaml against the running app: no 5xx, every response matches the spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "firefly-v3.yaml"
schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture
def live(firefly_mock):
    headers = {"x-api-key": firefly_mock.client_id, "authorization": f"Bearer {firefly_mock.access_token}"}
    return firefly_mock.base_url, headers


def with_real_credentials(case, credentials):
    """Swap generated credential values for working ones, but keep them absent where Schemathesis left them out
    on purpose (negative cases test that missing credentials are refused)."""
    if case.headers:
        case.headers = {k: credentials.get(k.lower(), v) for k, v in case.headers.items()}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_firefly_conforms(case, live):
    base_url, credentials = live
    with_real_credentials(case, credentials)
    # Schema-valid requests may still be refused for reasons a schema cannot state (credentials, the sizes a model
    # version supports, which models exist), so "valid data must be accepted" is not checked; everything else is.
    case.call_and_validate(base_url=base_url, excluded_checks=[positive_data_acceptance])
