"""Thumbnails for the gallery: an output rendered (or read) once through the download path, shrunk with Pillow,
and kept in a small byte-bounded cache of its own, so a gallery page never renders full-size images twice."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from ..context import Context
from ..core.assets import Asset
from ..files import asset_bytes, render_key
from ..images import ImageCache

SIZE = 256  # longest side, in pixels
CACHE_BYTES = 16 * 1024 * 1024


def shrink(data: bytes, size: int = SIZE) -> bytes:
    """A JPEG of at most `size` pixels on its longest side (transparency flattened onto white)."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.draft("RGB", (size, size))  # JPEGs decode at a reduced scale
        picture = opened.convert("RGBA")
    picture.thumbnail((size, size))
    flat = Image.new("RGB", picture.size, (255, 255, 255))
    flat.paste(picture, mask=picture.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=80)
    return out.getvalue()


class Thumbnails:
    def __init__(self, ctx: Context, max_bytes: int = CACHE_BYTES) -> None:
        self.ctx = ctx
        self.cache = ImageCache(max_bytes)
        self.rendered = 0  # how many thumbnails were made (the rest came from the cache)

    @staticmethod
    def key(asset: Asset) -> str:
        """Generated pictures by what they are drawn from; uploads by id, size and creation (an upload's bytes never
        change, but its id comes round again after a seeded reset or an import)."""
        return render_key(asset) if asset.render is not None else f"upload:{asset.id}:{asset.size}:{asset.created_at!r}"

    async def get(self, asset: Asset) -> bytes | None:
        key = self.key(asset)
        found = self.cache.get(key)
        if found is not None:
            return found
        data = await asset_bytes(self.ctx, asset)
        if data is None:
            return None
        try:
            small = await asyncio.get_running_loop().run_in_executor(None, shrink, data)
        except (OSError, ValueError, Image.DecompressionBombError):  # bytes Pillow cannot read: no thumbnail
            return None
        self.rendered += 1
        self.cache.put(key, small)
        return small
