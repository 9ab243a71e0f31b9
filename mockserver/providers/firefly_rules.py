"""What Firefly's image-to-image operations require beyond their schemas, and how their placeholders are laid out.

The sizes and rules come from the descriptions in Adobe's specs (generative_expand/fill, generate_similar,
generate_object_composite): the supported output sizes, expand's 3999 px limit, "you cannot use placement when you
also apply a mask", seeds matching numVariations, the storage domains a URL may name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.assets import Asset
from .firefly import source_url_error
from .firefly_multipart import fill_sources as multipart_fill
from .firefly_uploads import unknown_upload as unknown_upload

# "The supported sizes for the output images are: ..." (fill, similar, composite)
SIZES = {(2048, 2048), (1024, 1024), (2304, 1792), (1792, 2304), (2688, 1536), (1344, 768), (1152, 896), (896, 1152)}
EXPAND_MAX = 3999  # "The maximum size for the output images is 3999px by 3999px."
URL_SOURCE_SIZE = (1024, 1024)  # the fake downloads nothing: a URL source is drawn as a grey box of this size
# Where a request may name an image: (path to the source object, can multipart files fill it)
SOURCE_PATHS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("image", "source"), True),
    (("mask", "source"), True),
    (("image", "mask"), False),
    (("style", "imageReference", "source"), False),
)


def _error(loc: list[Any], msg: str, **ctx: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"loc": ["body", *loc], "msg": msg, "type": "value_error"}
    if ctx:
        found["ctx"] = ctx
    return found


def _at(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def sources(body: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """Every image source the body names, with its location."""
    return [(list(path), found) for path, _ in SOURCE_PATHS if isinstance(found := _at(body, path), dict)]


def errors(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules a schema cannot state, for a body that passed its schema."""
    found: list[dict[str, Any]] = []
    seeds, count = body.get("seeds"), body.get("numVariations")
    if seeds is not None and count is not None and len(seeds) != count:
        found.append(_error(["seeds"], "the number of seeds must equal numVariations"))
    size = body.get("size")
    if size is not None:
        width, height = size["width"], size["height"]
        if kind == "firefly.expand" and (width > EXPAND_MAX or height > EXPAND_MAX):
            found.append(_error(["size"], f"ensure width and height are at most {EXPAND_MAX}", limit_value=EXPAND_MAX))
        elif kind != "firefly.expand" and (width, height) not in SIZES:
            allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SIZES))
            found.append(
                _error(
                    ["size"],
                    f"size {width}x{height} is not supported; supported sizes: {allowed}",
                    supported=allowed.split(", "),
                )
            )
    if "placement" in body and "mask" in body:
        found.append(_error(["placement"], "placement cannot be used together with a mask"))
    found += _inset_errors(body)
    for loc, source in sources(body):
        url = source.get("url")
        if isinstance(url, str):
            problem = source_url_error(url)
            if problem is not None:
                found.append({"loc": ["body", *loc, "url"], **problem})
        elif "uploadId" not in source and not _fillable(loc):
            found.append(_error(loc, "either uploadId or url is required"))
    return found


def _fillable(loc: list[str]) -> bool:
    """Sources multipart files may fill are checked once the files are known (`fill_sources`)."""
    return any(list(path) == loc and files for path, files in SOURCE_PATHS)


