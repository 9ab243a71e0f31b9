"""pytest plugin (registered through the `pytest11` entry point): a real fake server for your tests.

Fixtures:
- `firefly_mock`: the session's server, reset before the test, with a ready token (`access_token`,
  `headers()`), the base and token URLs, credentials, and the control API (`clock`, `faults`, `requests()`, ...).
- `mockserver`: the same handle without fetching a token.
- `mockserver_inprocess`: the same handle over an in-process ASGI transport (no socket, no thread).

Marker: `@pytest.mark.mockserver(profile="instant", seed=7)` sets the timing profile and seed for one test.
Under pytest-xdist every worker starts its own server, so tests never share state across workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .testing import MockServer, in_process, run_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mockserver(profile=None, seed=None): configure the fake for one test")


def _prepare(handle: MockServer, request: pytest.FixtureRequest) -> MockServer:
    marker = request.node.get_closest_marker("mockserver")
    options: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = sorted(set(options) - {"profile", "seed"})
    if unknown or (marker and marker.args):  # a typo must not quietly run the test with the defaults
        pytest.fail(f"@pytest.mark.mockserver takes only profile= and seed=, not {unknown or marker.args}", False)
    handle.reset(seed=options.get("seed"))
    if options.get("profile"):
        handle.profile(options["profile"])
    handle.access_token = None
    return handle


@pytest.fixture(scope="session")
def mockserver_session() -> Iterator[MockServer]:
    """One server per test session (per xdist worker), on 127.0.0.1 and a free port."""
    with run_server() as handle:
        yield handle


@pytest.fixture
def mockserver(mockserver_session: MockServer, request: pytest.FixtureRequest) -> MockServer:
    return _prepare(mockserver_session, request)


@pytest.fixture
def firefly_mock(mockserver: MockServer) -> MockServer:
    mockserver.access_token = mockserver.token()
    return mockserver


@pytest.fixture(scope="session")
def _mockserver_inprocess_session() -> Iterator[MockServer]:
    with in_process() as handle:
        yield handle


@pytest.fixture
def mockserver_inprocess(_mockserver_inprocess_session: MockServer, request: pytest.FixtureRequest) -> MockServer:
    return _prepare(_mockserver_inprocess_session, request)
