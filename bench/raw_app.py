"""A second ceiling: a raw ASGI app (no framework) answering the bare app's bytes, on the same Uvicorn settings.

`python -m bench.raw_app --port P [--blob FILE]`: `/json` answers the fixed JSON body, `/blob` FILE's bytes, and
`/ready` 200. The gap between it and the bare Starlette app is what Starlette itself costs per request.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .bare_app import BODY, serve


def build(blob: bytes = b"") -> Any:
    answers = {
        "/json": (b"application/json", BODY),
        "/blob": (b"image/jpeg", blob),
        "/ready": (b"application/json", b'{"status":"ready"}'),
    }
    missing = (b"text/plain", b"Not Found")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await lifespan(scope, receive, send)
            return
        found = answers.get(scope["path"])
        media, body = found or missing
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", media)]
        await send({"type": "http.response.start", "status": 200 if found else 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw app's lifespan: nothing to start or stop."""
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--blob", help="a file whose bytes GET /blob answers")
    args = parser.parse_args()
    serve(build(Path(args.blob).read_bytes() if args.blob else b""), args.host, args.port)


if __name__ == "__main__":
    main()