def _inset_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Insets (integers by the schema; other keys are ignored, as pydantic ignores them) must leave room."""
    inset = _at(body, ("placement", "inset"))
    if not isinstance(inset, dict):
        return []
    left, top, right, bottom = (inset.get(side, 0) for side in ("left", "top", "right", "bottom"))
    found = [
        _error(["placement", "inset", side], "ensure this value is greater than or equal to 0", limit_value=0)
        for side, value in (("left", left), ("top", top), ("right", right), ("bottom", bottom))
        if value < 0
    ]
    width, height = _size(body)
    if left + right >= width:
        found.append(_error(["placement", "inset"], f"left + right must be less than the width ({width})"))
    if top + bottom >= height:
        found.append(_error(["placement", "inset"], f"top + bottom must be less than the height ({height})"))
    return found


def _size(body: dict[str, Any]) -> tuple[int, int]:
    size = body.get("size") or {}
    return size.get("width", 2048), size.get("height", 2048)


def fill_sources(body: dict[str, Any], upload_ids: list[str], multipart: bool) -> list[dict[str, Any]]:
    """Multipart files fill the empty image and mask sources, in that order (`firefly_multipart`)."""
    return multipart_fill(body, upload_ids, multipart, tuple(path for path, files in SOURCE_PATHS if files))


# --- what the placeholders show ----------------------------------------------------------------------------------


@dataclass
class Picture:
    lines: list[str] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)


def _describe(source: dict[str, Any] | None) -> str:
    if not source:
        return "none"
    return f"upload {source['uploadId']}" if "uploadId" in source else f"URL {source.get('url', '')[:80]}"


def _dims(source: dict[str, Any] | None, found: dict[str, Asset]) -> tuple[int, int]:
    asset = found.get((source or {}).get("uploadId", ""))
    return (asset.width, asset.height) if asset is not None else URL_SOURCE_SIZE


def _fit(box: tuple[int, int, int, int], dims: tuple[int, int], align: dict[str, str], grow: bool) -> list[int]:
    """The largest box of `dims`' aspect inside `box` (no larger than `dims` unless `grow`), aligned in it."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    scale = min(bw / dims[0], bh / dims[1])
    if not grow:
        scale = min(scale, 1.0)
    w, h = max(1, round(dims[0] * scale)), max(1, round(dims[1] * scale))
    horizontal, vertical = align.get("horizontal", "center"), align.get("vertical", "center")
    x = x0 if horizontal == "left" else x1 - w if horizontal == "right" else x0 + (bw - w) // 2
    y = y0 if vertical == "top" else y1 - h if vertical == "bottom" else y0 + (bh - h) // 2
    return [x, y, x + w, y + h]


def _placed(body: dict[str, Any], dims: tuple[int, int], width: int, height: int, grow: bool) -> list[int]:
    placement = body.get("placement") or {}
    inset = placement.get("inset")
    box = (0, 0, width, height)
    if isinstance(inset, dict):
        left, top, right, bottom = (int(inset.get(side, 0)) for side in ("left", "top", "right", "bottom"))
        box = (left, top, width - right, height - bottom)
        grow = True
    return _fit(box, dims, placement.get("alignment") or {}, grow)


def picture(kind: str, body: dict[str, Any], found: dict[str, Asset], width: int, height: int) -> Picture:
    """The caption lines and uploaded-pixel layers of one operation's output."""
    image = _at(body, ("image", "source"))
    mask = _at(body, ("mask", "source")) or _at(body, ("image", "mask"))
    image_id, mask_id = (image or {}).get("uploadId"), (mask or {}).get("uploadId")
    prompt = body.get("prompt")
    lines = [f"Prompt: {prompt}"] if prompt else []
    full = [0, 0, width, height]
    if kind == "firefly.expand":
        if mask is not None:
            layers = [{"asset": image_id, "box": full, "mask": mask_id, "keep": "dark", "outline": False}]
            lines.append(f"Source: {_describe(image)}, expanded where {_describe(mask)} is white")
        else:
            box = _placed(body, _dims(image, found), width, height, grow=False)
            layers = [{"asset": image_id, "box": box, "mask": None, "keep": "dark", "outline": True}]
            lines.append(
                f"Source: {_describe(image)} placed at ({box[0]}, {box[1]}), {box[2] - box[0]}x{box[3] - box[1]}"
            )
        return Picture(lines, layers)
    if kind == "firefly.fill":
        invert = bool(_at(body, ("mask", "invert")))
        keep = "light" if invert else "dark"
        lines.append(f"Source: {_describe(image)}; filled where {_describe(mask)} is {'black' if invert else 'white'}")
        return Picture(lines, [{"asset": image_id, "box": full, "mask": mask_id, "keep": keep, "outline": False}])
    if kind == "firefly.similar":
        corner = (width * 2 // 3, height * 2 // 3, width - width // 40, height - height // 40)
        box = _fit(corner, _dims(image, found), {"horizontal": "right", "vertical": "bottom"}, grow=True)
        lines.append(f"Similar to: {_describe(image)}")
        return Picture(lines, [{"asset": image_id, "box": box, "mask": None, "keep": "dark", "outline": True}])
    # firefly.composite: the object (where its mask is white) placed on a generated background
    dims = _dims(image, found)
    if "placement" in body:
        box = _placed(body, dims, width, height, grow=True)
    else:
        box = _fit((width // 5, height // 5, width - width // 5, height - height // 5), dims, {}, grow=True)
    lines.append(f"Object: {_describe(image)}" + (f" cut out by {_describe(mask)}" if mask else ""))
    lines.append(f"Content class: {body.get('contentClass') or 'photo'}")
    presets = _at(body, ("style", "presets"))
    if presets:
        lines.append("Style: " + ", ".join(presets))
    return Picture(lines, [{"asset": image_id, "box": box, "mask": mask_id, "keep": "light", "outline": True}])
