"""Shared helpers for this project's tests. The `firefly_mock` / `mockserver` fixtures come from the plugin."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import postgres_support as pg
import pytest
from hypothesis import settings
from PIL import Image

from mockserver.testing import MockServer, run_server

# In CI every property test and Schemathesis run draws the same examples each time (a red run can be repeated
# exactly); locally they explore afresh. HYPOTHESIS_PROFILE=ci/dev picks one explicitly.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

WARM_MODEL = "urn:aaid:sc:VA6C2:3b0c9a3e-5d43-4c1f-9a57-2c0d8c7e9f11"
PRIVATE_MODEL = "urn:aaid:sc:VA6C2:c41e8d2a-0b6f-4a8e-9d3c-7e5f1a2b9c30"


def generate(
    mock: MockServer,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    version: str | None = None,
    **extra_headers: str,
) -> httpx.Response:
    sent = dict(headers or mock.headers())
    if version:
        sent["x-model-version"] = version
    sent.update({k.replace("_", "-"): v for k, v in extra_headers.items()})
    return mock.http.post("/v3/images/generate-async", json=body, headers=sent)


def with_picture(state: dict[str, Any], kind: str, change: Callable[[Any], Any]) -> dict[str, Any]:
    """An exported state whose jobs of `kind` keep `change(their picture)` as the description their outputs are
    drawn from (`extra.picture`)."""
    objects = []
    for obj in state["objects"]:
        if obj["kind"] == kind:
            extra = obj["data"]["extra"]
            obj = {**obj, "data": {**obj["data"], "extra": {**extra, "picture": change(extra.get("picture"))}}}
        objects.append(obj)
    return {**state, "objects": objects}


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture
def auth(firefly_mock: MockServer) -> dict[str, str]:
    return {"x-api-key": firefly_mock.client_id, "authorization": f"Bearer {firefly_mock.access_token}"}


@pytest.fixture(scope="module")
def instant_server() -> Iterator[MockServer]:
    """A server of the module's own, on the instant profile (reset before each test by `instant_mock`)."""
    with run_server(profile="instant") as mock:
        yield mock


@pytest.fixture
def instant_mock(instant_server: MockServer) -> MockServer:
    instant_server.reset()
    return instant_server


def pytest_configure(config: pytest.Config) -> None:
    """Where tests run (not in a pytest-xdist controller, whose workers inherit its environment), take
    MOCKSERVER_TEST_DATABASE_URL out of the environment before any server is started."""
    if not (getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")):
        pg.take_variable()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """A PostgreSQL server for the session (see tests/pg.py); None when there is none."""
    with pg.server() as url:
        yield url


@pytest.fixture
def database_url(postgres_server: str | None) -> Iterator[str]:
    """A fresh database of this test's own; skips without PostgreSQL (fails under CI)."""
    if postgres_server is None:
        pg.unavailable()
    assert postgres_server is not None
    with pg.database(postgres_server) as url:
        yield url
