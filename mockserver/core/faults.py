"""Fault rules: which requests they match, how often they fire, and what they do.

Matching and counting live here; turning an effect into an HTTP answer is the gateway's and the providers' job.
"""

from __future__ import annotations

import builtins
import fnmatch
import random
from dataclasses import dataclass, field
from typing import Any

EFFECTS = ("http", "latency", "job", "drop")
MAX_RULES = 1000  # every request is matched against every rule


@dataclass(slots=True)
class FaultRule:
    id: str
    effect: str  # http | latency | job | drop
    surface: str | None = None
    method: str | None = None
    path: str | None = None  # glob, e.g. /v3/status/*
    tenant: str | None = None
    prompt: str | None = None  # substring of the request's prompt
    nth: int | None = None  # fire only on the Nth matching request (1-based)
    times: int | None = None  # fire at most this many times
    probability: float | None = None  # seeded, so repeatable
    status: int | None = None  # http
    error_code: str | None = None  # http and job
    message: str | None = None  # http and job
    headers: dict[str, str] = field(default_factory=dict)  # http
    retry_after: float | None = None  # http 429/503
    latency_ms: float | None = None  # latency (fixed)
    latency_max_ms: float | None = None  # latency: a range [latency_ms, latency_max_ms]
    outcome: str | None = None  # job: fail | timeout
    at_progress: float = 0.5  # job
    matched: int = 0
    fired: int = 0


@dataclass(slots=True)
class Request:
    """What a rule can look at."""

    surface: str
    method: str
    path: str
    tenant: str | None
    prompt: str | None


class Faults:
    """Rules kept in the store (so state export and several workers see them), in the order they were added.

    Everything about a rule lives in the store: its id comes from a store counter (so ids are never reused, across
    workers and restarts alike) and its counters change inside `fire`'s transaction. A probability draw depends
    only on (seed, rule id, match number), so it repeats whichever worker serves the request."""

    def __init__(self, store: Any, seed: int | None) -> None:
        self.store = store
        self.seed = seed

    def reset(self) -> None:
        """Nothing to forget in this process: counters and ids live in the store, which a reset clears."""

    def add(self, rule: FaultRule) -> FaultRule:
        """Store a rule. Without an id it gets the next free `fault-N`; an explicit id replaces that rule.
        ValueError when MAX_RULES rules exist already."""
        with self.store.transaction():
            if self.store.count("fault") >= MAX_RULES and (not rule.id or self.store.get("fault", rule.id) is None):
                raise ValueError(f"at most {MAX_RULES} fault rules can be active; delete some first")
            while not rule.id:
                candidate = f"fault-{self.store.next_counter('fault_ids')}"
                if self.store.get("fault", candidate) is None:
                    rule.id = candidate
            self.store.put("fault", rule.id, rule)
        return rule

    def list(self) -> builtins.list[FaultRule]:
        rules: builtins.list[FaultRule] = self.store.items("fault")
        return rules

    def remove(self, rule_id: str) -> bool:
        found = self.store.get("fault", rule_id) is not None
        self.store.delete("fault", rule_id)
        return found

    def clear(self) -> None:
        for rule in self.list():
            self.store.delete("fault", rule.id)

    def fire(self, request: Request) -> builtins.list[FaultRule]:
        """The rules that fire for this request, with their counters updated."""
        with self.store.transaction():
            return self._fire(request)

    def _fire(self, request: Request) -> builtins.list[FaultRule]:
        fired: builtins.list[FaultRule] = []
        for rule in self.list():
            if not _matches(rule, request):
                continue
            rule.matched += 1
            if rule.nth is not None and rule.matched != rule.nth:
                self.store.put("fault", rule.id, rule)
                continue
            if rule.times is not None and rule.fired >= rule.times:
                self.store.put("fault", rule.id, rule)
                continue
            if rule.probability is not None and self._draw(rule) >= rule.probability:
                self.store.put("fault", rule.id, rule)
                continue
            rule.fired += 1
            self.store.put("fault", rule.id, rule)
            fired.append(rule)
        return fired

    def _draw(self, rule: FaultRule) -> float:
        return random.Random(f"{self.seed or 0}:{rule.id}:{rule.matched}").random()

    def any(self) -> bool:
        return bool(self.store.count("fault") > 0)


def _matches(rule: FaultRule, request: Request) -> bool:
    if rule.surface is not None and rule.surface != request.surface:
        return False
    if rule.method is not None and rule.method.upper() != request.method:
        return False
    if rule.path is not None and not fnmatch.fnmatchcase(request.path, rule.path):
        return False
    if rule.tenant is not None and rule.tenant != request.tenant:
        return False
    return rule.prompt is None or (request.prompt is not None and rule.prompt in request.prompt)


def rule_from(data: dict[str, Any]) -> FaultRule:
    """Build a rule from the control API's JSON (already schema-checked), inferring the effect when omitted."""
    data = dict(data)
    effect = data.pop("effect", None)
    if effect is None:
        if data.get("drop"):
            effect = "drop"
        elif "status" in data:
            effect = "http"
        elif "outcome" in data:
            effect = "job"
        elif "latency_ms" in data:
            effect = "latency"
    data.pop("drop", None)
    if effect not in EFFECTS:
        raise ValueError("a rule needs an effect: status (http), latency_ms, outcome (job) or drop")
    if effect == "http" and data.get("status") is None:
        raise ValueError("an http effect needs a status")
    if effect == "latency" and data.get("latency_ms") is None:
        raise ValueError("a latency effect needs latency_ms")
    if effect == "job" and data.get("outcome") not in ("fail", "timeout"):
        raise ValueError("a job effect needs outcome 'fail' or 'timeout'")
    return FaultRule(id=data.pop("id", ""), effect=effect, **data)
