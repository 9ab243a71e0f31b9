"""Secrets out before anything is written: credentials, tokens, signatures, userinfo.

Three passes, each on its own enough for the common cases and together the guarantee the tests check:

1. by name: headers (`authorization`, `x-api-key`, cookies), form fields (`client_secret`, `code`, ...), JSON keys
   (`access_token`, `apiSecret`, ...) and query parameters (`signature`, `X-Amz-Credential`, `sig`, ...) whose
   name says they hold a secret have their value replaced;
2. by shape: every URL in any string loses its userinfo and its secret query parameters, and JWTs anywhere are
   replaced;
3. by value: every secret removed in passes 1-2 is remembered (`Redactor.seen`), and the exchange's strings are
   scrubbed of those exact strings once more before it is written, wherever else they were echoed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
        "set-cookie",
        "x-amz-security-token",
        "x-auth-token",
        "x-access-token",
    }
)
# compared after lower-casing and dropping "-" and "_": clientSecret, client_secret and client-secret are one name
_SECRET_NAMES = frozenset(
    {
        "clientsecret",
        "clientid",
        "devicecode",
        "assertion",
        "apikey",
        "apisecret",
        "xapikey",
        "secret",
        "password",
        "passwd",
        "authorization",
        "cookie",
        "setcookie",
        "signature",
        "credential",
        "credentials",
        "privatekey",
        "accesskey",
        "accesskeyid",
    }
)
# only as form fields or query parameters (an OAuth `code`, CloudFront's `Policy`/`Key-Pair-Id`, Azure's `sig`): as
# JSON keys these names hold harmless values (`{"error": {"code": "not_found"}}`)
_PARAMETER_NAMES = frozenset({"code", "sig", "policy", "keypairid"})
_SECRET_SUFFIXES = ("secret", "password", "token", "signature", "credential", "accesskey")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_COOKIE_ATTRIBUTES = frozenset({"expires", "max-age", "domain", "path", "samesite", "priority", "partitioned"})
MAX_SEEN = 10_000  # secrets remembered for pass 3 (passes 1 and 2 do not depend on it)
_MIN_SCRUB = 6  # shorter remembered values ("a", "1") would scrub innocent text; they are redacted by name anyway


def secret_name(name: str, parameter: bool = False) -> bool:
    """Whether a header, JSON key or (`parameter`) form field or query parameter of this name holds a secret."""
    flat = name.lower().replace("-", "").replace("_", "")
    if parameter and flat in _PARAMETER_NAMES:
        return True
    return flat in _SECRET_NAMES or flat.endswith(_SECRET_SUFFIXES)


class Redactor:
    """Redacts one recording's exchanges, remembering every secret it removed (pass 3)."""

    def __init__(self) -> None:
        self.seen: dict[str, None] = {}  # insertion-ordered: past MAX_SEEN the oldest are forgotten

    def _hide(self, value: str) -> str:
        if len(value) >= _MIN_SCRUB and value != REDACTED:
            self.seen[value] = None
            if len(self.seen) > MAX_SEEN:  # a client fetching a token per request must not slow every write
                del self.seen[next(iter(self.seen))]
        return REDACTED

    def header(self, name: str, value: str) -> str:
        if name.lower() in SECRET_HEADERS or secret_name(name):
            scheme, _, credentials = value.partition(" ")
            if name.lower() in ("authorization", "proxy-authorization") and credentials:
                self._hide(credentials.strip())
                if scheme.lower() == "basic":  # key and secret are remembered too, should an answer echo one
                    try:
                        for piece in base64.b64decode(credentials.strip(), validate=True).decode().split(":", 1):
                            self._hide(piece)
                    except (binascii.Error, UnicodeDecodeError):
                        pass
                return f"{scheme} {REDACTED}"  # the scheme (Bearer, Basic) is worth keeping
            self._hide(value)
            if name.lower() in ("set-cookie", "cookie"):
                for part in value.replace(",", ";").split(";"):
                    key, equals, cookie = part.partition("=")
                    if equals and key.strip().lower() not in _COOKIE_ATTRIBUTES:  # Max-Age=31536000 is no secret
                        self._hide(cookie.strip())
            return REDACTED
        return self.text(value)

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {name: self.header(name, value) for name, value in headers.items()}

    def query(self, query: str) -> str:
        """A query string with its secret parameters' values replaced (order and the other values kept)."""
        if not query:
            return query
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [(k, self._hide(v) if secret_name(k, parameter=True) and v else self.text(v)) for k, v in pairs]
        return urlencode(cleaned, quote_via=quote, safe="/:,")

    def url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return self._hide(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            for piece in userinfo.split(":", 1):
                self._hide(piece)
            netloc = f"{REDACTED}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, self.query(parts.query), parts.fragment))

    def text(self, value: str) -> str:
        """Free text: URLs in it cleaned, JWTs replaced."""
        if "://" in value:
            value = _URL.sub(lambda m: self.url(m.group(0)), value)
        if "eyJ" in value:
            value = _JWT.sub(lambda m: self._hide(m.group(0)), value)
        return value

    def form(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(k, self._hide(v) if secret_name(k, parameter=True) and v else self.text(v)) for k, v in fields]

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._json_field(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _json_field(self, key: str, value: Any) -> Any:
        if secret_name(key) and isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            self._hide(str(value))
            return REDACTED
        if secret_name(key) and isinstance(value, list | dict):  # {"secret": [...]}, {"credentials": {...}}: all of it
            return self._all(value)
        return self.json(value)

    def _all(self, value: Any) -> Any:
        """Every string and number under a secret-named key, however the keys inside are named."""
        if isinstance(value, dict):
            return {k: self._all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._all(v) for v in value]
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return self._hide(str(value))
        return value

    def scrub(self, value: Any) -> Any:
        """Pass 3: every remembered secret, wherever it still appears in the strings of a JSON value (longest first,
        so none is left half). Strings only: a secret of digits cut out of a number, or out of the JSON's own
        syntax, would leave a file that no longer loads."""
        whole = json.dumps(value, ensure_ascii=False)  # one quick look first: most writes hold no secret at all
        present = [
            secret
            for secret in sorted(self.seen, key=len, reverse=True)
            if secret in whole or json.dumps(secret, ensure_ascii=False)[1:-1] in whole
        ]
        return _replaced(value, present) if present else value


def _replaced(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_replaced(k, secrets): _replaced(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, secrets) for v in value]
    return value
