"""Firefly's fixture data: the `custom_models` of the fixtures folder, loaded into the shared registry as ready
models with Adobe-shaped ids (`urn:aaid:sc:VA6C2:…` asset ids)."""

from __future__ import annotations

import uuid

from ..core.registry import PUBLIC, Model
from ..core.world import World
from ..fixtures import Fixtures

_FIXTURE_EPOCH_MS = 1_717_200_000_000  # fixture dates default to fixed instants, so listings sort the same
_FIXTURE_NS = uuid.UUID("6f1b2a5e-3c0d-4b8e-9a77-5d2e0c1f9b42")


def fixture_uuid(*parts: str) -> str:
    """Stable ids for fixture objects: the same fixture file gives the same ids on every start, seed or not."""
    return str(uuid.uuid5(_FIXTURE_NS, "/".join(parts)))


def seed_custom_models(world: World, fixtures: Fixtures, only: str | None = None) -> None:
    """Every tenant's fixture custom models, or only tenant `only`'s (a per-tenant reset)."""
    for index, raw in enumerate(fixtures.custom_models):
        tenant = raw.get("tenant", PUBLIC)
        if only is not None and tenant != only:
            continue
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
