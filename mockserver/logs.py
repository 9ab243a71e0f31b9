"""One log line per request, plain or JSON, on stderr."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from .journal import iso

access = logging.getLogger("mockserver.access")


def configure(log_format: str) -> None:
    """Idempotent: worker processes call it again on start-up."""
    if getattr(configure, "done", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    configure.done = True  # type: ignore[attr-defined]
    access.format = log_format  # type: ignore[attr-defined]


def request_line(entry: dict[str, Any]) -> None:
    if not access.isEnabledFor(logging.INFO):
        return
    fields = {k: entry[k] for k in ("time", "method", "path", "status", "latency_ms", "tenant", "request_id")}
    fields["time"] = iso(fields["time"])
    if getattr(access, "format", "plain") == "json":
        access.info(orjson.dumps(fields).decode())
    else:
        access.info(
            "%s %s %s %d %.1fms tenant=%s id=%s",
            fields["time"],
            fields["method"],
            fields["path"],
            fields["status"],
            fields["latency_ms"],
            fields["tenant"] or "-",
            fields["request_id"],
        )
