"""Placeholder images: real files of the requested size and format, deterministic, useful to look at.

The picture is a function of (prompt, seed, size, format, model, extra lines) only, so the same request yields
byte-identical files and different seeds differ. Rendering happens on first download; a byte-bounded LRU cache
keeps recent files.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def render(width: int, height: int, mime: str, key: str, lines: list[str], layers: list[Layer] | None = None) -> bytes:
    """Draw a seeded colour field with a few blocks, the `layers` (uploaded pixels) over it, and a caption panel
    holding `lines`."""
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))
    base = tuple(rng.randrange(40, 200) for _ in range(3))
    img = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(1, width // 2 + 2), rng.randrange(1, height // 2 + 2)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
    for layer in layers or []:
        _paste(img, layer)
    size = max(10, min(width, height) // 28)
    font = _font(size)
    margin = size
    per_line = max(8, int((width - 2 * margin) / (size * 0.55)))
    lines = [part for line in lines for part in (textwrap.wrap(line, per_line) or [""])][:24]
    panel_h = min(height, (len(lines) + 1) * int(size * 1.35) + margin)
    draw.rectangle((0, 0, width, panel_h), fill=(250, 250, 250))
    y = margin // 2
    for line in lines:
        draw.text((margin, y), line, fill=(20, 20, 20), font=font)
        y += int(size * 1.35)
    out = io.BytesIO()
    fmt = FORMATS.get(mime, "PNG")
    if fmt == "JPEG":
        img.save(out, fmt, quality=85)
    elif fmt == "PNG":
        img.save(out, fmt, compress_level=1)
    else:
        img.save(out, fmt, quality=80, method=0)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Layer:
    """Uploaded pixels drawn into a generated picture: `data` fitted into `box` (x0, y0, x1, y1), kept where `mask`
    is dark ("dark"), light ("light") or everywhere (no mask), and outlined so the placement shows."""

    data: bytes | None  # None: the upload is gone (expired, evicted); a grey box marks where it was
    box: tuple[int, int, int, int]
    mask: bytes | None = None
    keep: str = "dark"
    outline: bool = True


def _open(data: bytes, size: tuple[int, int], mode: str) -> Image.Image | None:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft(mode, size)  # JPEGs decode at a reduced scale when the box is small
            return opened.convert(mode).resize(size)
    except Exception:  # bytes were checked on upload; a damaged import still renders, without them
        return None


def _paste(img: Image.Image, layer: Layer) -> None:
    x0, y0, x1, y1 = layer.box
    size = (max(1, x1 - x0), max(1, y1 - y0))
    picture = _open(layer.data, size, "RGB") if layer.data is not None else None
    if picture is None:
        picture = Image.new("RGB", size, (128, 128, 128))
    mask = _open(layer.mask, size, "L") if layer.mask is not None else None
    if mask is not None:
        light = layer.keep == "light"
        mask = mask.point(lambda v: 255 if (v >= 128) == light else 0)
    img.paste(picture, (x0, y0), mask)
    if layer.outline:
        ImageDraw.Draw(img).rectangle((x0, y0, x0 + size[0] - 1, y0 + size[1] - 1), outline=(255, 0, 255), width=3)


class ImageCache:
    """A thread-safe LRU bounded by total bytes, so memory stays flat however many images are downloaded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    @property
    def size(self) -> int:
        return self._size
