"""Getting in by emailed link: accepting an invitation, a forgotten password, a reset.

These pages are public: a link's secret token is the only key. Every link that is
unknown, used or expired gets the same page (404), with a way to ask for a new one.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.accounts import links
from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.accounts.routes import _client_address, finish_first_factor, password_signin_off
from trim.accounts.rules import is_valid_email, normalize_email
from trim.config import Settings
from trim.deps import Conf, Db
from trim.errors import InvalidInput, NotFound, TooManyAttempts
from trim.guards import BEFORE_ENROLMENT
from trim.web import form_data, now_of, page, settings_of

SENT = (
    "If an account uses that address, we have emailed it a link. It may take a few minutes to arrive; "
    "check your junk folder too. The link works once."
)


def _gone(request: Request[Any, Any, Any], purpose: str) -> Template:
    return page(request, "accounts/link_gone.html", status=404, purpose=purpose, detail=links.GONE)


def _sso_only(request: Request[Any, Any, Any], settings: Settings) -> Template:
    return page(
        request,
        "accounts/sso_only.html",
        detail=password_signin_off(settings),
        sso_label=settings.sso_button_label,
    )


def _choose_form(
    request: Request[Any, Any, Any], person: Person, purpose: str, token: str, *, status: int = 200, **context: Any
) -> Template:
    return page(
        request,
        "accounts/choose_password.html",
        status=status,
        purpose=purpose,
        action=links.PATHS[purpose] + token,
        username=person.email,
        min_length=settings_of(request).password_min_length,
        **context,
    )


async def _show(request: Request[Any, Any, Any], db: Db, settings: Settings, token: str, purpose: str) -> Template:
    if not settings.password_signin_enabled:
        return _sso_only(request, settings)
    try:
        person = await links.person_for_link(db, token=token, purpose=purpose, now=now_of(request))
    except NotFound:
        return _gone(request, purpose)
    return _choose_form(request, person, purpose, token)


async def _choose(
    request: Request[Any, Any, Any], db: Db, settings: Settings, token: str, purpose: str
) -> Response[Any]:
    if not settings.password_signin_enabled:
        return _sso_only(request, settings)
    form = await form_data(request)
    try:
        person = await links.choose_password(
            db,
            token=token,
            purpose=purpose,
            password=form.get("password", ""),
            confirm=form.get("confirm", ""),
            now=now_of(request),
            settings=settings,
        )
    except NotFound:
        return _gone(request, purpose)
    except InvalidInput as exc:
        person = await links.person_for_link(db, token=token, purpose=purpose, now=now_of(request))
        return _choose_form(request, person, purpose, token, status=422, errors=exc.field_messages())
    return await finish_first_factor(request, db, settings, person, via="link", target="/")


class LinkPages(Controller):
    include_in_schema = False
    opt = BEFORE_ENROLMENT

    @get("/join/{token:str}")
    async def invitation(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, token: FromPath[str]
    ) -> Template:
        return await _show(request, db, settings, token, links.INVITE)

    @post("/join/{token:str}")
    async def accept_invitation(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, token: FromPath[str]
    ) -> Response[Any]:
        return await _choose(request, db, settings, token, links.INVITE)

    @get("/password/reset/{token:str}")
    async def reset_form(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, token: FromPath[str]
    ) -> Template:
        return await _show(request, db, settings, token, links.RESET)

    @post("/password/reset/{token:str}")
    async def reset(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, token: FromPath[str]
    ) -> Response[Any]:
        return await _choose(request, db, settings, token, links.RESET)

    @get("/password/forgot")
    async def forgot_form(self, request: Request[Any, Any, Any], settings: Conf) -> Template:
        if not settings.password_signin_enabled:
            return _sso_only(request, settings)
        return page(request, "accounts/forgot.html")

    @post("/password/forgot")
    async def forgot(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        """The same answer whether or not the address is known; only too many requests differ,
        and those are counted for unknown addresses too."""
        if not settings.password_signin_enabled:
            return _sso_only(request, settings)
        form = await form_data(request)
        email = normalize_email(form.get("email", ""))
        if not is_valid_email(email):
            return page(
                request,
                "accounts/forgot.html",
                status=422,
                values={"email": form.get("email", "")},
                errors={"email": "Enter your email address, like name@example.org."},
            )
        try:
            user = request.scope.get("user")  # whoever asks is audited as themselves, never as the person
            await links.request_link(
                db,
                email=email,
                address=_client_address(request),
                now=now_of(request),
                settings=settings,
                actor=user if isinstance(user, Actor) else None,
            )
        except TooManyAttempts as exc:
            response = page(request, "accounts/forgot.html", status=429, values={"email": email}, error=exc.detail)
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
            return response
        return page(request, "accounts/forgot.html", sent=SENT)
