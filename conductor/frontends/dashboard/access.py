"""Who may reach the dashboard, and what every response tells the browser.

- **The token.** Accepted from the query (``?token=``, the URL printed at start), the cookie the
  first page sets (HttpOnly, SameSite=Strict: a page on another site cannot send it) or
  ``Authorization: Bearer``; compared in constant time, so its prefix cannot be guessed by timing.
- **The Host.** Bound to loopback, the ``Host`` header must name loopback too: a page elsewhere
  whose own name resolves to 127.0.0.1 (DNS rebinding) is refused before the token is looked at.
- **CSRF.** An action's form carries an HMAC of the browser's session cookie under a secret this
  process drew at start: a form made anywhere else cannot know it, and one session's token is
  worthless in another.
- **Headers.** A Content-Security-Policy with scripts from this origin only and nothing fetched
  from elsewhere; ``Referrer-Policy: same-origin`` (the token is in the URL: no other site is told
  it; ``no-referrer`` would make the browser send ``Origin: null`` on the page's own forms);
  no caching, no framing, no sniffing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

TOKEN_COOKIE, SESSION_COOKIE = "conductor_token", "conductor_session"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def token_ok(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    bearer = header[7:] if header.startswith("Bearer ") else None
    supplied = request.query.get("token") or bearer or request.cookies.get(TOKEN_COOKIE) or ""
    return hmac.compare_digest(supplied.encode(), token.encode())


def host_allowed(host_header: str, bound_host: str) -> bool:
    if bound_host not in LOOPBACK:
        return True  # bound elsewhere on purpose: the token is the lock
    host = host_header.split("]")[0] + "]" if host_header.startswith("[") else host_header.rsplit(":", 1)[0]
    return host in LOOPBACK


def csrf_token(secret: bytes, session: str) -> str:
    return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()


def secured(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def remember(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Set the token cookie (so links and streams work without the query) and a session id for
    CSRF, each once."""
    if request.cookies.get(TOKEN_COOKIE) != token:
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
    if not request.cookies.get(SESSION_COOKIE):
        response.set_cookie(SESSION_COOKIE, secrets.token_urlsafe(18), httponly=True, samesite="Strict", path="/")
