"""Who may use the control API and the dashboard: one rule for both.

Without an admin token everyone may. With one, a request needs `Authorization: Bearer <token>`, or the
dashboard's login cookie (an HMAC of the token, so the token itself never sits in the browser). A cookie alone
authorizes only reads: a changing request must also carry the `x-mockserver-dashboard` header, which a form on
another site cannot send and a cross-origin script cannot send without a CORS preflight the fake never grants.
SameSite=Strict does not cover that case, since other local apps on 127.0.0.1 count as the same site.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

COOKIE = "mockserver_admin"
UI_HEADER = "x-mockserver-dashboard"
_SAFE = ("GET", "HEAD")


def cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"mockserver dashboard login", hashlib.sha256).hexdigest()


def has_cookie(request: Request, token: str) -> bool:
    given = request.cookies.get(COOKIE)
    return given is not None and hmac.compare_digest(given.encode(), cookie_value(token).encode())


def authorized(request: Request, token: str | None) -> bool:
    if not token:
        return True
    given = request.headers.get("authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    return has_cookie(request, token) and (request.method in _SAFE or UI_HEADER in request.headers)
