"""What every page shares: rendering, flash messages, forms, navigation, errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotAuthorizedException,
    SerializationException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from litestar.serialization import decode_json
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import Empty
from markupsafe import Markup, escape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from trim.accounts.actor import Actor
from trim.config import Settings
from trim.errors import EnrolmentRequired, TooManyAttempts, TrimError
from trim.requests.models import ContactMethod

log = logging.getLogger("trim.web")

# Every API list pages with limit (default 100, at most 1000) and offset.
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (default 100, at most 1000)")]
# Bounds the databases can take (OFFSET is a BIGINT): larger is bad input, not a 500.
MAX_OFFSET = 2**63 - 1
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="Rows to skip")]
PageNumber = Annotated[int, QueryParameter(le=10**9)]

FLASH_COOKIE = "trim_flash"
SESSION_COOKIE = "trim_session"


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[str]
    place: int  # where it shows on screen, across areas: lower first


def nav_item(label: str, href: str, *roles: str, place: int) -> NavItem:
    """One navigation entry, shown to the given roles only."""
    return NavItem(label, href, frozenset(roles), place)


def compose_nav(*areas: tuple[NavItem, ...]) -> tuple[NavItem, ...]:
    """Every area's NAV entries in screen order (create_app composes them). Two entries for
    one address or one place are a wiring mistake and stop start-up."""
    items = sorted((item for area in areas for item in area), key=lambda item: item.place)
    for key in ("href", "place"):
        values = [getattr(item, key) for item in items]
        doubled = sorted({str(v) for v in values if values.count(v) > 1})
        if doubled:
            raise ValueError(f"two navigation entries share the {key} {', '.join(doubled)}")
    return tuple(items)


def nav_for(actor: Actor | None, nav: tuple[NavItem, ...]) -> list[NavItem]:
    """The entries this person's roles may see (none for an API token)."""
    if actor is None or actor.is_token:
        return []
    return [item for item in nav if actor.roles & item.roles]


# -- settings and actor from the request ------------------------------------


def settings_of(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def actor_of(request: Request[Any, Any, Any]) -> Actor | None:
    user = request.scope.get("user")
    return user if isinstance(user, Actor) else None


def now_of(request: Request[Any, Any, Any]) -> datetime:
    clock = request.app.state.clock
    value: datetime = clock()
    return value


# -- flash messages (a signed cookie, read once) -----------------------------


def _sign(settings: Settings, payload: bytes) -> str:
    key = (settings.secret_key.get_secret_value() if settings.secret_key else "unset").encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def flash_cookie(settings: Settings, message: str, level: str = "success") -> Cookie:
    payload = base64.urlsafe_b64encode(json.dumps([level, message]).encode())
    value = payload.decode() + "." + _sign(settings, payload)
    return Cookie(key=FLASH_COOKIE, value=value, httponly=True, secure=settings.cookie_secure, samesite="lax", path="/")


def read_flash(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, signature = raw.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(settings_of(request), payload.encode())):
        return None
    try:
        level, message = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, TypeError):
        return None
    return str(level), str(message)


