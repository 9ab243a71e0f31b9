"""`mockserver serve`: flags override MOCKSERVER_* environment variables, which override defaults.

Start-up problems (a bad setting, bad fixtures, a port that cannot be bound) end with one line on stderr and exit
status 2. "listening on" is printed only once the socket is bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from .fixtures import FixtureError
from .settings import Settings, SettingsError, check, env_name

# Idle keep-alive connections stay open this long, as behind common gateways (nginx's default): clients whose own
# idle limit is shorter (httpx: 5 s, aiohttp: 15 s) then never send a request on a connection being closed.
KEEP_ALIVE_SECONDS = 75
BACKLOG = 2048  # Uvicorn's default


def _version() -> str:
    try:
        return version("mockserver")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mockserver", description="A stateful local fake of image-generation APIs")
    parser.add_argument("--version", action="version", version=f"mockserver {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the server",
        description="Run the server. Every flag can also be set "
        "with the MOCKSERVER_* variable named in its help; flags win.",
    )
    for f in dataclasses.fields(Settings):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else "the bundled folder"
        help_text = f"{meta['help']} (default: {_shown(default)}; env {env_name(f.name)})"
        if str(f.type).startswith("bool"):
            flag = meta.get("flag") or "--" + f.name.replace("_", "-")
            store = "store_false" if f.default is True else "store_true"
            serve.add_argument(flag, dest=f.name, action=store, default=None, help=help_text)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "help": help_text, "metavar": f.name.upper()}
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
            kwargs.pop("metavar")
        serve.add_argument("--" + f.name.replace("_", "-"), **kwargs)
    from .recording import commands  # record, fixtures-from, drift

    commands.add_parsers(sub)
    return parser


def _shown(value: object) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def settings_from_args(argv: list[str] | None = None) -> Settings:
    args = vars(_parser().parse_args(argv))
    args.pop("command")
    args.pop("run", None)
    overrides: dict[str, Any] = {}
    for name, value in args.items():
        if isinstance(value, str):  # flags arrive as text: check them exactly as variables are checked
            value = check(Settings.__dataclass_fields__[name], value, "--" + name.replace("_", "-"))
        overrides[name] = value
    return Settings.from_env(**overrides)


def _export(settings: Settings) -> None:
    """Worker processes rebuild the app from the environment, so put every setting there."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            os.environ[env_name(field.name)] = _shown(value) if isinstance(value, bool) else str(value)


def _graceful_server_class() -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """SIGTERM/SIGINT stop accepting, let in-flight requests finish (5 s at most) and exit 0: for a sidecar a
        stop signal is the normal way to end, not a failure (Uvicorn would re-raise the signal)."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return GracefulServer


def _fail(message: str) -> NoReturn:
    print(f"mockserver: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _build(make: Callable[[], Any]) -> Any:
    """Build the app (or just its context); a bad fixture or spec ends start-up with a message and exit 2."""
    try:
        return make()
    except FixtureError as exc:
        _fail(f"bad fixtures: {exc}")
    except (OSError, ValueError) as exc:
        _fail(f"cannot start: {exc}")


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a port that cannot be had is a clear exit 2 and the "listening
    on" line names the port really bound (port 0 picks a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listen now, before "listening on" is printed: a client that connects as soon as it reads that line is
        # queued until the server accepts, instead of refused while the app and its workers are still starting.
        sock.listen(BACKLOG)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parsed = _parser().parse_args(argv)
    if parsed.command != "serve":
        run: Callable[[argparse.Namespace], int] = parsed.run
        return run(parsed)
    try:
        settings = settings_from_args(argv)
    except SettingsError as exc:
        _fail(str(exc))
    _warn_unknown_variables()
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from . import logs
    from .app import app_from_env, build_context

    if settings.workers > 1 and not settings.state_dir and not settings.database_url:
        settings.state_dir = tempfile.mkdtemp(prefix="mockserver-state-")  # workers must share one store
    if settings.workers > 1:
        _build(lambda: build_context(settings)).world.store.close()  # fail fast, in the parent
    _export(settings)
    sock = _bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    common: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }
    if settings.workers > 1:
        config = uvicorn.Config("mockserver.app:app_from_env", factory=True, workers=settings.workers, **common)
        _listening(host, port)
        if "target" in inspect.signature(Multiprocess).parameters:  # Uvicorn before 0.36
            Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=[sock]).run()
        return 0
    app = _build(app_from_env)
    logs.configure(settings.log_format)
    _listening(host, port)
    _graceful_server_class()(uvicorn.Config(app, **common)).run(sockets=[sock])
    return 0


def _warn_unknown_variables() -> None:
    """A misspelt variable (MOCKSERVER_AUTHMODE=strict) would silently leave its setting at the default (auth
    open). Not an error: other tools may use MOCKSERVER_* names of their own (a test suite's MOCKSERVER_URL)."""
    known = [env_name(f.name) for f in dataclasses.fields(Settings)]
    for name in sorted(n for n in os.environ if n.startswith("MOCKSERVER_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(f"mockserver: warning: {name} is not a setting and is ignored{hint}", file=sys.stderr, flush=True)


def _listening(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL
    print(f"mockserver: listening on http://{shown}:{port}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
