"""Hardening: 200 clients creating, polling and cancelling Firefly jobs at the same time over real sockets.

The clock is frozen and moved by the test (profile "fast": 0.2 s pending, 0.6 s running), so no job is waited for
in real time. Every round, all 200 clients act at once (each creates its job, polls it, or cancels it) while the
clock moves on concurrently. The test then checks that nothing answered 5xx, no job was lost or duplicated, every
job's observed history only moved forward and ended in one final state, and cancels agree with what was seen.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mockserver.testing import MockServer, run_server

CLIENTS = 200
TICK = 0.1  # fake seconds the clock moves each round
MAX_ROUNDS = 40
TENANTS = [
    ("mock-client-id", "mock-client-secret"),
    ("other-client-id", "other-client-secret"),
    ("load-tenant-a", "secret-a"),
    ("load-tenant-b", "secret-b"),
]  # the last two: open-mode tenants
ORDER = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2, "canceled": 2, "timeout": 2}
TERMINAL = {"succeeded", "failed", "canceled", "timeout"}
EXTRA_POLLS = 3  # polls after the first terminal status, to see that it stays final

# What each client does with its job, by index modulo 4.
NEVER, WHILE_PENDING, WHILE_RUNNING, AFTER_DONE = range(4)


@dataclass
class Client:
    index: int
    tenant: str
    headers: dict[str, str]
    job_id: str | None = None
    status_url: str | None = None
    cancel_url: str | None = None
    seen: list[tuple[str, float]] = field(default_factory=list)  # (status, progress) in the order observed
    cancel_answer: tuple[int, Any] | None = None
    probed_other: bool = False
    done: bool = False

    @property
    def plan(self) -> int:
        return self.index % 4

    @property
    def start_round(self) -> int:
        return self.index % 5  # creations are spread over the first rounds, mixed with polls and cancels


@dataclass
class Log:
    statuses: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    accepted: list[tuple[str, str]] = field(default_factory=list)  # (tenant, jobId)


@pytest.fixture(scope="module")
def mock() -> MockServer:
    with run_server(profile="fast", seed=11) as handle:
        yield handle


async def _call(http: httpx.AsyncClient, log: Log, method: str, url: str, **kwargs: Any) -> httpx.Response:
    response = await http.request(method, url, **kwargs)
    log.statuses.append((method, httpx.URL(url).path, response.status_code))
    return response


async def _step(http: httpx.AsyncClient, log: Log, client: Client, round_no: int, everyone: list[Client]) -> None:
    """One action of one client in one round: create, or poll (and cancel when its plan says so)."""
    if client.done or round_no < client.start_round:
        return
    if client.job_id is None:
        r = await _call(
            http,
            log,
            "POST",
            "/v3/images/generate-async",
            headers=client.headers,
            json={
                "prompt": f"load test {client.index}",
                "numVariations": 1 + client.index % 2,
                "size": {"width": 1344, "height": 768},
            },
        )
        assert r.status_code == 202, r.text
        body = r.json()
        client.job_id, client.status_url, client.cancel_url = body["jobId"], body["statusUrl"], body["cancelUrl"]
        log.accepted.append((client.tenant, client.job_id))
        if client.plan == WHILE_PENDING:
            await _cancel(http, log, client)
        return
    r = await _call(http, log, "GET", client.status_url, headers=client.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["jobId"] == client.job_id
    client.seen.append((body["status"], body["progress"]))
    if body["status"] == "succeeded":
        assert len(body["result"]["outputs"]) == 1 + client.index % 2
    if client.plan == WHILE_RUNNING and body["status"] == "running" and client.cancel_answer is None:
        await _cancel(http, log, client)
    if client.plan == AFTER_DONE and body["status"] in TERMINAL and client.cancel_answer is None:
        await _cancel(http, log, client)
    if client.plan == NEVER and not client.probed_other:
        await _probe_other_tenant(http, log, client, everyone)
    if sum(status in TERMINAL for status, _ in client.seen) > EXTRA_POLLS:
        client.done = True


async def _cancel(http: httpx.AsyncClient, log: Log, client: Client) -> None:
    r = await _call(http, log, "PUT", client.cancel_url, headers=client.headers)
    client.cancel_answer = (r.status_code, r.json())


async def _probe_other_tenant(http: httpx.AsyncClient, log: Log, client: Client, everyone: list[Client]) -> None:
    """Under load too, another tenant's job is unknown to this client."""
    other = next((c for c in everyone if c.tenant != client.tenant and c.job_id), None)
    if other is None:
        return
    client.probed_other = True
    r = await _call(http, log, "GET", f"/v3/status/{other.job_id}", headers=client.headers)
    assert r.status_code == 404 and r.json()["error_code"] == "unknown_job_id"
    r = await _call(http, log, "PUT", f"/v3/cancel/{other.job_id}", headers=client.headers)
    assert r.status_code == 404 and r.json()["error_code"] == "unknown_job_id"


