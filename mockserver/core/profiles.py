"""Timing profiles: how long a job of each kind waits and runs. Chosen by settings, the control API or per request."""

from __future__ import annotations

from .ids import Ids
from .jobs import Plan

PROFILES = ("instant", "fast", "realistic", "polls")

# (pending, running) seconds for the "fast" and "realistic" profiles; polls counts steps instead.
_SECONDS = {
    "fast": {"generate": (0.2, 0.6), "training": (0.3, 1.2), "training_hq": (0.5, 2.5)},
    "realistic": {"generate": (2.0, 8.0), "training": (20.0, 120.0), "training_hq": (40.0, 300.0)},
}
_POLLS = {"generate": (1, 1), "training": (1, 2), "training_hq": (1, 4)}


def plan_for(profile: str, work: str, ids: Ids) -> Plan:
    """A timing plan for one job. `work` is "generate", "training" or "training_hq". Realistic plans jitter by
    up to a quarter, drawn from the seeded source so they repeat under --seed."""
    if profile == "instant":
        return Plan(0.0, 0.0)
    if profile == "polls":
        pending, running = _POLLS.get(work, _POLLS["generate"])
        return Plan(pending, running, unit="polls")
    pending, running = _SECONDS.get(profile, _SECONDS["fast"]).get(work, _SECONDS["fast"]["generate"])
    if profile == "realistic":
        pending *= ids.uniform(0.75, 1.25)
        running *= ids.uniform(0.75, 1.25)
    return Plan(pending, running)
