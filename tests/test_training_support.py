"""Helpers shared by the training-API tests (this module holds no tests of its own)."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import httpx
from PIL import Image

KEY = "mock-client-id"
OTHER_KEY = "other-client-id"
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (48, 32), colour: tuple[int, int, int] = (200, 60, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` with one tiny (wrong) IDAT: a decompression-bomb probe."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class Api:
    """The training API through any httpx client (a real socket or the in-process transport)."""

    def __init__(self, http: httpx.Client, key: str = KEY) -> None:
        self.http = http
        self.key = key

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"x-api-key": self.key, **(headers or {})}, **kwargs)

    def create_model(self, name: str = "Mugs", kind: str | None = None) -> dict[str, Any]:
        body = {"displayName": name, **({"customModelType": kind} if kind else {})}
        r = self.call("POST", "/models", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def upload(self, model_id: str, fmt: str = "PNG", data: bytes | None = None) -> httpx.Response:
        return self.call(
            "POST",
            f"/models/{model_id}/training-data",
            content=data or image_bytes(fmt),
            headers={"content-type": MIME[fmt]},
        )

    def train(self, model_id: str, speed: str = "fast", strength: int = 5, **headers: str) -> httpx.Response:
        return self.call(
            "POST",
            f"/models/{model_id}/trainings",
            json={"trainingStrength": strength, "trainingSpeed": speed},
            headers={k.replace("_", "-"): v for k, v in headers.items()},
        )

    def training(self, model_id: str, training_id: str) -> httpx.Response:
        return self.call("GET", f"/models/{model_id}/trainings/{training_id}")

    def predict(self, configs: list[tuple[str, str]], prompt: str, **extra: Any) -> httpx.Response:
        scale = {str(i + 1): {"scale": 0.8, "modelId": m, "trainingId": t} for i, (m, t) in enumerate(configs)}
        return self.call("POST", "/predictions", json={"scaleConfigs": scale, "prompt": prompt, **extra})

    def trained_model(self, name: str = "Mugs", kind: str | None = None) -> tuple[str, str, str]:
        """A model with one image and a succeeded training (needs the instant profile or a later clock move):
        (model id, training id, trigger word or "")."""
        model = self.create_model(name, kind)
        assert self.upload(model["id"]).status_code == 201
        started = self.train(model["id"], x_mock_profile="instant")
        assert started.status_code == 202, started.text
        training = self.training(model["id"], started.json()["trainingId"]).json()
        return model["id"], training["id"], training["triggerWord"] or ""


def assert_error(response: httpx.Response, status: int, code: str, *fields: str) -> dict[str, Any]:
    """The response is this API's error: the status, the code, a message, and details naming `fields`."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    named = {d["field"] for d in error.get("details", [])}
    for field in fields:
        assert field in named, (field, error)
    return error
