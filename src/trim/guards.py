"""The coarse role guards every area's controllers use, and who is asking.

Guards check roles only and answer 404 like everything else that is not the caller's
(a signed-out caller gets 401, which pages turn into the sign-in page). Row-level
decisions belong to trim.privacy. They read the Actor that trim.accounts.auth's
middleware put in scope and need nothing else from any area, so a page in any area can
use them without importing accounts (which sends its mail through notifications).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers.base import BaseRouteHandler

from trim.accounts.actor import Actor
from trim.errors import EnrolmentRequired


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """Who is asking; 401 ("Sign in first.") when nobody is signed in."""
    user = connection.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("Sign in first.")
    return user


# Coroutines, not plain functions: Litestar runs a plain guard in a worker thread
# (a thread hop per guard per request, ~7% of a dashboard request's time).
Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: anyone signed in; a token only on routes that grant its scope (else 404)."""
    actor = current_actor(connection)
    if actor.is_token:
        _check_token_scope(actor, handler)


def _check_token_scope(actor: Actor, handler: BaseRouteHandler) -> None:
    scope = handler.opt.get("token_scope")
    if not scope or scope not in actor.token_scopes:
        raise NotFoundException()


def requires(*roles: str) -> Guard:
    """Signed in and holding one of these roles; otherwise 401 or 404.

    A route that an integration token may call names it with opt={"token_scope": ...}."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        actor = current_actor(connection)
        if actor.is_token:
            _check_token_scope(actor, handler)
            return
        if not actor.has(*roles):
            raise NotFoundException()

    guard.__name__ = f"requires_{'_or_'.join(roles)}"
    guard.roles = roles  # type: ignore[attr-defined]  # read by the route-by-role test
    return guard


async def second_factor_gate(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide: a person whose roles need a second factor they have not set up reaches
    only the routes marked opt={"before_enrolment": True} (the set-up, signing out, the
    public sign-in pages); pages send them to the set-up, the API answers 401."""
    user = connection.scope.get("user")
    if isinstance(user, Actor) and user.must_enrol and not handler.opt.get("before_enrolment"):
        raise EnrolmentRequired()


BEFORE_ENROLMENT = {"before_enrolment": True}


async def no_tokens_by_default(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide: an integration token reaches only routes that name its scope."""
    user = connection.scope.get("user")
    if isinstance(user, Actor) and user.is_token:
        _check_token_scope(user, handler)
