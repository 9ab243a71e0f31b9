"""One settings object, filled from CLI flags, then MOCKSERVER_* environment variables, then defaults.

Every source goes through the same checks (`Settings.__post_init__`): a bad value raises `SettingsError` naming
the setting and where it came from, and the CLI turns that into a message and exit status 2. A typo must never
quietly change behaviour (an unknown auth mode silently meaning "open" would turn auth off).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib.resources import files
from importlib.util import find_spec
from typing import Any
from urllib.parse import urlsplit

from .core.profiles import PROFILES

_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_MAX_INT_DIGITS = 19  # every integer setting fits in 64 bits; longer text is refused before int() sees it


class SettingsError(ValueError):
    """A setting with a value it cannot take; the message names the setting and its source."""


def bundled(name: str) -> str:
    """A folder shipped inside the package (`fixtures` or `openapi`): the defaults work from a wheel as well as
    from a checkout, where they are links to the repository's top-level folders."""
    return str(files("mockserver.data") / name)


def _setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    low: int | None = None,
    high: int | None = None,
    flag: str | None = None,
    factory: Any = None,
) -> Any:
    meta = {"help": help, "choices": choices, "low": low, "high": high, "flag": flag}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    host: str = _setting("127.0.0.1", "address to listen on (0.0.0.0 in a container)")
    port: int = _setting(8080, "TCP port to listen on (0: any free port)", low=0, high=65535)
    fixtures: str = _setting(None, "folder of YAML/JSON seed data", factory=lambda: bundled("fixtures"))
    specs: str = _setting(None, "folder of the OpenAPI specs", factory=lambda: bundled("openapi"))
    profile: str = _setting("fast", "timing profile of jobs", choices=PROFILES)
    seed: int | None = _setting(None, "repeat every id, seed and image exactly", low=-(2**63), high=2**63 - 1)
    auth_mode: str = _setting(
        "open", "open: any credentials work; strict: only declared clients", choices=("open", "strict")
    )
    admin_token: str | None = _setting(None, "bearer token the control API requires")
    no_admin: bool = _setting(False, "serve no control API (/__admin)")
    rate_limits: str = _setting(
        "off", "per-tenant rate limits as the real services apply them", choices=("off", "realistic")
    )
    state_dir: str | None = _setting(None, "keep state in a SQLite file in this folder (survives restarts)")
    database_url: str | None = _setting(
        None, "keep state in PostgreSQL, shared by every replica (postgresql://user:password@host:5432/db)"
    )
    workers: int = _setting(1, "worker processes (they share --state-dir)", low=1, high=64)
    log_format: str = _setting("plain", "one line per request, as text or JSON", choices=("plain", "json"))
    access_log: bool = _setting(True, "log each request (--no-access-log turns it off)", flag="--no-access-log")
    max_body_bytes: int = _setting(16 * 1024 * 1024, "largest request body (413 above)", low=1, high=2**31)
    max_json_bytes: int = _setting(1024 * 1024, "largest JSON request body (413 above)", low=1, high=2**31)
    image_cache_mb: int = _setting(32, "memory for rendered images, in MB", low=0, high=1 << 20)
    max_jobs: int = _setting(
        10_000, "finished jobs kept before the oldest are evicted (0: no limit)", low=0, high=10**9
    )
    max_tokens: int = _setting(
        10_000, "access tokens kept, expired ones dropped first (0: no limit)", low=0, high=10**7
    )
    max_models: int = _setting(10_000, "training-API models per tenant (0: no limit)", low=0, high=10**7)
    max_training_images: int = _setting(500, "training images per model (0: no limit)", low=0, high=10**6)
    journal_size: int = _setting(1000, "requests kept in the journal", low=0, high=10**7)
    public_url: str | None = _setting(None, "base URL for returned links (none: each request's Host header)")

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, check(f, getattr(self, f.name), f"setting {f.name!r}"))
        if self.state_dir and self.database_url:
            raise SettingsError(
                "settings 'state_dir' and 'database_url' exclude each other: state lives in one SQLite folder "
                "or in one PostgreSQL database"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults < environment < explicit overrides (CLI flags or test code). Values of None don't override."""
        source: Mapping[str, str] = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = env_name(f.name)
            raw = source.get(name)
            if raw is not None and raw != "":
                values[f.name] = check(f, raw, name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def env_name(setting: str) -> str:
    return f"MOCKSERVER_{setting.upper()}"


def check(f: Any, value: Any, source: str) -> Any:
    """One setting's value, converted from text where it came as text, and checked."""
    kind = str(f.type)
    meta = f.metadata
    if value is None:
        if "None" in kind:
            return None
        raise SettingsError(f"{source} must be set")
    if kind.startswith("bool"):
        if isinstance(value, str):
            if value.strip().lower() not in _BOOLS:
                raise SettingsError(f"{source}: {_brief(value)} is not a boolean (use true/false, 1/0, yes/no, on/off)")
            return _BOOLS[value.strip().lower()]
        if not isinstance(value, bool):
            raise SettingsError(f"{source}: {_brief(value)} is not a boolean")
        return value
    if kind.startswith("int"):
        value = _integer(value, source)
        low, high = meta.get("low"), meta.get("high")
        if (low is not None and value < low) or (high is not None and value > high):
            raise SettingsError(f"{source}: {_brief(value)} is out of range ({low} to {high})")
        return value
    if not isinstance(value, str):
        raise SettingsError(f"{source}: {_brief(value)} is not text")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise SettingsError(f"{source}: {_brief(value)} is not one of {', '.join(choices)}")
    if f.name == "public_url":
        _check_url(value, source)
    elif f.name == "database_url":
        _check_database_url(value, source)
    elif f.name in ("host", "admin_token") and not value.strip():
        raise SettingsError(f"{source} must not be empty")
    return value


def _integer(value: Any, source: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(f"{source}: {_brief(value)} is not an integer")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_INT_DIGITS:
        raise SettingsError(f"{source}: {_brief(value)} is not an integer")
    return int(text)


def _check_url(value: str, source: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise SettingsError(f"{source}: {_brief(value)} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"{source}: {_brief(value)} is not an http(s) base URL such as https://mock.example:8080")


def _check_database_url(value: str, source: str) -> None:
    """A PostgreSQL URL, and psycopg there to use it. Messages never quote the password."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:
        raise SettingsError(f"{source}: not a URL ({exc})") from None
    if parts.scheme not in ("postgresql", "postgres") or parts.fragment:
        shown = f"{parts.scheme}://…" if parts.scheme else "the value"
        raise SettingsError(f"{source}: {shown} is not a PostgreSQL URL such as postgresql://user:password@host/db")
    if find_spec("psycopg") is None or find_spec("psycopg_pool") is None:
        raise SettingsError(
            f"{source}: PostgreSQL needs psycopg, which is not installed: pip install 'mockserver[postgres]'"
        )


def _brief(value: Any) -> str:
    """A value as quoted in a message, cut short: an error must not echo a megabyte back."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"  # repr() of one over 4,300 digits raises ValueError
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
