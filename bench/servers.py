"""Start the fake (or the bare app) as a subprocess on 127.0.0.1, time it to ready, read its memory, stop it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process. `startup` is the time from spawning it to the first `GET /ready` answered 200."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, name: str = "server", cpus: set[int] | None = None
    ) -> None:
        self.name = name
        self.port = free_port()
        self.host = "127.0.0.1"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MOCKSERVER_")}
        full_env.update(env or {})
        command = [sys.executable, *args, "--host", self.host, "--port", str(self.port)]
        began = time.perf_counter()
        # stderr goes to a file, not a pipe: with the access log on, a full pipe would stall the server
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(command, env=full_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log)
        if cpus:
            os.sched_setaffinity(self.proc.pid, cpus)
        self.startup = self._wait_ready(began)

    def _wait_ready(self, began: float, timeout: float = 30.0) -> float:
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.log.read().decode(errors='replace')}")
            try:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=1)
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    conn.close()
                    return time.perf_counter() - began
                conn.close()
            except OSError:
                pass
            if time.perf_counter() - began > timeout:
                self.stop()
                raise RuntimeError(f"{self.name} was not ready within {timeout} s")
            time.sleep(0.002)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


# On a machine with two or more CPUs the servers run on CPU 0 and the load generator on CPU 1 (see `pin`), so
# neither steals the other's core and the scheduler does not move them about: the figures get much steadier.
SERVER_CPUS: set[int] | None = None


def pin(enabled: bool = True) -> None:
    """Put this process (the load generator) on CPU 1 and every server started afterwards on CPU 0."""
    global SERVER_CPUS
    if enabled and len(os.sched_getaffinity(0)) >= 2:
        available = sorted(os.sched_getaffinity(0))
        SERVER_CPUS = {available[0]}
        os.sched_setaffinity(0, {available[1]})
    else:
        SERVER_CPUS = None


def mockserver(*flags: str, env: dict[str, str] | None = None, name: str = "mockserver") -> Server:
    """`python -m mockserver serve FLAGS --host 127.0.0.1 --port P`."""
    return Server(["-m", "mockserver", "serve", *flags], env=env, name=name, cpus=SERVER_CPUS)


def bare_app(*flags: str) -> Server:
    return Server(["-m", "bench.bare_app", *flags], name="bare app", cpus=SERVER_CPUS)


def raw_app(*flags: str) -> Server:
    """The raw ASGI app (no framework): the second ceiling."""
    return Server(["-m", "bench.raw_app", *flags], name="raw ASGI app", cpus=SERVER_CPUS)


def floor_app(*flags: str) -> Server:
    """The generate's floor: a raw ASGI app doing only what any fake must do to accept a generate."""
    return Server(["-m", "bench.floor_app", *flags], name="generate floor app", cpus=SERVER_CPUS)
