"""A Python handle on a running fake: start it in a thread, steer its clock and faults, read its journal.

Used by the pytest plugin, by this project's tests, and by anyone who wants the fake without pytest.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from .app import create_app
from .cli import KEEP_ALIVE_SECONDS
from .settings import Settings, SettingsError

_LIMITS = httpx.Limits(keepalive_expiry=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(base_url: str, process: Any = None, timeout: float = 20) -> None:
    """Poll `GET /ready` until it answers 200 (for a server started as a subprocess, e.g. `mockserver serve`);
    raise if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"mockserver at {base_url} did not become ready")
        time.sleep(0.02)


def stop_process(process: Any, timeout: float = 10) -> None:
    """SIGTERM a server started as a subprocess, and kill it if it has not exited within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except Exception:  # subprocess.TimeoutExpired
            process.kill()
            process.wait()


class _Admin:
    def __init__(self, http: httpx.Client, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/__admin{path}", headers=self.headers, **kwargs)
        if response.is_error:  # the same exception as raise_for_status(), with the fake's own explanation in it
            raise httpx.HTTPStatusError(
                f"{method} /__admin{path} answered {response.status_code}: {response.text[:500]}",
                request=response.request,
                response=response,
            )
        return response.json() if response.content else None


class Clock:
    def __init__(self, admin: _Admin) -> None:
        self._admin = admin

    def now(self) -> float:
        return self._admin.call("GET", "/clock")["now"]

    def freeze(self) -> dict[str, Any]:
        return self._admin.call("POST", "/clock/freeze")

    def resume(self) -> dict[str, Any]:
        return self._admin.call("POST", "/clock/resume")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._admin.call("POST", "/clock/advance", json={"seconds": seconds})


class Faults:
    def __init__(self, admin: _Admin) -> None:
        self._admin = admin

    def add(self, **rule: Any) -> dict[str, Any]:
        """Add a rule, e.g. `add(path="/v3/images/generate-async", status=429, times=1)`; see docs/control-api.md."""
        return self._admin.call("POST", "/faults", json=rule)

    def list(self) -> list[dict[str, Any]]:
        return self._admin.call("GET", "/faults")["faults"]

    def clear(self) -> None:
        self._admin.call("DELETE", "/faults")


class MockServer:
    """A running fake: its base URL, working credentials, and the control API as methods."""

    client_id = "mock-client-id"
    client_secret = "mock-client-secret"

    def __init__(
        self, base_url: str, admin_token: str | None = None, http: httpx.Client | None = None, seed: int | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = f"{self.base_url}/ims/token/v3"
        # Idle connections are dropped by the client long before the server's keep-alive ends, so a request
        # never goes out on a connection the server is closing (an httpx.ReadError under load).
        self.http = http or httpx.Client(base_url=self.base_url, timeout=30, limits=_LIMITS)
        self.default_seed = seed
        self.access_token: str | None = None
        admin_headers = {"authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._admin = _Admin(self.http, admin_headers)
        self.clock = Clock(self._admin)
        self.faults = Faults(self._admin)

    def token(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        response = self.http.post(
            "/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id or self.client_id,
                "client_secret": client_secret or self.client_secret,
                "scope": "openid,AdobeID,firefly_api",
            },
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def headers(self, client_id: str | None = None, client_secret: str | None = None) -> dict[str, str]:
        """Ready-to-use Firefly headers (x-api-key and a fresh bearer token)."""
        client_id = client_id or self.client_id
        return {"x-api-key": client_id, "authorization": f"Bearer {self.token(client_id, client_secret)}"}

    def upload(
        self,
        data: bytes,
        content_type: str = "image/png",
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> str:
        """Store an image with Firefly's `POST /v2/storage/image` and return its uploadId (for `source.uploadId`)."""
        headers = {**self.headers(client_id, client_secret), "content-type": content_type}
        response = self.http.post("/v2/storage/image", headers=headers, content=data)
        response.raise_for_status()
        upload_id: str = response.json()["images"][0]["id"]
        return upload_id

    def reset(self, tenant: str | None = None, seed: int | None = None) -> None:
        """Forget state and reload fixtures. A full reset also returns to the server's own seed unless `seed` is
        given, so one test's seed never leaks into the next."""
        if tenant:
            self._admin.call("POST", "/reset", params={"tenant": tenant})
            return
        self._admin.call("POST", "/reset", json={"seed": seed if seed is not None else self.default_seed})

    def profile(self, name: str | None = None) -> str:
        if name is not None:
            return self._admin.call("PUT", "/profile", json={"name": name})["name"]
        return self._admin.call("GET", "/profile")["name"]

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        return self._admin.call("GET", "/requests", params=filters)["requests"]

    def count(self, **filters: Any) -> int:
        return self._admin.call("GET", "/requests/count", params=filters)["count"]

    def clear_requests(self) -> None:
        self._admin.call("DELETE", "/requests")

    def export_state(self) -> dict[str, Any]:
        return self._admin.call("GET", "/state")

    def import_state(self, state: dict[str, Any]) -> None:
        self._admin.call("PUT", "/state", json=state)

    def close(self) -> None:
        self.http.close()


