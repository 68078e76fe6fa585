"""Signing in through the organisation's identity provider (OpenID Connect)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect

from trim.accounts import sso, sso_identities
from trim.accounts.routes import finish_first_factor
from trim.config import Settings
from trim.deps import Conf, Db
from trim.guards import BEFORE_ENROLMENT
from trim.privacy import audit
from trim.web import actor_of, now_of, page, redirect, safe_next

log = logging.getLogger("trim.accounts.sso")

NOT_SET_UP = "Single sign-on is not set up here. Sign in with your email address and password."
CANCELLED = "Your organisation's sign-in was cancelled or refused. Nobody was signed in."
SIGNED_OUT = "You have signed out, here and at your organisation's sign-in service."


def _flow_cookie(settings: Settings, value: str, *, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=sso.COOKIE,
        value=value,
        max_age=max_age,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        path=sso.COOKIE_PATH,
    )


def _refused(
    request: Request[Any, Any, Any], settings: Settings, detail: str, status: int, *, configuration: bool = False
) -> Response[Any]:
    response = page(
        request,
        "accounts/sso_refused.html",
        status=status,
        detail=detail,
        configuration=configuration,
        password_signin=settings.password_signin_enabled,
        sso_label=settings.sso_button_label,
    )
    response.cookies.append(_flow_cookie(settings, "", max_age=0))
    return response


def _failed(request: Request[Any, Any, Any], settings: Settings, exc: sso.SsoFailed) -> Response[Any]:
    # The reason is a code (an error name, a claim name): never a token, a name or an address.
    if exc.configuration:
        log.error("single sign-on failed, a configuration problem: %s", exc.reason)
    else:
        log.warning("single sign-on refused: %s", exc.reason)
    return _refused(request, settings, exc.detail, exc.status_code, configuration=exc.configuration)


class SsoPages(Controller):
    path = "/signin/sso"
    include_in_schema = False
    opt = BEFORE_ENROLMENT

    @get("/")
    async def start(
        self, request: Request[Any, Any, Any], settings: Conf, next: FromQuery[str | None] = None
    ) -> Response[Any]:
        if not settings.sso_enabled:
            return redirect(request, "/signin", NOT_SET_UP, "error")
        try:
            begun = await sso.start(settings, next_path=safe_next(next))
        except sso.SsoFailed as exc:
            return _failed(request, settings, exc)
        return Redirect(
            path=begun.url, status_code=303, cookies=[_flow_cookie(settings, begun.cookie, max_age=sso.FLOW_SECONDS)]
        )

    @get("/callback")
    async def callback(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        code: FromQuery[str | None] = None,
        reply_state: Annotated[str | None, QueryParameter(name="state")] = None,
        iss: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if not settings.sso_enabled:
            return redirect(request, "/signin", NOT_SET_UP, "error")
        cookie = request.cookies.get(sso.COOKIE)
        if error:
            log.info("single sign-on not completed at the provider: %s", sso.error_code({"error": error}))
            return _refused(request, settings, CANCELLED, 400)
        try:
            identity = await sso.finish(settings, code=code or "", state=reply_state or "", cookie=cookie, iss=iss)
        except sso.SsoFailed as exc:
            return _failed(request, settings, exc)
        now = now_of(request)
        try:
            person = await sso_identities.person_for(db, identity=identity, settings=settings, now=now)
        except sso_identities.SsoRefused as exc:
            log.warning("single sign-on refused: %s", exc.reason)
            return _refused(request, settings, exc.detail, exc.status_code)
        if person.joined_at is None:
            person.joined_at = now
            db.add(person)
            audit.record(
                db,
                actor=str(person.id),
                action="person.joined",
                target_type="person",
                target_id=person.id,
                subject_id=person.id,
                details={"via": "sso"},
                at=now,
            )
        response = await finish_first_factor(
            request,
            db,
            settings,
            person,
            via="sso",
            target=sso.flow_next(settings, cookie),
            id_token=identity.id_token,
        )
        response.cookies.append(_flow_cookie(settings, "", max_age=0))
        return response

    @get("/signed-out")
    async def signed_out(self, request: Request[Any, Any, Any], settings: Conf) -> Redirect:
        """Where the provider sends the browser back after signing out there too."""
        if actor_of(request) is not None:
            return Redirect(path="/", status_code=303)
        return redirect(request, "/signin", SIGNED_OUT if settings.sso_enabled else None)
