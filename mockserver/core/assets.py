"""Assets: generated outputs (rendered lazily from a description) and uploaded files; signed, expiring URLs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

URL_LIFETIME = 3600

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "video/mp4": "mp4"}


@dataclass(slots=True)
class Asset:
    id: str
    tenant: str
    mime: str
    width: int
    height: int
    created_at: float
    render: dict[str, Any] | None = None  # what to draw (prompt, seed, model, lines) for generated outputs
    blob: str | None = None  # store key of uploaded bytes
    size: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


def sources(found: dict[str, Asset]) -> list[list[Any]]:
    """The uploads a picture is drawn over, as they are now (id, size, creation): part of its render key, since an
    upload id comes round again after a seeded reset or an import with other pixels behind it."""
    return [[asset_id, asset.size, asset.created_at] for asset_id, asset in sorted(found.items())]


class Signer:
    """HMAC-signed download paths: no auth headers needed, tamper-evident, expiring on the fake's clock."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def _digest(self, asset_id: str, expires: int) -> str:
        """Keyed BLAKE2b is a MAC in one C call: signing runs for every output on every status poll."""
        return hashlib.blake2b(f"{asset_id}:{expires}".encode(), key=self.key[:64], digest_size=16).hexdigest()

    def path(self, asset: Asset, now: float, lifetime: int = URL_LIFETIME) -> str:
        return self.sign(asset.id, asset.mime, now, lifetime)

    def sign(self, asset_id: str, mime: str, now: float, lifetime: int = URL_LIFETIME) -> str:
        expires = int(now) + lifetime
        ext = EXTENSIONS.get(mime, "bin")
        return f"/files/{asset_id}.{ext}?expires={expires}&signature={self._digest(asset_id, expires)}"

    def check(self, asset_id: str, expires: str, signature: str, now: float) -> str | None:
        """None when the URL is good, else why not ("invalid" or "expired")."""
        if not (0 < len(expires) <= 18 and expires.isascii() and expires.isdigit()):  # int() only on short digits
            return "invalid"
        given = signature.encode("utf-8", "replace")  # bytes: compare_digest refuses non-ASCII text
        if not hmac.compare_digest(self._digest(asset_id, int(expires)).encode(), given):
            return "invalid"
        if int(expires) <= now:
            return "expired"
        return None


class Assets:
    def __init__(self, store: Any) -> None:
        self.store = store
        # Finds an output its job draws (core.outputs) by its id: set by the world, which has the jobs
        self.drawn: Callable[[str], Asset | None] | None = None

    def add(self, asset: Asset, data: bytes | None = None) -> Asset:
        if data is not None:
            asset.blob = asset.id
            asset.size = len(data)
            self.store.put("blob", asset.id, data, asset.tenant)
        self.store.put("asset", asset.id, asset, asset.tenant)
        return asset

    def get(self, asset_id: str) -> Asset | None:
        """A stored asset, or an output drawn by its job."""
        found: Asset | None = self.store.get("asset", asset_id)
        if found is None and self.drawn is not None:
            return self.drawn(asset_id)
        return found

    def data(self, asset: Asset) -> bytes | None:
        return self.store.get("blob", asset.blob) if asset.blob else None

    def forget(self, asset_id: str) -> None:
        """Remove an asset with its blob and the assets derived from it (format conversions)."""
        self._forget(asset_id, self.store.delete)

    def discard(self, asset_id: str) -> None:
        """Forget, as eviction does: with the store's `discard`, which a rollback may leave done."""
        self._forget(asset_id, self.store.discard)

    def _forget(self, asset_id: str, delete: Callable[[str, str], None]) -> None:
        asset: Asset | None = self.store.get("asset", asset_id)  # a drawn output goes with its job
        if asset is not None:
            for derived in asset.meta.get("derived", []):
                self._forget(derived, delete)
            self._remove(asset, delete)

    def remove(self, asset: Asset) -> None:
        self._remove(asset, self.store.delete)

    def _remove(self, asset: Asset, delete: Callable[[str, str], None]) -> None:
        if asset.blob:
            delete("blob", asset.blob)
        delete("asset", asset.id)
