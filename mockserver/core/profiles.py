"""Timing profiles: how long a job of each kind waits and runs. Chosen by settings, the control API or per request."""

from __future__ import annotations

from collections.abc import Mapping

from .ids import Ids
from .jobs import Plan

PROFILES = ("instant", "fast", "realistic", "polls")

# (pending, running) seconds for the "fast" and "realistic" profiles; polls counts steps instead. Realistic
# trainings take what seed 001 says a training takes, "20–30 minutes or more": a fast training 20–30 minutes in
# all (jittered within that range), a high-quality one longer.
_SECONDS = {
    "fast": {"generate": (0.2, 0.6), "training": (0.3, 1.2), "training_hq": (0.5, 2.5)},
    "realistic": {
        "generate": (2.0, 8.0),
        "video": (5.0, 90.0),
        "training": (60.0, 1440.0),
        "training_hq": (60.0, 2400.0),
    },
}
# How far a realistic plan may stray from the figures above: a quarter for generation, less for a training so
# that it stays within 20–30 minutes (60 s ± 25% queued, 1,440 s ± 16% training: 20.9–29.1 minutes).
_JITTER = {"generate": (0.25, 0.25), "video": (0.25, 0.25), "training": (0.25, 0.16), "training_hq": (0.25, 0.25)}
_POLLS: dict[str, tuple[float, float]] = {"generate": (1, 1), "training": (1, 2), "training_hq": (1, 4)}


def plan_for(profile: str, work: str, ids: Ids, recorded: Mapping[str, Mapping[str, float]] | None = None) -> Plan:
    """A timing plan for one job. `work` is "generate", "video" (a realistic video takes minutes, like Firefly's),
    "training" or "training_hq". Realistic plans jitter (see
    `_JITTER`), drawn from the seeded source so they repeat under --seed. `recorded` (the fixtures' `timing`, as
    measured in a recording) replaces the realistic figures of the kinds of work it names."""
    if profile == "instant":
        return Plan(0.0, 0.0)
    if profile == "polls":
        pending, running = _POLLS.get(work, _POLLS["generate"])
        return Plan(pending, running, unit="polls")
    pending, running = _SECONDS.get(profile, _SECONDS["fast"]).get(work, _SECONDS["fast"]["generate"])
    if profile == "realistic" and recorded and work in recorded:
        pending, running = float(recorded[work]["pending"]), float(recorded[work]["running"])
    if profile == "realistic":
        spread_pending, spread_running = _JITTER.get(work, _JITTER["generate"])
        pending *= ids.uniform(1 - spread_pending, 1 + spread_pending)
        running *= ids.uniform(1 - spread_running, 1 + spread_running)
    return Plan(pending, running)