class _InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport into the ASGI app: httpx's own ASGITransport, driven on an event loop in a
    helper thread (an anyio blocking portal), so plain `httpx.Client` code works without a socket."""

    def __init__(self, app: Any, portal: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def roundtrip() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self.inner.handle_async_request(request)
            body = await response.aread()
            return response.status_code, response.headers.raw, body

        request.read()
        status, headers, body = self.portal.call(roundtrip)
        return httpx.Response(status, headers=headers, content=body, request=request)


@contextmanager
def in_process(settings: Settings | None = None, **overrides: Any) -> Iterator[MockServer]:
    """The same handle without a socket: requests go straight into the app through an in-process transport,
    for unit tests that want no server. The app's lifespan runs as it would under a server."""
    from anyio.from_thread import start_blocking_portal

    settings = settings or Settings.from_env(env={}, **overrides)
    app = create_app(settings)
    starlette_app: Any = app.app
    with contextlib.ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal())
        stack.enter_context(portal.wrap_async_context_manager(starlette_app.router.lifespan_context(starlette_app)))
        client = stack.enter_context(
            httpx.Client(transport=_InProcessTransport(app, portal), base_url="http://testserver")
        )
        handle = MockServer("http://testserver", settings.admin_token, http=client, seed=settings.seed)
        handle.app = app  # type: ignore[attr-defined]
        yield handle


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # a thread cannot own signals
        pass


@contextmanager
def run_server(settings: Settings | None = None, **overrides: Any) -> Iterator[MockServer]:
    """Serve the fake on 127.0.0.1 in a background thread; stop it on exit. The socket is bound here, on port 0
    unless a port is given, so two servers started at once can never race for the same port."""
    given = {k: v for k, v in overrides.items() if v is not None}  # None means "not given", as in from_env
    settings = settings or Settings.from_env(env={}, **{"port": 0, "host": "127.0.0.1", "access_log": False, **given})
    if settings.workers != 1:
        raise SettingsError("setting 'workers': run_server serves from one thread; use `mockserver serve --workers`")
    app = create_app(settings)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS
    )
    server = _Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True, name="mockserver")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("mockserver did not start")
        time.sleep(0.005)
    handle = MockServer(f"http://{settings.host}:{port}", settings.admin_token, seed=settings.seed)
    handle.app = app  # type: ignore[attr-defined]
    try:
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serve_process(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 20, inherit_env: bool = True
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run `mockserver serve` (or any command line that ends in it) as a subprocess and wait until it is ready.

    Unless the arguments name a port, it listens on port 0 and the base URL is read from its "listening on" line,
    so parallel tests never race for a port. Its stderr is drained into `process.stderr_lines` (a list), so a
    chatty server never blocks on a full pipe (join `process.stderr_reader` to have all of it after exit).
    `env` adds to this process's environment, or replaces it with `inherit_env=False`. The process is stopped
    (SIGTERM, then SIGKILL) on exit."""
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    if "--port" not in args and "MOCKSERVER_PORT" not in (env or {}):
        args = [*args, "--port", "0"]
    process = subprocess.Popen(args, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    process.stderr_lines = lines  # type: ignore[attr-defined]
    found = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "listening on" in line:
                found.set()
        found.set()

    reader = threading.Thread(target=drain, daemon=True, name="mockserver-stderr")
    reader.start()
    process.stderr_reader = reader  # type: ignore[attr-defined]
    try:
        if not found.wait(timeout) or not any("listening on" in line for line in lines):
            raise RuntimeError(f"mockserver did not start: {''.join(lines)[-2000:]}")
        base = next(line for line in lines if "listening on" in line).split("listening on", 1)[1].strip()
        wait_until_ready(base, process, timeout)
        yield process, base
    finally:
        stop_process(process)
        reader.join(timeout=5)  # it ends at end of file, once the process is gone
        if process.stderr is not None:
            process.stderr.close()


# --- a throwaway PostgreSQL server, for tests and benchmarks of `--database-url` ----------------------------


def postgres_bin() -> Path | None:
    """The folder of a local PostgreSQL's `initdb` and `pg_ctl` (Debian's packages, or on PATH), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextmanager
def throwaway_postgres(durable: bool = False) -> Iterator[str]:
    """Start a PostgreSQL server of its own (initdb in a temporary folder, listening on 127.0.0.1 on a free port,
    trust authentication) and yield its URL (`postgresql://postgres@127.0.0.1:PORT/postgres`); it is stopped and
    its folder deleted on exit. Run as root, the server runs as the user `postgres` (it refuses root). Unless
    `durable`, it does not wait for the disk (fsync off): the data is thrown away anyway."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb): apt-get install postgresql")
    folder = tempfile.mkdtemp(prefix="mockserver-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(folder, "data")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    try:
        initdb = [str(bin_dir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        done = subprocess.run([*as_user, *initdb], **quiet)  # type: ignore[call-overload]
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=300"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "-t", "60"]
        done = subprocess.run([*ctl, "-o", options, "start"], **quiet)  # type: ignore[call-overload]
        if done.returncode != 0:
            log = Path(folder, "log").read_text(errors="replace") if Path(folder, "log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr[-1000:]} {log[-2000:]}")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*ctl, "-m", "immediate", "stop"], **quiet)  # type: ignore[call-overload]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
