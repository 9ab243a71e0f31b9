"""Jobs: a kind, inputs and a timeline. Status and progress are derived from the timeline and the clock.

A job never changes by itself. It stores when it was created, its timing plan, and the events that a client or a
fault caused (a cancel, a failure point, a time-out); `phase_of` computes where it stands at any instant. That makes
a virtual clock, restarts and several workers sharing one store work without background tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELED, Phase.TIMEOUT}
ORDER = {Phase.PENDING: 0, Phase.RUNNING: 1, Phase.SUCCEEDED: 2, Phase.FAILED: 2, Phase.CANCELED: 2, Phase.TIMEOUT: 2}


@dataclass(slots=True)
class Plan:
    """How long a job waits and runs. `unit` is "seconds" (clock time) or "polls" (one step per status poll)."""

    pending: float
    running: float
    unit: str = "seconds"


@dataclass(slots=True)
class Outcome:
    """A fault's effect on a job: fail with a code at a progress point, or time out."""

    kind: str  # "fail" | "timeout"
    error_code: str = "runtime_error"
    message: str = "Internal server error."
    at_progress: float = 0.5


@dataclass(slots=True)
class Job:
    id: str
    tenant: str
    kind: str
    created_at: float
    plan: Plan
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    outcome: Outcome | None = None
    canceled_at: float | None = None
    polls: int = 0
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def elapsed(self, now: float) -> float:
        return float(self.polls) if self.plan.unit == "polls" else now - self.created_at

    def cancel_mark(self, now: float) -> float:
        return float(self.polls) if self.plan.unit == "polls" else now


@dataclass(frozen=True)
class State:
    phase: Phase
    progress: float  # 0..1
    since: float  # elapsed time (in the plan's unit) at which this phase began


def phase_of(job: Job, now: float) -> State:
    """Where the job stands `now`. Pure: same job and instant, same answer."""
    plan = job.plan
    t = job.elapsed(now)
    start, end = plan.pending, plan.pending + plan.running
    ending = Phase.SUCCEEDED
    if job.outcome is not None:
        if job.outcome.kind == "fail":
            end = start + plan.running * min(max(job.outcome.at_progress, 0.0), 1.0)
            ending = Phase.FAILED
        else:
            ending = Phase.TIMEOUT
    if job.canceled_at is not None:
        cancel_t = job.canceled_at - (0.0 if plan.unit == "polls" else job.created_at)
        if t >= cancel_t and cancel_t < end:
            return State(Phase.CANCELED, _progress(cancel_t, start, plan.running), cancel_t)
    if t >= end:
        progress = 1.0 if ending is Phase.SUCCEEDED else _progress(end, start, plan.running)
        return State(ending, progress, end)
    if t >= start:
        return State(Phase.RUNNING, _progress(t, start, plan.running), start)
    return State(Phase.PENDING, 0.0, 0.0)


def finished(job: Job, now: float) -> bool:
    """`phase_of(job, now).phase.terminal`, without building the state for the usual job (neither cancelled nor
    faulted): eviction asks it of every job it looks at."""
    if job.outcome is None and job.canceled_at is None:
        plan = job.plan
        return job.elapsed(now) >= plan.pending + plan.running
    return phase_of(job, now).phase.terminal


def _progress(t: float, start: float, running: float) -> float:
    if running <= 0:
        return 1.0 if t >= start else 0.0
    return min(max((t - start) / running, 0.0), 1.0)


def history(job: Job, now: float) -> list[tuple[Phase, float]]:
    """Every phase the job has passed through up to `now`, each with the clock instant it began. A polls plan has
    no clock instants, so its steps all carry the creation instant."""
    current = phase_of(job, now)
    steps = [(Phase.PENDING, 0.0)]
    if current.phase is Phase.RUNNING or (current.phase.terminal and current.since >= job.plan.pending):
        steps.append((Phase.RUNNING, job.plan.pending))
    if current.phase.terminal:
        steps.append((current.phase, current.since))
    scale = 1.0 if job.plan.unit == "seconds" else 0.0
    return [(phase, job.created_at + since * scale) for phase, since in steps]


# Eviction past max_jobs: an add that takes a kind past its limit drops the kind's oldest finished jobs down to
# a little below it (EVICT_BATCH below a large limit, a sixteenth of a small one), looking at that many of the
# oldest and EVICT_LOOK more, so the next adds drop nothing: one add in EVICT_BATCH + 1 does the dropping for all
# of them (a durable store's query for the oldest and its decoding of them: once a batch, not on every add).
EVICT_LOOK = 4
EVICT_BATCH = 16

# Which jobs of a kind eviction must keep, whatever their age (given all of that kind and the current instant).
Keep = Callable[[list[Job], float], set[str]]


