"""IMS access tokens in the shape Adobe issues them: JWTs whose payload a client may read (client id, creation
time, lifetime). The signature is a random placeholder, so the token stays unguessable; nothing verifies it."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from .ids import secret_token

# The header Adobe IMS puts on access tokens (RS256, key id of the ims-na1 access-token key).
_HEADER = {"alg": "RS256", "x5u": "ims_na1-key-at-1.cer", "kid": "ims_na1-key-at-1", "itt": "at"}


def _part(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def access_token(client_id: str, created_at: float, lifetime: float, scope: str = "") -> str:
    """A JWT like IMS's: `created_at` and `expires_in` are strings of milliseconds, as IMS writes them."""
    payload = {
        "id": secret_token(18),
        "type": "access_token",
        "client_id": client_id,
        "user_id": f"{client_id}@AdobeID",
        "as": "ims-na1",
        "scope": scope,
        "created_at": str(int(created_at * 1000)),
        "expires_in": str(int(lifetime * 1000)),
    }
    return f"{_part(_HEADER)}.{_part(payload)}.{secret_token(64)}"


def claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, unverified (None when it is not one)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        found = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None
