"""The world: every core service wired to one store, one clock and one source of randomness."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from ..fixtures import Fixtures
from .assets import Assets, Signer
from .clock import Clock, ClockState
from .faults import Faults
from .ids import Ids
from .jobs import Jobs, Phase, phase_of
from .profiles import plan_for
from .registry import PUBLIC, Model, Registry
from .tenants import Client, Tenants

_TRAINING_STATES = {
    Phase.PENDING: "queued",
    Phase.RUNNING: "training",
    Phase.SUCCEEDED: "ready",
    Phase.FAILED: "failed",
    Phase.TIMEOUT: "failed",
    Phase.CANCELED: "cancelled",
}

Seeder = Callable[["World", Fixtures], None]

_FIXTURE_EPOCH_MS = 1_717_200_000_000  # fixture dates default to fixed instants, so listings sort the same
_FIXTURE_NS = uuid.UUID("6f1b2a5e-3c0d-4b8e-9a77-5d2e0c1f9b42")


class World:
    def __init__(
        self,
        store,
        fixtures: Fixtures,
        *,
        seed: int | None = None,
        profile: str = "fast",
        auth_mode: str = "open",
        max_jobs: int = 0,
    ) -> None:
        self.store = store
        self.fixtures = fixtures
        self.clock = Clock(on_change=self._save_clock)
        self.ids = Ids(seed, counter=(lambda: store.next_counter("ids")) if store.shared else None)
        self._seen_version = -1
        self.default_profile = profile
        self.profile = profile
        self.signer = Signer(
            hashlib.sha256(f"mockserver:{seed}".encode()).digest() if seed is not None else secrets.token_bytes(32)
        )
        self.tenants = Tenants(store, self.clock, auth_mode)
        self.registry = Registry(store)
        self.assets = Assets(store)
        self.jobs = Jobs(store, self.clock, max_jobs, self.assets.forget)
        self.faults = Faults(store, seed)
        self.seeders: list[Seeder] = [seed_custom_models]
        self.on_reset: list[Callable[[], None]] = []

    def start(self, force: bool = False) -> None:
        """Load fixtures (called once the providers have added their seeders). A durable store that already
        holds a world keeps it: a restart resumes where it stopped, clock included."""
        self.tenants.declare([Client(**c) for c in self.fixtures.clients])
        with self.store.transaction():
            if force or not self.store.meta_get("seeded"):
                for seeder in self.seeders:
                    seeder(self, self.fixtures)
                self.store.meta_put("seeded", True)
                self._save_clock(self.clock.state)
                self.store.meta_put("profile", self.profile)
        self.sync(force=True)

    def sync(self, force: bool = False) -> None:
        """Pick up clock and profile changes other workers made to a shared store (cheap when nothing changed)."""
        if not self.store.shared:
            return
        version = self.store.data_version()
        if version == self._seen_version and not force:
            return
        self._seen_version = version
        clock = self.store.meta_get("clock")
        if clock is not None:
            self.clock.state = ClockState(**clock)
        self.profile = self.store.meta_get("profile") or self.profile

    def _save_clock(self, state: ClockState) -> None:
        self.store.meta_put("clock", {"offset": state.offset, "frozen_at": state.frozen_at})

    def set_profile(self, name: str) -> None:
        self.profile = name
        self.store.meta_put("profile", name)

    def reseed(self, seed: int | None) -> None:
        """Switch to another seed (the control API's reset can do this per test)."""
        self.ids.seed = seed
        self.faults.seed = seed

    def reset(self, tenant: str | None = None) -> None:
        """Forget state (all, or one tenant's) and reload fixtures. A full reset also restores clock, randomness
        and profile, so a test starts from exactly the state a fresh server has."""
        with self.store.transaction():
            self.store.clear(tenant)
            if tenant is None:
                self.clock.reset()
                self.ids.reseed()
                self.faults.reset()
                self.set_profile(self.default_profile)
                for hook in self.on_reset:
                    hook()
            self.start(force=True)

    def training_state(self, model: Model) -> str:
        """A model's training state, derived from its trainings: "ready" once any training succeeded (or for
        fixture models), otherwise the state of the newest one ("queued", "training", "failed", "cancelled"),
        or "none" when it was never trained."""
        if model.ready:
            return "ready"
        trainings = [j for j in self.jobs.list(model.tenant, "training") if j.extra.get("model_id") == model.id]
        if not trainings:
            return "none"
        now = self.clock.now()
        phases = [(training_order(job), phase_of(job, now).phase) for job in trainings]
        if any(phase is Phase.SUCCEEDED for _, phase in phases):
            return "ready"
        return _TRAINING_STATES[max(phases)[1]]

    def trigger_word(self, model: Model) -> str | None:
        """The trigger word of the model's newest succeeded training, if any."""
        now = self.clock.now()
        done = [
            j
            for j in self.jobs.list(model.tenant, "training")
            if j.extra.get("model_id") == model.id and phase_of(j, now).phase is Phase.SUCCEEDED
        ]
        return max(done, key=training_order).extra.get("trigger_word") if done else None

    def restore(self, clock: ClockState, profile: str) -> None:
        self.clock.state = clock
        self._save_clock(clock)
        self.set_profile(profile)

    def plan(self, work: str, profile: str | None = None) -> Any:
        return plan_for(profile or self.profile, work, self.ids)


def training_order(job: Any) -> tuple[float, int, str]:
    """Oldest to newest. A surface may number a model's trainings in `extra["seq"]`, so trainings started at the
    same instant (a frozen clock) still have a definite newest one."""
    return (job.created_at, job.extra.get("seq", 0), job.id)


def fixture_uuid(*parts: str) -> str:
    """Stable ids for fixture objects: the same fixture file gives the same ids on every start, seed or not."""
    return str(uuid.uuid5(_FIXTURE_NS, "/".join(parts)))


def seed_custom_models(world: World, fixtures: Fixtures) -> None:

    for index, raw in enumerate(fixtures.custom_models):
        tenant = raw.get("tenant", PUBLIC)
        key = fixture_uuid("custom_model", tenant, raw["displayName"])
        created = raw.get("createdDate", _FIXTURE_EPOCH_MS + index * 86_400_000) / 1000
        world.registry.add_model(
            Model(
                id=raw.get("id", key.replace("-", "")[:24]),
                asset_id=raw.get("assetId", f"urn:aaid:sc:VA6C2:{key}"),
                tenant=tenant,
                display_name=raw["displayName"],
                training_mode=raw.get("trainingMode", "style"),
                base_model=raw.get("baseModel", {"name": "clio_v2", "version": "2.0.0"}),
                sample_prompt=raw.get("samplePrompt", ""),
                concept_id=raw.get("conceptId", ""),
                published_state=raw.get("publishedState", "published"),
                created_at=created,
                modified_at=raw.get("modifiedDate", int(created * 1000)) / 1000,
                size=raw.get("size", 18_874_368),
                etag=raw.get("etag", fixture_uuid("etag", key)),
                version=raw.get("version", "1"),
                ready=True,
                extra={"assetName": raw["assetName"]} if "assetName" in raw else {},
            )
        )
