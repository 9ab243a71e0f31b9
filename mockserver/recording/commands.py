"""The `record`, `fixtures-from` and `drift` subcommands: their flags, and the few lines that start each one.

Usage errors (a bad flag, a folder that is not a recording, an upstream that is not a URL) end with one line on
stderr and exit status 2, as `serve`'s do.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

UPSTREAMS = ("ims", "firefly", "scenario", "training")
_EXAMPLES = {
    "ims": "https://ims-na1.adobelogin.com",
    "firefly": "https://firefly-api.adobe.io",
    "scenario": "https://api.cloud.scenario.com",
    "training": "the training API's base URL (it has no public host)",
}


def add_parsers(sub: Any) -> None:
    record = sub.add_parser(
        "record",
        help="record real traffic through a proxy",
        description="Forward requests to the real services and write each exchange, redacted, to --out.",
    )
    for name in UPSTREAMS:
        record.add_argument(
            f"--upstream-{name}", metavar="URL", help=f"where {name} requests go, e.g. {_EXAMPLES[name]}"
        )
    record.add_argument("--out", required=True, metavar="DIR", help="folder to write the recording to")
    record.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    record.add_argument("--port", type=int, default=8080, help="port to listen on, 0 for any (default: 8080)")
    record.add_argument(
        "--keep-binary", action="store_true", help="keep binary bodies (base64) instead of only their hash"
    )
    record.add_argument(
        "--follow-host",
        action="append",
        default=[],
        metavar="PATTERN",
        help="also route URLs on hosts matching this glob through the proxy (Firefly's status host, the "
        "download host of signed URLs); repeatable",
    )
    record.set_defaults(run=run_record)

    fixtures = sub.add_parser(
        "fixtures-from",
        help="turn a recording into fixtures",
        description="Write the models and custom models a recording saw, and its job timings, as a fixtures folder.",
    )
    fixtures.add_argument("recording", metavar="DIR", help="a folder written by `mockserver record`")
    fixtures.add_argument("--out", required=True, metavar="FIXTURES_DIR", help="folder to write the fixtures to")
    fixtures.set_defaults(run=run_fixtures_from)

    drift = sub.add_parser(
        "drift",
        help="compare the fake (or any base URL) with a recording",
        description="Replay a recording and report, per operation, differences in status, headers and body "
        "shape. Exit status 1 when something drifted, 0 when nothing did, 2 on a usage error.",
    )
    drift.add_argument("recording", metavar="DIR", help="a folder written by `mockserver record`")
    drift.add_argument(
        "--against",
        metavar="URL",
        help="base URL to replay against (default: a fake started for the run, with --fixtures)",
    )
    drift.add_argument("--fixtures", metavar="DIR", help="fixtures of the fake started when --against is not given")
    drift.add_argument("--format", choices=("table", "json", "markdown"), default="table", help="report format")
    drift.add_argument("--out", metavar="FILE", help="write the report here instead of standard output")
    for flag, variable, default, what in CREDENTIALS:
        drift.add_argument(
            flag, metavar=flag.strip("-").split("-")[-1].upper(), help=f"{what} (env {variable}; default {default})"
        )
    drift.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for a replayed job to finish (default: 120)"
    )
    drift.set_defaults(run=run_drift)


# (flag, environment variable, default, meaning): what replays authenticate with; recorded credentials are redacted
CREDENTIALS = (
    ("--ims-client-id", "DRIFT_IMS_CLIENT_ID", "mock-client-id", "IMS client id (also the Firefly x-api-key)"),
    ("--ims-client-secret", "DRIFT_IMS_CLIENT_SECRET", "mock-client-secret", "IMS client secret"),
    ("--training-api-key", "DRIFT_TRAINING_API_KEY", "mock-client-id", "the training API's x-api-key"),
    ("--scenario-api-key", "DRIFT_SCENARIO_API_KEY", "scenario-api-key", "Scenario API key"),
    ("--scenario-api-secret", "DRIFT_SCENARIO_API_SECRET", "scenario-api-secret", "Scenario API secret"),
)


def _fail(message: str) -> int:
    print(f"mockserver: {message}", file=sys.stderr, flush=True)
    return 2


def _url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    return value


def run_record(args: argparse.Namespace) -> int:
    from ..cli import _bind, _graceful_server_class, _listening
    from .exchanges import Recording
    from .proxy import Proxy
    from .routes import Routes

    upstreams: dict[str, str] = {}
    for name in UPSTREAMS:
        value = getattr(args, f"upstream_{name}")
        if value is None:
            continue
        if _url(value) is None:
            return _fail(f"--upstream-{name}: {value!r} is not an http(s) URL such as {_EXAMPLES['ims']}")
        upstreams[name] = value
    if not upstreams:
        return _fail(
            "record: give at least one --upstream-ims/--upstream-firefly/--upstream-scenario/--upstream-training"
        )
    if not 0 <= args.port <= 65535:
        return _fail(f"--port: {args.port} is out of range (0 to 65535)")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        return _fail(f"--out: {out} exists and is not an empty folder (a recording is never written over another)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _fail(f"--out: cannot create {out}: {exc.strerror or exc}")
    import uvicorn

    proxy = Proxy(upstreams, Recording(out), Routes(), args.keep_binary, tuple(args.follow_host))
    proxy.start()
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(proxy, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    _listening(host, port)
    _graceful_server_class()(config).run(sockets=[sock])
    return 0


def run_fixtures_from(args: argparse.Namespace) -> int:
    from .exchanges import RecordingError
    from .fixtures_from import write_fixtures

    try:
        written = write_fixtures(args.recording, args.out)
    except RecordingError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"--out: cannot write {args.out}: {exc.strerror or exc}")
    for line in written:
        print(line)
    return 0


def credentials(args: argparse.Namespace, env: Any = os.environ) -> dict[str, str]:
    found = {}
    for flag, variable, default, _ in CREDENTIALS:
        name = flag.strip("-").replace("-", "_")
        found[name] = getattr(args, name) or env.get(variable) or default
    return found


def run_drift(args: argparse.Namespace) -> int:
    from ..fixtures import FixtureError
    from . import report
    from .drift import replay_recording
    from .exchanges import RecordingError, load

    if args.against is not None and _url(args.against) is None:
        return _fail(f"--against: {args.against!r} is not an http(s) base URL")
    if args.against is not None and args.fixtures is not None:
        return _fail("drift: --fixtures is for the fake drift starts itself; not with --against")
    if not 0 <= args.timeout <= 86400:
        return _fail(f"--timeout: {args.timeout:g} is out of range (0 to 86400 seconds)")
    if args.fixtures is not None and not Path(args.fixtures).is_dir():
        return _fail(f"--fixtures: {args.fixtures}: no such folder")
    try:
        steps = load(args.recording)
    except RecordingError as exc:
        return _fail(str(exc))
    if not steps:
        return _fail(f"{args.recording}: the recording holds no exchanges")
    try:
        result = replay_recording(steps, args.against, args.fixtures, credentials(args), args.timeout)
    except FixtureError as exc:  # the fake drift starts for itself could not load --fixtures
        return _fail(f"bad fixtures: {exc}")
    text = report.render(result, args.format)
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _fail(f"--out: cannot write {args.out}: {exc.strerror or exc}")
        print(report.summary(result), file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if result.drifted else 0
