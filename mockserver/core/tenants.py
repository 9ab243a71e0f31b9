"""Who is calling: client credentials, issued tokens, and the tenant each one maps to (the isolation boundary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .jwt import access_token

TOKEN_LIFETIME = 86399


@dataclass(slots=True)
class Client:
    """A declared credential pair. `tenant` defaults to the client id: in open mode every client is its own tenant."""

    client_id: str
    client_secret: str
    tenant: str = ""
    name: str = ""
    scopes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tenant = self.tenant or self.client_id


@dataclass(slots=True)
class Token:
    value: str
    client_id: str
    tenant: str
    expires_at: float


class CredentialError(Exception):
    """`reason` is "unknown_client", "bad_secret", "bad_token" or "bad_key"; adapters turn it into wire errors."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Tenants:
    def __init__(self, store: Any, clock: Clock, mode: str = "open", max_tokens: int = 0) -> None:
        self.store = store
        self.clock = clock
        self.mode = mode
        self.max_tokens = max_tokens
        self.clients: dict[str, Client] = {}

    def declare(self, clients: list[Client]) -> None:
        self.clients = {c.client_id: c for c in clients}

    def authenticate(self, client_id: str, client_secret: str) -> Client:
        """Check a key/secret pair. Declared clients must match; in open mode anyone else is welcome."""
        client = self.clients.get(client_id)
        if client is None:
            if self.mode == "strict" or not client_id or not client_secret:
                raise CredentialError("unknown_client" if client_id else "unknown_client")
            return Client(client_id, client_secret)
        if client.client_secret != client_secret:
            raise CredentialError("bad_secret")
        return client

    def tenant_of(self, key: str) -> str:
        """The tenant a client id belongs to, without checking anything (for fault matching and rate limits)."""
        client = self.clients.get(key)
        return client.tenant if client is not None else key

    def known_key(self, api_key: str) -> str:
        """The tenant for a bare API key (no secret): any non-empty key in open mode, declared ones in strict."""
        client = self.clients.get(api_key)
        if client is not None:
            return client.tenant
        if self.mode == "strict" or not api_key:
            raise CredentialError("bad_key")
        return api_key

    def issue_token(self, client: Client, scope: str = "") -> Token:
        now = self.clock.now()
        value = access_token(client.client_id, now, TOKEN_LIFETIME, scope)
        token = Token(value, client.client_id, client.tenant, now + TOKEN_LIFETIME)
        with self.store.transaction():
            self.store.put("token", token.value, token, client.tenant)
            if self.max_tokens and self.store.count("token") > self.max_tokens:
                self._evict()
        return token

    def _evict(self) -> None:
        """Drop expired tokens, then the oldest ones, down to 90% of the limit: a client that asks for a token
        per request cannot grow the store, and one that reuses its token keeps it for as long as it is young."""
        now = self.clock.now()
        tokens = self.store.items("token")
        excess = len(tokens) - int(self.max_tokens * 0.9)
        expired = [t for t in tokens if t.expires_at <= now]
        alive = [t for t in tokens if t.expires_at > now]
        for token in [*expired, *alive][: max(excess, len(expired))]:
            self.store.delete("token", token.value)

    def token_expiry(self, bearer: str) -> float:
        """When the token expires (0 for no token): answers kept for a token are kept no longer."""
        token: Token | None = self.store.get("token", bearer) if bearer else None
        return token.expires_at if token is not None else 0.0

    def check_token(self, bearer: str, api_key: str) -> str:
        """The tenant for a request carrying `Authorization: Bearer` and `x-api-key`. Token problems are checked
        first, as Adobe's gateway does: a client with a bad token learns nothing about keys."""
        token: Token | None = self.store.get("token", bearer) if bearer else None
        if token is None or token.expires_at <= self.clock.now():
            raise CredentialError("bad_token")
        if api_key != token.client_id:
            raise CredentialError("bad_key")
        return token.tenant
