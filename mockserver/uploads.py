"""Image uploads, checked the same way for every surface that takes one (training images, Firefly's storage upload
and the image parts of its multipart requests): declared type, real type from the bytes, size, decompression bombs,
a full decode.

A refusal is an `UploadRefused` naming what was wrong; each surface words it in its own error format.
"""

from __future__ import annotations

import enum
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .http import BodyTooLarge, read_body

MAX_IMAGE_PIXELS = 25_000_000  # more than this is treated as a decompression bomb
# Declared content type -> the Pillow format the bytes must have.
UPLOAD_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/jpg": "JPEG", "image/webp": "WEBP"}
FORMAT_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


class Problem(enum.Enum):
    UNSUPPORTED_TYPE = "unsupported_type"  # the declared content type is not an image type taken here
    TOO_LARGE = "too_large"  # more bytes than the limit
    UNSUPPORTED_FORMAT = "unsupported_format"  # a real image, of a format not taken here
    TYPE_MISMATCH = "type_mismatch"  # a taken format, but not the declared one
    INVALID = "invalid"  # empty, unreadable, truncated, corrupt, or a bomb (`reason` says which)


class UploadRefused(Exception):
    def __init__(self, problem: Problem, declared: str = "", actual: str = "", reason: str = "") -> None:
        super().__init__(problem, declared, actual, reason)
        self.problem = problem
        self.declared = declared
        self.actual = actual
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UploadedImage:
    data: bytes
    mime: str
    width: int
    height: int


async def receive_image(request: Request, limit: int) -> UploadedImage:
    """Read and check an image body (at most `limit` bytes); UploadRefused says why it is not acceptable."""
    declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared not in UPLOAD_TYPES:
        raise UploadRefused(Problem.UNSUPPORTED_TYPE, declared)
    try:
        data = await read_body(request, limit)
    except BodyTooLarge:
        raise UploadRefused(Problem.TOO_LARGE, declared) from None
    return await check_image(data, declared)


async def check_image(data: bytes, declared: str) -> UploadedImage:
    """Check image bytes already read (a body, or a part of a multipart body) against their declared type."""
    expected = UPLOAD_TYPES.get(declared)
    if expected is None:
        raise UploadRefused(Problem.UNSUPPORTED_TYPE, declared)
    if not data:
        raise UploadRefused(Problem.INVALID, declared, reason="The request body is empty; send the raw image bytes.")
    opened = _open(data)
    if isinstance(opened, str):
        raise UploadRefused(Problem.INVALID, declared, reason=opened)
    actual = "JPEG" if opened.format == "MPO" else opened.format  # camera JPEGs with extra frames
    if actual != expected:
        shown = actual or "unknown"
        opened.close()
        problem = Problem.UNSUPPORTED_FORMAT if shown not in FORMAT_MIME else Problem.TYPE_MISMATCH
        raise UploadRefused(problem, declared, shown)
    width, height = opened.size
    problem_text = await run_in_threadpool(_decode, opened)
    if problem_text:
        raise UploadRefused(Problem.INVALID, declared, actual, problem_text)
    return UploadedImage(data, FORMAT_MIME[expected], width, height)


def _open(data: bytes) -> Image.Image | str:
    """Identify an image from its header (cheap; no pixel decoding), or say why it cannot be one. Runs on the
    event loop so the warnings filter that turns Pillow's bomb warning into an error is not raced by threads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return _bomb_message()
    except UnidentifiedImageError:
        return "The body is not a readable image (corrupt, truncated, or not an image at all)."
    except Exception:  # Pillow's plugins raise many kinds (SyntaxError, struct.error, ValueError...) on bad headers
        return "The body is not a readable image (its header is corrupt)."
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        return _bomb_message(width, height)
    return image


def _decode(image: Image.Image) -> str | None:
    """Decode every byte (in a worker thread) so truncated or corrupt files are refused. JPEGs decode at 1/8
    scale, which still reads the whole stream; PNGs are verified chunk by chunk (CRCs) instead of inflated."""
    try:
        if image.format == "PNG":
            image.verify()
        else:
            if image.format == "JPEG":
                image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except Exception:  # OSError (truncated), SyntaxError (bad chunk), zlib/struct errors from the decoders
        return "The body is not a readable image (truncated or corrupt)."
    finally:
        image.close()
    return None


def _bomb_message(width: int | None = None, height: int | None = None) -> str:
    dims = f" ({width}x{height})" if width else ""
    return f"The image{dims} has more than {MAX_IMAGE_PIXELS:,} pixels and is refused as a possible decompression bomb."