class Jobs:
    """Create, find, poll and cancel jobs. Every decision reads the clock once and is recorded as an event."""

    def __init__(
        self,
        store: Any,
        clock: Any,
        limit: int = 0,
        forget: Callable[[str], None] | None = None,
        keep: dict[str, Keep] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.limit = limit
        self.forget = forget
        self.keep = {self.store_kind(kind): rule for kind, rule in (keep or {}).items()}

    @staticmethod
    def store_kind(kind: str) -> str:
        """Each job kind is its own store table, so listing one kind never walks through the others."""
        return f"job:{kind}"

    def _save(self, job: Job) -> None:
        self.store.put(self.store_kind(job.kind), job.id, job, job.tenant)

    def add(self, job: Job) -> Job:
        kind = self.store_kind(job.kind)
        self.store.put(kind, job.id, job, job.tenant)
        if self.limit:
            count = self.store.count(kind)
            if count > self.limit:
                self._evict(kind, count)
        return job

    def _evict(self, kind: str, count: int) -> None:
        """Keep a kind at most at its limit, so memory stays flat under a long soak: drop its oldest finished jobs
        (and their output assets) down to a little below the limit, looking at that many of the oldest jobs plus
        EVICT_LOOK (both stores keep insertion order), so an add costs the same at ten jobs as at ten thousand
        and no request stalls on a thousand deletes. When none of those can go (unfinished, or kept by the kind's
        rule, which needs every job of the kind) or more than twice the limit are kept, `_sweep` decides over all
        of them."""
        if kind not in self.keep and count <= 2 * self.limit:
            now = self.clock.now()
            # past the limit (by at most a batch: a kind far over it, after an import, works its way down), then
            # a batch's room below it
            excess = min(count - self.limit, EVICT_BATCH) + min(EVICT_BATCH, self.limit // 16)
            dropped = 0
            for job in self.store.oldest(kind, excess + EVICT_LOOK):
                if finished(job, now):
                    self._drop(kind, job)
                    dropped += 1
                    if dropped == excess:
                        break
            if dropped:
                return
        self._sweep(kind)

    def _sweep(self, kind: str) -> None:
        """Drop the oldest finished jobs down to 90% of the limit (so the next sweep is a tenth of the limit away).
        Unfinished jobs are dropped only when more than twice the limit are left (a polls-plan job nobody polls
        never finishes): then the oldest go, down to the limit."""
        now = self.clock.now()
        jobs = self.store.items(kind)
        rule = self.keep.get(kind)
        keep = rule(jobs, now) if rule is not None else set()
        excess = len(jobs) - int(self.limit * 0.9)
        left = []
        for job in jobs:
            if excess > 0 and job.id not in keep and finished(job, now):
                self._drop(kind, job)
                excess -= 1
            else:
                left.append(job)
        if len(left) > 2 * self.limit:
            excess = len(left) - self.limit
            for job in left:
                if excess <= 0:
                    break
                if job.id not in keep:
                    self._drop(kind, job)
                    excess -= 1

    def _drop(self, kind: str, job: Job) -> None:
        """Evict a job and its output assets: with the store's `discard` (the job was due to go, whatever the
        transaction around the add that evicts it does)."""
        for output in job.outputs:
            if self.forget is not None and "asset" in output:
                self.forget(output["asset"])
        self.store.discard(kind, job.id)

    def get(self, tenant: str, job_id: str, kind: str | tuple[str, ...]) -> Job | None:
        """The tenant's job with this id, of this kind or of any of these kinds (a surface whose operations share
        one status route names them all)."""
        for each in (kind,) if isinstance(kind, str) else kind:
            job: Job | None = self.store.get(self.store_kind(each), job_id)
            if job is not None:
                return None if job.deleted or job.tenant != tenant else job
        return None

    def list(self, tenant: str, kind: str, include_deleted: bool = False) -> list[Job]:
        found = self.store.items(self.store_kind(kind), tenant)
        return found if include_deleted else [j for j in found if not j.deleted]

    def _fresh(self, job: Job) -> Job:
        """Re-read inside a transaction, so a shared store's other writers cannot slip in between."""
        if not self.store.shared:
            return job
        fresh = self.store.get(self.store_kind(job.kind), job.id)
        return fresh if fresh is not None else job

    def observe(self, job: Job) -> State:
        """A status read. Under a polls plan each read moves the job one step, so the read is also a write."""
        if job.plan.unit == "polls" and not phase_of(job, 0.0).phase.terminal:
            with self.store.transaction():
                job = self._fresh(job)
                if not phase_of(job, 0.0).phase.terminal:
                    job.polls += 1
                    self._save(job)
        return phase_of(job, self.clock.now())

    def cancel(self, job: Job) -> Phase | None:
        """Cancel if still pending or running; otherwise return the terminal phase that won instead."""
        with self.store.transaction():
            job = self._fresh(job)
            now = self.clock.now()
            state = phase_of(job, now)
            if state.phase.terminal:
                return state.phase
            job.canceled_at = job.cancel_mark(now)
            self._save(job)
        return None

    def delete(self, job: Job) -> None:
        job.deleted = True
        self._save(job)
