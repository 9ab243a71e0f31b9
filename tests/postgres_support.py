"""PostgreSQL for the tests of `--database-url`: the server named by MOCKSERVER_TEST_DATABASE_URL, else one this
test process starts and stops itself (`throwaway_postgres`), else the tests skip (they fail instead under CI, where
PostgreSQL must be there). Each test gets a database of its own."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from mockserver.testing import postgres_bin, throwaway_postgres

VARIABLE = "MOCKSERVER_TEST_DATABASE_URL"
GIVEN: str | None = None


def take_variable() -> None:
    """Read the variable, and take it out of the environment: the servers the tests start would warn that it
    names no setting of theirs."""
    global GIVEN
    GIVEN = os.environ.pop(VARIABLE, None) or GIVEN


@contextmanager
def server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server for this test session, or None when there is none to be had."""
    take_variable()
    if GIVEN:
        yield GIVEN
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


class Proxy:
    """A TCP relay between replicas and PostgreSQL: `cut()` drops every connection and refuses new ones, as a lost
    database does; `restore()` listens again on the same port. Works on any server, even one the suite shares."""

    def __init__(self, url: str) -> None:
        import socket
        import threading

        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._socket, self._threading = socket, threading
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._listener: Any = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = urlunsplit(parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{self.port}"))
        self.restore()

    def restore(self) -> None:
        listener = self._socket.socket()
        listener.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: Any) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self._socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for each in (source, sink):
            with contextlib.suppress(OSError):
                each.shutdown(self._socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept(): close() alone would not
            self._listener.shutdown(self._socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for each in conns:
            with contextlib.suppress(OSError):
                each.shutdown(self._socket.SHUT_RDWR)
            each.close()

    def close(self) -> None:
        self.cut()
