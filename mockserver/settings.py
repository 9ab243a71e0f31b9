"""One settings object, filled from CLI flags, then MOCKSERVER_* environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_dir(name: str) -> str:
    """The repository's folder when running from a checkout; MOCKSERVER_* or flags override it."""
    return str(ROOT / name)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    fixtures: str = field(default_factory=lambda: _default_dir("fixtures"))
    specs: str = field(default_factory=lambda: _default_dir("openapi"))
    profile: str = "fast"
    seed: int | None = None
    auth_mode: str = "open"
    admin_token: str | None = None
    no_admin: bool = False
    rate_limits: str = "off"
    state_dir: str | None = None
    workers: int = 1
    log_format: str = "plain"
    access_log: bool = True
    max_body_bytes: int = 10 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    image_cache_mb: int = 32
    max_jobs: int = 10_000
    max_tokens: int = 10_000
    max_models: int = 10_000
    max_training_images: int = 500
    journal_size: int = 1000
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults < environment < explicit overrides (CLI flags or test code). Values of None don't override."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"MOCKSERVER_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _coerce(kind: object, raw: str) -> object:
    kind = str(kind)
    if kind.startswith("bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind.startswith("int"):
        return int(raw)
    return raw
