"""Schemathesis over openapi/admin.yaml against the running app."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "admin.yaml"
schema = schemathesis.openapi.from_path(SPEC)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_conforms(case, mockserver):
    # A schema-valid state document can still describe objects that do not fit together, so it may be refused.
    case.call_and_validate(base_url=mockserver.base_url, excluded_checks=[positive_data_acceptance])
