"""Firefly storage uploads: images a tenant stored with `POST /v2/storage/image`, named later as `source.uploadId`.

An upload is an `Asset` holding the bytes plus an `Upload` record that says whose it is and when it expires (Adobe:
7 days from upload, here on the fake's clock). A tenant holds at most `per_tenant` live uploads, and all tenants
together at most `total` uploads and `max_bytes` bytes (in open auth mode anyone is a new tenant): expired uploads
are dropped first to make room, and a caller that is still over a bound is refused rather than having older uploads
silently vanish under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .assets import Asset, Assets

LIFETIME = 7 * 86400.0
KIND = "upload"


@dataclass(slots=True)
class Upload:
    id: str  # the uploadId clients send; also the id of the asset that holds the bytes
    tenant: str
    asset_id: str
    created_at: float
    expires_at: float
    size: int = 0


class Full(Exception):
    """The tenant holds as many live uploads (or bytes) as it may."""


class Uploads:
    def __init__(self, store: Any, clock: Any, assets: Assets, per_tenant: int, total: int, max_bytes: int) -> None:
        self.store = store
        self.clock = clock
        self.assets = assets
        self.per_tenant = per_tenant
        self.total = total
        self.max_bytes = max_bytes

    def add(self, asset: Asset, data: bytes) -> Upload:
        """Store `data` as a new upload of `asset.tenant` (call inside a store transaction). Raises Full."""
        now = self.clock.now()
        if self.store.count(KIND, asset.tenant) >= self.per_tenant or self.store.count(KIND) >= self.total:
            self._sweep(now)
        if self.store.count(KIND, asset.tenant) >= self.per_tenant or self.store.count(KIND) >= self.total:
            raise Full()
        if sum(u.size for u in self.store.items(KIND)) + len(data) > self.max_bytes:
            self._sweep(now)
            if sum(u.size for u in self.store.items(KIND)) + len(data) > self.max_bytes:
                raise Full()
        self.assets.add(asset, data)
        upload = Upload(asset.id, asset.tenant, asset.id, now, now + LIFETIME, len(data))
        self.store.put(KIND, upload.id, upload, upload.tenant)
        return upload

    def get(self, tenant: str, upload_id: str) -> tuple[Upload, Asset] | None:
        """A live upload of this tenant with its asset; None when unknown, another tenant's, or expired."""
        upload: Upload | None = self.store.get(KIND, upload_id)
        if upload is None or upload.tenant != tenant or upload.expires_at <= self.clock.now():
            return None
        asset = self.assets.get(upload.asset_id)
        return (upload, asset) if asset is not None else None

    def _sweep(self, now: float) -> None:
        for upload in self.store.items(KIND):
            if upload.expires_at <= now:
                self.forget(upload)

    def forget(self, upload: Upload) -> None:
        self.assets.forget(upload.asset_id)
        self.store.delete(KIND, upload.id)
