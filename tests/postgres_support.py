"""PostgreSQL for the tests of `--database-url`: the server named by MOCKSERVER_TEST_DATABASE_URL, else one this
test process starts and stops itself (`throwaway_postgres`), else the tests skip (they fail instead under CI, where
PostgreSQL must be there). Each test gets a database of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from mockserver.testing import postgres_bin, throwaway_postgres

VARIABLE = "MOCKSERVER_TEST_DATABASE_URL"


@contextmanager
def server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server for this test session, or None when there is none to be had."""
    given = os.environ.get(VARIABLE)
    if given:
        yield given
        return
    if postgres_bin() is None:
        yield None
        return
    with ExitStack() as stack:
        yield stack.enter_context(throwaway_postgres())


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def database(url: str) -> Iterator[str]:
    """A new, empty database on that server (unique across pytest-xdist workers), dropped afterwards."""
    import psycopg

    name = f"mockserver_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unavailable() -> None:
    message = f"no PostgreSQL: set {VARIABLE} or install the postgresql package"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
