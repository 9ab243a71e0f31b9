"""A light HTTP/1.1 load generator: asyncio protocols over raw keep-alive sockets.

Each connection has at most one request in flight (no pipelining). Requests are pre-built bytes; responses are
parsed just enough to find the status line and the end of a Content-Length body, so the client costs a few
microseconds per request and leaves the server's core to the server.

Two modes:
- duration: keep every connection busy for `warmup + duration` seconds; requests sent during the warm-up are not
  counted; the throughput is the responses completed in the measured window divided by its length, and latencies
  are those of requests sent and completed inside it;
- count: send every request of the list once (spread over the connections) and keep each response's status and,
  optionally, its body, by request index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


def request_bytes(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None, host: str = "127.0.0.1"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def retarget(raw: bytes, path: str) -> bytes:
    """The same request (method, headers, body) sent to another path."""
    line, rest = raw.split(b"\r\n", 1)
    method, _, version = line.split(b" ", 2)
    return b" ".join((method, path.encode("latin-1"), version)) + b"\r\n" + rest


@dataclass
class Result:
    completed: int = 0  # responses completed inside the measured window (duration mode) or in all (count mode)
    elapsed: float = 0.0  # length of the measured window, seconds
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection failures (a non-2xx status is counted in `statuses`, not here)
    bodies: dict[int, bytes] = field(default_factory=dict)  # count mode with keep_bodies: request index -> body
    status_by_index: dict[int, int] = field(default_factory=dict)
    bytes_received: int = 0

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[k]

    def merge(self, other: Result) -> Result:
        """Pool another window of the same measurement into this one."""
        self.completed += other.completed
        self.elapsed += other.elapsed
        self.latencies += other.latencies
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.errors += other.errors
        self.bytes_received += other.bytes_received
        return self

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300)


class _Run:
    def __init__(self, requests: Sequence[bytes], count_mode: bool, keep_bodies: bool) -> None:
        self.requests = requests
        self.count_mode = count_mode
        self.keep_bodies = keep_bodies
        self.next = 0
        self.result = Result()
        self.t_start = self.t_end = 0.0
        self.stop_at = float("inf")
        self.open = 0
        self.done: asyncio.Future[None] | None = None

    def take(self) -> int | None:
        """The index of the next request to send, or None when the run is over."""
        if self.count_mode:
            if self.next >= len(self.requests):
                return None
        elif time.perf_counter() >= self.stop_at:
            return None
        index = self.next
        self.next += 1
        return index

    def finished(self, conn: _Conn) -> None:
        self.open -= 1
        conn.transport.close()
        if self.open == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


class _Conn(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.buf = bytearray()
        self.need = -1  # total bytes of the response being read (head + body), -1 while the head is incomplete
        self.status = 0
        self.index = -1
        self.sent_at = 0.0
        self.active = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send_next(self) -> None:
        index = self.run.take()
        if index is None:
            self.active = False
            self.run.finished(self)
            return
        self.index = index
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.requests[index % len(self.run.requests)])

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    self._fail()
                    return
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
                self.need = end + 4 + length
                self.body_at = end + 4
            if len(buf) < self.need:
                return
            self._complete(bytes(buf[self.body_at : self.need]) if self.run.keep_bodies else b"")
            del buf[: self.need]
            self.need = -1
            if not self.active:
                return

    def _complete(self, body: bytes) -> None:
        now = time.perf_counter()
        run, result = self.run, self.run.result
        result.statuses[self.status] = result.statuses.get(self.status, 0) + 1
        if run.count_mode:
            result.completed += 1
            result.bytes_received += self.need
            result.latencies.append(now - self.sent_at)
            result.status_by_index[self.index] = self.status
            if run.keep_bodies:
                result.bodies[self.index] = body
        elif run.t_start <= now <= run.t_end:
            result.completed += 1
            result.bytes_received += self.need
            if self.sent_at >= run.t_start:
                result.latencies.append(now - self.sent_at)
        self.send_next()

    def _fail(self) -> None:
        if self.active:
            self.active = False
            self.run.result.errors += 1
            self.run.finished(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail()


async def _drive(
    host: str,
    port: int,
    requests: Sequence[bytes],
    concurrency: int,
    duration: float,
    warmup: float,
    count_mode: bool,
    keep_bodies: bool,
) -> Result:
    loop = asyncio.get_running_loop()
    run = _Run(requests, count_mode, keep_bodies)
    run.done = loop.create_future()
    conns: list[_Conn] = []
    for _ in range(concurrency):
        _, conn = await loop.create_connection(lambda: _Conn(run), host, port)
        conns.append(conn)
    run.open = len(conns)
    began = time.perf_counter()
    run.t_start = began + (0.0 if count_mode else warmup)
    run.t_end = run.t_start + duration
    run.stop_at = run.t_end
    for conn in conns:
        conn.send_next()
    await run.done
    if count_mode:
        run.result.elapsed = time.perf_counter() - began
    else:
        run.result.elapsed = duration
    return run.result


def load(
    host: str, port: int, requests: Sequence[bytes], concurrency: int, duration: float = 2.0, warmup: float = 0.5
) -> Result:
    """Keep `concurrency` connections busy for `warmup + duration` seconds, cycling through `requests`."""
    return asyncio.run(_drive(host, port, requests, concurrency, duration, warmup, False, False))


def each(host: str, port: int, requests: Sequence[bytes], concurrency: int, keep_bodies: bool = False) -> Result:
    """Send every request once over `concurrency` connections; statuses (and bodies) by request index."""
    concurrency = max(1, min(concurrency, len(requests)))
    return asyncio.run(_drive(host, port, requests, concurrency, 0.0, 0.0, True, keep_bodies))
