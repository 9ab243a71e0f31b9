"""The stack's ceiling: a bare Starlette app answering a fixed JSON body, on the Uvicorn settings the fake uses.

`python -m bench.bare_app --port P` serves it the way `mockserver serve` serves the fake (mockserver/cli.py builds
`uvicorn.Config(app, host=..., port=..., log_level="warning", access_log=False, timeout_graceful_shutdown=5)` and
runs one `uvicorn.Server`), so the only difference the benchmark sees is the fake's own code. With `--blob FILE`,
`GET /blob` answers FILE's bytes as a JPEG: a download is compared with the same bytes, not the small JSON body.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# About the size of a finished job's status document with one output.
BODY = (
    b'{"jobId":"urn:ff:jobs:ue1:00000000-0000-0000-0000-000000000000","status":"succeeded","progress":100.0,'
    b'"result":{"size":{"width":2048,"height":2048},"outputs":[{"seed":1,"image":{"url":"http://127.0.0.1/'
    b'files/00000000-0000-0000-0000-000000000000.jpg?expires=1&signature=0"}}]}}'
)


def build(blob: bytes = b"") -> Starlette:
    ready = {"ok": False}

    async def fixed(request: Request) -> Response:
        return Response(BODY, media_type="application/json")

    async def file_bytes(request: Request) -> Response:
        return Response(blob, media_type="image/jpeg")

    async def readiness(request: Request) -> Response:
        return Response(b'{"status":"ready"}', 200 if ready["ok"] else 503, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ready["ok"] = True
        yield

    return Starlette(
        routes=[
            Route("/json", fixed, methods=["GET", "POST"]),
            Route("/blob", file_bytes, methods=["GET"]),
            Route("/ready", readiness, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--blob", help="a file whose bytes GET /blob answers")
    args = parser.parse_args()
    serve(build(Path(args.blob).read_bytes() if args.blob else b""), args.host, args.port)


def serve(app: Any, host: str, port: int) -> None:
    """Serve `app` as `mockserver serve` serves the fake (the benchmark's apps all use this)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
