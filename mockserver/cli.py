"""`mockserver serve`: flags override MOCKSERVER_* environment variables, which override defaults."""

from __future__ import annotations

import argparse
import sys

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
    serve.add_argument("--state-dir")
    serve.add_argument("--workers", type=int)
    serve.add_argument("--log-format", choices=["plain", "json"])
    serve.add_argument("--public-url", help="base URL to put in returned links (default: the Host header)")
    return parser


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = vars(_parser().parse_args(argv))
    args.pop("command")
    return Settings.from_env(**args)


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_args(argv)
    import uvicorn

    from .app import create_app

    try:
        app = create_app(settings)
    except FixtureError as exc:
        print(f"mockserver: bad fixtures: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"mockserver: cannot start: {exc}", file=sys.stderr)
        return 2
    print(f"mockserver: listening on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