async def _run(mock: MockServer, clients: list[Client], log: Log) -> int:
    # idle connections are dropped by the client long before the server's keep-alive can close them under it
    limits = httpx.Limits(max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=mock.base_url, limits=limits, timeout=30) as http:
        for round_no in range(MAX_ROUNDS):
            if all(c.done for c in clients):
                return round_no
            await asyncio.gather(
                *(_step(http, log, c, round_no, clients) for c in clients), asyncio.to_thread(mock.clock.advance, TICK)
            )
    return MAX_ROUNDS


def test_200_clients_create_poll_and_cancel_at_once(mock: MockServer) -> None:
    mock.reset()
    mock.clock.freeze()
    clients = []
    for i in range(CLIENTS):
        client_id, secret = TENANTS[i % len(TENANTS)]
        tenant = mock.app.state.ctx.world.tenants.tenant_of(client_id)
        clients.append(Client(i, tenant, mock.headers(client_id, secret)))
    log = Log()
    rounds = asyncio.run(_run(mock, clients, log))
    assert rounds < MAX_ROUNDS, "some jobs never reached a final state"

    # no server errors at all
    failures = [s for s in log.statuses if s[2] >= 500]
    assert not failures, failures[:10]

    # no lost or duplicated job: every accepted id is unique, and each tenant's store holds exactly its own
    ids = [job for _, job in log.accepted]
    assert len(ids) == CLIENTS and len(set(ids)) == CLIENTS
    world = mock.app.state.ctx.world
    for tenant in {c.tenant for c in clients}:
        stored = {job.id for job in world.jobs.list(tenant, "firefly.generate")}
        assert stored == {job for owner, job in log.accepted if owner == tenant}

    for client in clients:
        statuses = [status for status, _ in client.seen]
        ranks = [ORDER[s] for s in statuses]
        progress = [p for _, p in client.seen]
        # forward only: pending -> running -> one terminal status, which then never changes
        assert ranks == sorted(ranks), (client.index, statuses)
        assert progress == sorted(progress), (client.index, progress)
        final = [s for s in statuses if s in TERMINAL]
        assert len(final) > EXTRA_POLLS and len(set(final)) == 1, (client.index, statuses)
        outcome = final[0]
        # cancels agree with what the client saw before and after
        if client.plan in (WHILE_PENDING, WHILE_RUNNING):
            assert client.cancel_answer == (200, {}), (client.index, client.cancel_answer)
            assert outcome == "canceled", (client.index, statuses)
        elif client.plan == AFTER_DONE:
            assert outcome == "succeeded"
            assert client.cancel_answer == (
                409,
                {"error_code": "job_completed", "message": "The job was already completed."},
            )
        else:
            assert outcome == "succeeded" and client.cancel_answer is None
            assert "running" in statuses, statuses  # a clock moved in 0.1 s steps shows the running phase
    assert any(c.probed_other for c in clients)
    mock.clock.resume()
