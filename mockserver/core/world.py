"""The world: every core service wired to one store, one clock and one source of randomness."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from ..fixtures import Fixtures
from . import outputs, trainings
from .assets import Asset, Assets, Signer
from .clock import Clock, ClockState
from .faults import Faults
from .ids import Ids
from .jobs import Job, Jobs, Plan
from .profiles import plan_for
from .registry import Model, Registry
from .tenants import Client, Tenants
from .trainings import TrainingState

INSTANT = Plan(0.0, 0.0)  # what plan_for("instant", ...) makes, shared (plans are read, never changed)

# A seeder loads fixture objects: every tenant's (tenant None) or only one tenant's (a per-tenant reset).
Seeder = Callable[["World", Fixtures, "str | None"], None]

# The clock never goes past this instant: dates up to year 9999 stay printable with room for every lifetime
# (tokens, signed URLs, the slowest training) that is added to "now".
MAX_CLOCK = datetime(9000, 1, 1, tzinfo=UTC).timestamp()
Picture = Callable[[Job], "dict[str, Any] | None"]  # a job's picture description (core.outputs)
SIGNING_KEY = "config:signing_key"  # kept by a full reset and by state import: issued URLs stay checkable


class World:
    def __init__(
        self,
        store: Any,
        fixtures: Fixtures,
        *,
        seed: int | None = None,
        profile: str = "fast",
        auth_mode: str = "open",
        max_jobs: int = 0,
        max_tokens: int = 0,
    ) -> None:
        self.store = store
        self.fixtures = fixtures
        self._settled: Callable[[], Any] | None = getattr(store, "settled", None)  # group commit (SQLite)
        self._commit: Callable[[], None] | None = getattr(store, "commit_batch", None)
        self.clock = Clock(on_change=self._save_clock)
        self.ids = Ids(seed, counter=partial(store.next_counter, "ids") if store.shared else None)
        self._seen_version = -1
        self.default_profile = profile
        self.profile = profile
        self._random_key = bytes.fromhex(store.meta_init(SIGNING_KEY, secrets.token_hex(32)))
        self.signer = Signer(self._signing_key(seed))
        self.tenants = Tenants(store, self.clock, auth_mode, max_tokens)
        self.registry = Registry(store)
        self.assets = Assets(store)
        keep_trainings = partial(trainings.decisive, live_model=self._live_model)
        self.jobs = Jobs(store, self.clock, max_jobs, self.assets.discard, {trainings.KIND: keep_trainings})
        self._drawing: list[tuple[str, tuple[str, ...]]] = []  # (job id prefix, kinds) of draws_outputs
        self.pictures: dict[str, Picture] = {}  # per job kind that draws its outputs: a job's description
        self.assets.drawn = self._drawn
        self.faults = Faults(store, seed)
        self.seeders: list[Seeder] = []  # each provider adds its own fixture loader
        self.on_reset: list[Callable[[], None]] = []

    def draws_outputs(self, prefix: str, kinds: tuple[str, ...], picture: Picture) -> None:
        """A provider's jobs of these kinds draw their outputs (`core.outputs`): their ids are `prefix` and the
        last segment an output id carries, and `picture` gives a job's description."""
        self._drawing.append((prefix, kinds))
        self.pictures.update(dict.fromkeys(kinds, picture))

    def output(self, job: Job, index: int) -> Asset | None:
        """A job's output as an asset: its own, or drawn from the job."""
        stored = job.outputs[index].get("asset")
        if stored is not None:
            return self.assets.get(stored)
        picture = self.pictures.get(job.kind)
        return outputs.drawn(job, index, picture(job)) if picture is not None else None

    def _drawn(self, asset_id: str) -> Asset | None:
        """The output an id names, drawn from its job (None when it names none)."""
        parsed = outputs.parse(asset_id) if self._drawing else None
        if parsed is None:
            return None
        token, index = parsed
        for prefix, kinds in self._drawing:
            for kind in kinds:
                job = self.store.get(self.jobs.store_kind(kind), prefix + token)
                if job is not None:
                    return self.output(job, index) if 0 <= index < len(job.outputs) else None
        return None

    def settled(self) -> Any:
        """What an answer awaits before it starts: the store's open group commit (SQLite), or None."""
        return self._settled() if self._settled is not None else None

    def store_settle(self) -> None:
        """Commit the store's open group transaction now (shutdown)."""
        if self._commit is not None:
            self._commit()

    def _signing_key(self, seed: int | None) -> bytes:
        """Under a seed the key derives from it (signed URLs repeat exactly); otherwise it is the world's own
        random key, made once in the store so every worker and every restart signs alike."""
        return hashlib.sha256(f"mockserver:{seed}".encode()).digest() if seed is not None else self._random_key

    def start(self, force: bool = False) -> None:
        """Load fixtures (called once the providers have added their seeders). A durable store that already
        holds a world keeps it: a restart resumes where it stopped, clock and seed included."""
        self.tenants.declare([Client(**c) for c in self.fixtures.clients])
        with self.store.transaction():
            if force or not self.store.meta_get("seeded"):
                for seeder in self.seeders:
                    seeder(self, self.fixtures, None)
                self.store.meta_put("seeded", True)
                self._save_clock(self.clock.state)
                self.store.meta_put("profile", self.profile)
                self.store.meta_put("seed", {"value": self.ids.seed})
        self.sync(force=True)

    def sync(self, force: bool = False) -> None:
        """Pick up clock, profile and seed changes other workers made to a shared store. Cheap when nothing
        changed: one `PRAGMA data_version` per request, the meta reads only after another worker's commit."""
        if not self.store.shared:
            return
        version = self.store.data_version()
        if version == self._seen_version and not force:
            return
        self._seen_version = version
        self._load_clock()
        self.profile = self.store.meta_get("profile") or self.profile
        seed = self.store.meta_get("seed")
        if seed is not None and seed.get("value") != self.ids.seed:
            self._use_seed(seed.get("value"))

    def _load_clock(self) -> None:
        clock = self.store.meta_get("clock")
        if clock is not None:
            self.clock.state = ClockState(**clock)

    def _save_clock(self, state: ClockState) -> None:
        self.store.meta_put("clock", {"offset": state.offset, "frozen_at": state.frozen_at})

    def change_clock(self, change: Callable[[Clock], None]) -> None:
        """Freeze, resume or advance atomically: the shared clock is re-read inside the store's write lock, so
        concurrent changes from several workers all count."""
        with self.store.transaction():
            if self.store.shared:
                self._load_clock()
            change(self.clock)

    def advance_clock(self, seconds: float) -> None:
        """Move the clock forward; ValueError when that would pass MAX_CLOCK (nothing changes then)."""

        def advance(clock: Clock) -> None:
            if not clock.now() + seconds <= MAX_CLOCK:
                raise ValueError(f"the clock cannot pass {datetime.fromtimestamp(MAX_CLOCK, UTC).isoformat()}")
            clock.advance(seconds)

        self.change_clock(advance)

    def set_profile(self, name: str) -> None:
        self.profile = name
        self.store.meta_put("profile", name)

    def _use_seed(self, seed: int | None) -> None:
        self.ids.seed = seed
        self.ids.reseed()
        self.faults.seed = seed
        self.signer.key = self._signing_key(seed)

    def reseed(self, seed: int | None) -> None:
        """Switch to another seed (the control API's reset does this per test); the next `start` stores it, so
        every worker follows."""
        self._use_seed(seed)

    def reset(self, tenant: str | None = None) -> None:
        """Forget state (all, or one tenant's) and reload fixtures. A full reset also restores clock, randomness
        and profile, so a test starts from exactly the state a fresh server has. A per-tenant reset touches that
        tenant's objects only: other tenants' fixture models keep their renames and deletions."""
        with self.store.transaction():
            self.store.clear(tenant)
            if tenant is not None:
                for seeder in self.seeders:
                    seeder(self, self.fixtures, tenant)
                return
            self.clock.reset()
            self.ids.reseed()
            self.faults.reset()
            self.set_profile(self.default_profile)
            for hook in self.on_reset:
                hook()
            self.start(force=True)

    def _live_model(self, model_id: str) -> bool:
        model = self.store.get("model", model_id)
        return model is not None and not model.deleted

    def model_trainings(self, model: Model) -> list[Job]:
        return trainings.of_model(self.jobs.list(model.tenant, trainings.KIND), model.id)

    def training_state(self, model: Model) -> TrainingState:
        """A model's training state: READY for a model that came ready (fixtures), else derived from its
        trainings."""
        if model.ready:
            return TrainingState.READY
        return trainings.state(self.model_trainings(model), self.clock.now())

    def trigger_word(self, model: Model) -> str | None:
        return trainings.trigger_word(self.model_trainings(model), self.clock.now())

    def restore(self, clock: ClockState, profile: str) -> None:
        self.clock.state = clock
        self._save_clock(clock)
        self.set_profile(profile)

    def plan(self, work: str, profile: str | None = None) -> Any:
        chosen = profile or self.profile
        if chosen == "instant":
            return INSTANT  # plan_for's instant plan draws nothing and is never changed: one for every job
        return plan_for(chosen, work, self.ids, self.fixtures.timing)
