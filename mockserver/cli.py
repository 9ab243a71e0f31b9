"""`mockserver serve`: flags override MOCKSERVER_* environment variables, which override defaults."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from .fixtures import FixtureError
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="A stateful local fake of image-generation APIs")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--fixtures", help="folder of YAML/JSON seed data")
    serve.add_argument("--specs", help="folder of the OpenAPI specs")
    serve.add_argument("--profile", choices=["instant", "fast", "realistic", "polls"])
    serve.add_argument("--seed", type=int, help="repeat every id, seed and image exactly")
    serve.add_argument("--auth-mode", choices=["open", "strict"])
    serve.add_argument("--admin-token")
    serve.add_argument("--no-admin", action="store_true", default=None)
    serve.add_argument("--rate-limits", choices=["off", "realistic"])
    serve.add_argument("--state-dir", help="keep state in a SQLite file in this folder (survives restarts)")
    serve.add_argument("--workers", type=int, help="Uvicorn worker processes (they share --state-dir)")
    serve.add_argument("--log-format", choices=["plain", "json"])
    serve.add_argument("--no-access-log", dest="access_log", action="store_false", default=None)
    serve.add_argument("--public-url", help="base URL to put in returned links (default: the Host header)")
    return parser


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = vars(_parser().parse_args(argv))
    args.pop("command")
    return Settings.from_env(**args)


def _export(settings: Settings) -> None:
    """Worker processes rebuild the app from the environment, so put every setting there."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            os.environ[f"MOCKSERVER_{field.name.upper()}"] = text


def _graceful_server_class() -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """SIGTERM/SIGINT stop accepting, let in-flight requests finish (5 s at most) and exit 0: for a sidecar a
        stop signal is the normal way to end, not a failure (Uvicorn would re-raise the signal)."""

        def handle_exit(self, sig: int, frame: object) -> None:
            super().handle_exit(sig, frame)  # type: ignore[arg-type]
            self._captured_signals.clear()

    return GracefulServer


def _build(make: Callable[[], Any]) -> Any:
    """Build the app (or just its context); a bad fixture or spec ends start-up with a message and exit 2."""
    try:
        return make()
    except FixtureError as exc:
        print(f"mockserver: bad fixtures: {exc}", file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(argv)
    import uvicorn

    from . import logs
    from .app import app_from_env, build_context

    if settings.workers > 1 and not settings.state_dir:
        settings.state_dir = tempfile.mkdtemp(prefix="mockserver-state-")  # workers must share one store
    if settings.workers > 1:
        _build(lambda: build_context(settings)).world.store.close()  # fail fast, in the parent
    _export(settings)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
    }
    if settings.workers > 1:
        print(f"mockserver: listening on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
        uvicorn.run("mockserver.app:app_from_env", factory=True, workers=settings.workers, **common)
        return 0
    app = _build(app_from_env)
    logs.configure(settings.log_format)
    print(f"mockserver: listening on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    _graceful_server_class()(uvicorn.Config(app, **common)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
