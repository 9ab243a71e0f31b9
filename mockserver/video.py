"""Placeholder videos: small real MP4 files (H.264) of the requested size, deterministic, useful to look at.

Encoding needs PyAV (`pip install 'mockserver[video]'`), whose wheels ship FFmpeg with libx264, so nothing is
installed on the system. Without it the video route answers 501, as Adobe's spec documents for a feature that is not
there. Each video is a still label frame (drawn like the placeholder images) with a bar crossing the bottom edge, at
a low frame rate: 5 seconds, like Firefly's, for a few tens of kilobytes and well under a second of encoding.
"""

from __future__ import annotations

import io
from importlib.util import find_spec

from PIL import Image, ImageDraw

from .images import Layer, render

SECONDS = 5
FPS = 8


def available() -> bool:
    return find_spec("av") is not None


def render_mp4(
    width: int, height: int, key: str, lines: list[str], crf: int = 18, layers: list[Layer] | None = None
) -> bytes:
    """Encode the video in one thread with fixed settings, so the same inputs give the same bytes."""
    import av  # optional: imported only when a video is rendered

    frame = Image.open(io.BytesIO(render(width, height, "image/png", key, lines, layers))).convert("RGB")
    bar = max(8, width // 48)
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(min(max(crf, 0), 51)), "preset": "ultrafast", "tune": "stillimage"}
        stream.codec_context.thread_count = 1
        count = SECONDS * FPS
        for index in range(count):
            picture = frame.copy()
            x = (width - bar) * index // (count - 1)
            ImageDraw.Draw(picture).rectangle((x, height - 2 * bar, x + bar, height - bar), fill=(255, 255, 255))
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