def redirect(
    request: Request[Any, Any, Any], path: str, message: str | None = None, level: str = "success"
) -> Redirect:
    """A 303 to a page of ours, with an optional message shown there once."""
    cookies = [flash_cookie(settings_of(request), message, level)] if message else []
    return Redirect(path=path, status_code=303, cookies=cookies)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only redirect to our own paths after sign-in (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


# -- rendering ----------------------------------------------------------------


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    """Render a page with what every page needs: who is signed in, navigation, flash."""
    actor = actor_of(request)
    flash = read_flash(request)
    settings = settings_of(request)
    cookies = []
    if flash:
        cookies.append(Cookie(key=FLASH_COOKIE, value="", max_age=0, path="/", secure=settings.cookie_secure))
    base: dict[str, Any] = {
        "actor": actor,
        "nav": nav_for(actor, request.app.state.nav),
        "flash": flash,
        "org_name": settings.organisation_name,
        "tz_name": settings.timezone,
        "now": now_of(request),
        "path": request.url.path,
        "errors": {},
        "values": {},
    }
    base.update(context)
    return Template(template_name=template, context=base, status_code=status, cookies=cookies)


async def form_data(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Single-valued form fields, stripped of the CSRF token."""
    form = await request.form()
    data = {k: v for k, v in form.items() if k != "_csrf_token" and isinstance(v, str)}
    return data


async def form_list(request: Request[Any, Any, Any], name: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getall(name) if isinstance(v, str)] if name in form else []


# -- request bodies -------------------------------------------------------------

NOT_UTF8 = "The body is not UTF-8 text; JSON must be UTF-8."
NOT_JSON = "The body is not valid JSON."
TOO_DEEP = "The body nests deeper than {limit} levels; no request needs that."


def nests_deeper_than(value: Any, limit: int) -> bool:
    """True when lists and objects in a decoded JSON value nest more than `limit` deep
    (an empty list or object is one level). Iterative, so depth costs no stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class TrimRequest(Request[Any, Any, Any]):
    """Litestar's request, except that a JSON body which is not UTF-8, is malformed, or nests
    deeper than TRIM_MAX_JSON_DEPTH is a 400 with the contract's JSON error, never a 500
    (the decoder raises UnicodeDecodeError or RecursionError on such bodies)."""

    async def json(self) -> Any:
        if self._json is Empty and self._connection_state.json is Empty:
            body = await self.body()
            limit = settings_of(self).max_json_depth
            try:
                body.decode("utf-8")  # the decoder only notices bad bytes inside strings
                value = decode_json(body or b"null", type_decoders=self.route_handler.resolve_type_decoders())
            except UnicodeDecodeError:
                raise ClientException(NOT_UTF8) from None
            except RecursionError:
                raise ClientException(TOO_DEEP.format(limit=limit)) from None
            except SerializationException:
                raise ClientException(NOT_JSON) from None
            if nests_deeper_than(value, limit):
                raise ClientException(TOO_DEEP.format(limit=limit))
            self._json = self._connection_state.json = value
        return await super().json()


# -- errors -------------------------------------------------------------------


def wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/api" or path == "/health" or path.startswith("/schema"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def json_error(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"detail": detail, "errors": errors or []}
    body.update(extra)
    return Response(content=body, status_code=status, headers=dict(headers or {}), media_type="application/json")


ERROR_DESCRIPTIONS = {
    400: "The request is not valid",
    401: "Not signed in",
    403: "The CSRF token is missing or wrong",
    404: "Not found, or not yours",
    409: "Conflicts with the record's current state",
    415: "The body is not application/json",
    422: "The input is not valid",
    429: "Too many attempts; see Retry-After",
}


def api_errors(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI documentation of the contract's JSON errors for a route."""
    from trim.accounts.schemas import ErrorOut

    # No generated examples: Litestar fills them with random strings, new on every start.
    return {
        code: ResponseSpec(
            data_container=ErrorOut, description=ERROR_DESCRIPTIONS.get(code, "Error"), generate_examples=False
        )
        for code in codes
    }


CHARACTER_NOT_IN_REPERTOIRE = "22021"  # PostgreSQL's SQLSTATE for text it cannot store (NUL)

ERROR_TEMPLATES = {
    400: "errors/400.html",
    403: "errors/403.html",
    404: "errors/404.html",
    429: "errors/429.html",
    503: "errors/503.html",
}
# SQLSTATEs that mean the database could not be reached, not that the request was wrong:
# class 08 (connection exception), class 53 (insufficient resources: 53300 "too many
# connections", out of memory, disk full), and the server shutting down or still starting.
UNREACHABLE_SQLSTATE_CLASSES = ("08", "53")
UNREACHABLE_SQLSTATES = ("57P01", "57P02", "57P03")
RETRY_AFTER_SECONDS = 5


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc` says the database is down or restarting (or every connection is
    busy), so the answer is 503 and "try again", not a 500 and a bug report."""
    if isinstance(exc, PoolTimeoutError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
        return True
    if not isinstance(exc, (DBAPIError, ConnectionError, TimeoutError)):
        return False
    # asyncpg's own errors (wrapped by SQLAlchemy) carry a SQLSTATE; a connection that
    # fails while it is being opened surfaces as a bare ConnectionError.
    seen: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else exc
    while seen is not None:
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith(UNREACHABLE_SQLSTATE_CLASSES) or sqlstate in UNREACHABLE_SQLSTATES
        ):
            return True
        if isinstance(seen, (ConnectionError, TimeoutError)):  # refused, reset, timed out
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def error_page(
    request: Request[Any, Any, Any], status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    template = ERROR_TEMPLATES.get(status, "errors/400.html" if status < 500 else "errors/500.html")
    response = page(request, template, status=status, detail=detail)
    response.headers.update(dict(headers or {}))
    return response


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """One handler for everything: the API's JSON error, or a friendly page."""
    headers: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if isinstance(exc, TrimError):
        status, detail = exc.status_code, exc.detail
        errors = [e.as_dict() for e in exc.errors]
        extra = dict(exc.extra)
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after_seconds)
    elif isinstance(exc, ValidationException):
        status = 400
        detail = "The request is not valid."
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                errors.append({"field": str(item.get("key", "")), "message": str(item.get("message", ""))})
        if errors:
            detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    elif isinstance(exc, HTTPException):
        status, detail = exc.status_code, exc.detail
        headers.update(exc.headers or {})
        if status == 404:
            detail = "Not found"
        elif status == 403 and "CSRF" in detail:
            detail = "The form's security token is missing or has expired. Reload the page and try again."
        elif status == 405:
            detail = "Method not allowed"
    elif isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == CHARACTER_NOT_IN_REPERTOIRE:
        # PostgreSQL cannot store some characters (NUL) in text: bad input, not our failure.
        status, detail = 400, "The request contains a character that cannot be stored (such as NUL)."
    elif database_unreachable(exc):
        # Not a bug: PostgreSQL is restarting or out of reach. The pool reconnects by
        # itself; the client should simply try again (the API's Idempotency-Key makes
        # a retried change safe).
        log.warning("database unreachable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        status, detail = 503, "The service is briefly unavailable."
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        status, detail = HTTP_500_INTERNAL_SERVER_ERROR, "Something went wrong on our side. Nothing you did caused it."

    if wants_json(request):
        if isinstance(exc, NotAuthorizedException):
            detail = "Sign in first."
            headers.setdefault("WWW-Authenticate", 'Bearer realm="trim"')
        return json_error(status, detail, errors, headers, **extra)
    if isinstance(exc, EnrolmentRequired):
        return Redirect(path=EnrolmentRequired.path, status_code=303)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/signin?next={quote(target)}", status_code=303)
    return error_page(request, status, detail, headers)


# Phone numbers (three digits or more, spaces allowed: "999", "116 123", "+44 20 7946 0000")
# and email addresses in text people wrote for others: crisis guidance, a service's contact.
_DIALABLE = re.compile(r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)|(?<![\w+])(?P<phone>\+?\d(?:[ -]?\d){2,14})(?![\w@])")


def contact_links(text: str | None) -> Markup:
    """`text`, escaped, with every phone number a tel: link and every email a mailto: link,
    so a number shown in a crisis can be tapped to call."""
    escaped = str(escape(text or ""))

    def link(match: re.Match[str]) -> str:
        if match.group("email"):
            address = match.group("email")
            return f'<a href="mailto:{address}">{address}</a>'
        number = match.group("phone")
        return f'<a href="tel:{re.sub(r"[ -]", "", number)}">{number}</a>'

    # Safe: the text is escaped first; what the links add is digits, "+" and [\w.+-@] only.
    return Markup(_DIALABLE.sub(link, escaped))  # noqa: S704


def contact_href(method: str | None, contact: str | None) -> str | None:
    """The link for a contact given by method (phone, text, email), or None."""
    if not contact:
        return None
    if method == ContactMethod.email and "@" in contact:
        return f"mailto:{contact.strip()}"
    digits = re.sub(r"[^\d+]", "", contact)
    if method in (ContactMethod.phone, ContactMethod.text) and len(digits) >= 3:
        return f"{'sms' if method == ContactMethod.text else 'tel'}:{digits}"
    return None
