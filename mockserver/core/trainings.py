"""Trainings: jobs of kind `training` that carry a typed record (which model, which trigger word, which run).

A model's training state and trigger word are derived from its trainings, never stored, so every surface that
shows a model (the training API, Firefly's listing) agrees. The state is a core enum: surfaces map it to their
own wire words.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .jobs import Job, Phase, phase_of

KIND = "training"


class TrainingState(enum.Enum):
    """Where a model stands: never trained, or the state its trainings decide."""

    NONE = "none"
    QUEUED = "queued"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"


_FROM_PHASE = {
    Phase.PENDING: TrainingState.QUEUED,
    Phase.RUNNING: TrainingState.TRAINING,
    Phase.SUCCEEDED: TrainingState.READY,
    Phase.FAILED: TrainingState.FAILED,
    Phase.TIMEOUT: TrainingState.FAILED,
    Phase.CANCELED: TrainingState.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class TrainingRecord:
    """What the core needs to know of a training job. `seq` numbers a model's trainings, so trainings started at
    the same instant (a frozen clock) still have a definite newest one. Stored in `Job.extra` under these names
    (the store's and the state export's layout), read and written only here."""

    model_id: str
    trigger_word: str
    seq: int

    @classmethod
    def of(cls, job: Job) -> TrainingRecord:
        extra = job.extra
        return cls(extra.get("model_id", ""), extra.get("trigger_word", ""), extra.get("seq", 0))

    def fields(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "trigger_word": self.trigger_word, "seq": self.seq}


def order(job: Job) -> tuple[float, int, str]:
    """Oldest to newest."""
    return (job.created_at, TrainingRecord.of(job).seq, job.id)


def of_model(trainings: list[Job], model_id: str) -> list[Job]:
    return [job for job in trainings if TrainingRecord.of(job).model_id == model_id]


def state(trainings: list[Job], now: float) -> TrainingState:
    """A model's state from its trainings: ready once any succeeded, else the state of the newest one, or NONE
    when it was never trained."""
    if not trainings:
        return TrainingState.NONE
    phases = [(order(job), phase_of(job, now).phase) for job in trainings]
    if any(phase is Phase.SUCCEEDED for _, phase in phases):
        return TrainingState.READY
    return _FROM_PHASE[max(phases)[1]]


def trigger_word(trainings: list[Job], now: float) -> str | None:
    """The trigger word of the newest succeeded training, if any."""
    done = [job for job in trainings if phase_of(job, now).phase is Phase.SUCCEEDED]
    return TrainingRecord.of(max(done, key=order)).trigger_word if done else None


def decisive(trainings: list[Job], now: float, live_model: Callable[[str], bool]) -> set[str]:
    """The trainings eviction must keep: those that decide a live model's state (its newest, and its newest
    succeeded)."""
    newest: dict[str, Job] = {}
    succeeded: dict[str, Job] = {}
    live: dict[str, bool] = {}
    for job in trainings:
        model_id = TrainingRecord.of(job).model_id
        if model_id not in live:
            live[model_id] = live_model(model_id)
        if job.deleted or not live[model_id]:
            continue
        rank = order(job)
        if model_id not in newest or rank > order(newest[model_id]):
            newest[model_id] = job
        if phase_of(job, now).phase is Phase.SUCCEEDED and (
            model_id not in succeeded or rank > order(succeeded[model_id])
        ):
            succeeded[model_id] = job
    return {j.id for j in (*newest.values(), *succeeded.values())}
