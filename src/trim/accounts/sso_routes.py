"""Signing in through the organisation's identity provider (OpenID Connect)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect

from trim.accounts import service, sso
from trim.accounts.auth import BEFORE_ENROLMENT
from trim.accounts.routes import finish_first_factor
from trim.config import Settings
from trim.deps import Conf, Db
from trim.privacy import audit
from trim.web import now_of, page, redirect, safe_next

log = logging.getLogger("trim.accounts.sso")

NOT_SET_UP = "Single sign-on is not set up here. Sign in with your email address and password."
UNKNOWN = (
    "Your organisation signed you in, but there is no active account here for the email address it gave us. "
    "Ask your administrator to add you to the roster, or to check the address they hold for you."
)


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


def _refused(request: Request[Any, Any, Any], settings: Settings, detail: str, status: int) -> Response[Any]:
    response = page(
        request, "accounts/sso_refused.html", status=status, detail=detail, sso_label=settings.sso_button_label
    )
    response.cookies.append(_flow_cookie(settings, "", max_age=0))
    return response


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
            return _refused(request, settings, exc.detail, 502)
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
        error: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if not settings.sso_enabled:
            return redirect(request, "/signin", NOT_SET_UP, "error")
        cookie = request.cookies.get(sso.COOKIE)
        if error:
            return _refused(
                request, settings, "Your organisation's sign-in was cancelled or refused. Nobody was signed in.", 400
            )
        try:
            identity = await sso.finish(settings, code=code or "", state=reply_state or "", cookie=cookie)
        except sso.SsoFailed as exc:
            log.warning("single sign-on refused: %s", type(exc.__cause__).__name__ if exc.__cause__ else "checks")
            return _refused(request, settings, exc.detail, 400)
        person = await service.person_by_email(db, identity.email)
        if person is None or not person.active or person.is_pseudonym:
            log.info("single sign-on for an address with no active account")
            return _refused(request, settings, UNKNOWN, 403)
        now = now_of(request)
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
            request, db, settings, person, via="sso", target=sso.flow_next(settings, cookie)
        )
        response.cookies.append(_flow_cookie(settings, "", max_age=0))
        return response
