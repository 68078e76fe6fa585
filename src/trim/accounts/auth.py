"""Who is asking, for every request (the middleware that puts the Actor in scope), and
the checks that a sign-in was not forged from another site.

The coarse role guards that read that Actor are in trim.guards: every area's pages use
them, and they need nothing from accounts but the Actor value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from trim.accounts import signin
from trim.accounts.actor import Actor
from trim.web import SESSION_COOKIE

SKIP_PREFIXES = ("/static/", "/health", "/favicon.ico")


class AuthMiddleware:
    """Puts the Actor (or None) in scope["user"]: a bearer token, else the session cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith(SKIP_PREFIXES):
            scope["user"] = None
            await self.app(scope, receive, send)
            return
        state = scope["litestar_app"].state
        headers = Headers.from_scope(scope)
        actor: Actor | None = None
        method = None
        authorization = headers.get("authorization", "")
        async with state.signin_sessionmaker() as db:
            now = state.clock()
            if authorization[:7].lower() == "bearer ":
                method = "bearer"
                actor = await signin.actor_for_token(db, secret=authorization[7:].strip(), now=now)
            else:
                token = _cookie(headers, SESSION_COOKIE)
                if token:
                    method = "session"
                    actor = await signin.actor_for_session(db, token=token, now=now, settings=state.settings)
            if db.new or db.dirty or db.deleted:
                await db.commit()
        scope["user"] = actor
        scope["auth"] = method
        await self.app(scope, receive, send)


def _cookie(headers: Headers, name: str) -> str | None:
    for raw in headers.getall("cookie", []):
        for part in raw.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and value:
                return value
    return None


# -- sign-in cannot be forged from another site ---------------------------------

CROSS_SITE = (
    "This sign-in came from another website, so it was refused. Open the sign-in page of this "
    "service itself and sign in there."
)
JSON_ONLY = "Send the sign-in as JSON, with the header Content-Type: application/json."
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """scheme://host:port of a URL (ports spelled out, case folded), or None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or port is None:
        return None
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


def is_cross_site(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """True when a browser says this request was made by another site: Sec-Fetch-Site
    "cross-site", or an Origin that is neither TRIM_BASE_URL's nor the address the request
    was sent to. A request without either header (curl, an integration) is not refused."""
    if connection.headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        return True
    origin = connection.headers.get("origin")
    if origin is None:
        return False
    allowed = {
        origin_of(connection.app.state.settings.base_url),
        origin_of(str(connection.base_url)),
    }
    found = origin_of(origin)  # "null" (a sandboxed frame, a data: URL) has no origin: refused
    return found is None or found not in allowed


async def refuse_cross_site(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Signing in is only from our own pages or from non-browser clients: another site
    cannot sign a visitor's browser into an account of its choosing (login CSRF)."""
    if is_cross_site(connection):
        raise PermissionDeniedException(CROSS_SITE)


async def json_body_only(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """415 for a body that is not application/json: a form or text/plain post (which any
    web page can make without asking) never reaches the handler."""
    media_type = connection.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status_code=415, detail=JSON_ONLY)
