"""Signing in and out (pages and API), the home page, /api/me and /api/people."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.middleware.csrf import generate_csrf_token
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody
from litestar.response import Redirect, Template

from trim.accounts import factors, service, signin, sso
from trim.accounts.auth import json_body_only, refuse_cross_site
from trim.accounts.models import Person
from trim.accounts.schemas import ErrorOut, MeOut, PersonOut, SessionOut, SigninErrorOut, SigninIn
from trim.config import Settings
from trim.deps import Conf, Db
from trim.errors import InvalidInput, TooManyAttempts
from trim.guards import BEFORE_ENROLMENT, current_actor, requires, signed_in
from trim.web import (
    SESSION_COOKIE,
    Limit,
    Offset,
    actor_of,
    api_errors,
    form_data,
    json_error,
    now_of,
    page,
    redirect,
    safe_next,
    settings_of,
)

OTP_NEEDED = "Enter the code from your authenticator app (send it as otp, with your email and password)."


def _client_address(request: Request[Any, Any, Any]) -> str | None:
    client = request.scope.get("client")
    return client[0] if client else None


def session_cookie(settings: Settings, token: str) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value=token, httponly=True, secure=settings.cookie_secure, samesite="lax", path="/"
    )


def clear_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value="", max_age=0, httponly=True, secure=settings.cookie_secure, samesite="lax", path="/"
    )


async def finish_first_factor(
    request: Request[Any, Any, Any],
    db: Db,
    settings: Settings,
    person: Person,
    *,
    via: str,
    target: str,
    id_token: str | None = None,
) -> Redirect:
    """After the password (or an emailed link, or single sign-on): a full session with a
    fresh id, or, when they have a second factor to give, a short session that reaches
    only the code page. A single sign-on's ID token is kept with it, for signing out."""
    needs_code = await factors.is_enrolled(db, person.id) and not (via == "sso" and settings.oidc_satisfies_mfa)
    token = await signin.start_session(
        db,
        person=person,
        now=now_of(request),
        settings=settings,
        replacing=request.cookies.get(SESSION_COOKIE),
        stage="code" if needs_code else "full",
        via=via,
        id_token=id_token,
    )
    path = f"/signin/code?next={quote(target)}" if needs_code else target
    return Redirect(path=path, status_code=303, cookies=[session_cookie(settings, token)])


async def sso_signout(request: Request[Any, Any, Any], settings: Settings, *, id_token: str | None) -> Response[Any]:
    """Signed out here; now send the browser to the provider to end its session too, so
    the next person at a shared computer is not signed straight back in as this one."""
    url = await sso.logout_url(settings, id_token=id_token)
    if url is not None and sso.origin(url) in sso.form_action_origins(settings):
        response: Response[Any] = Redirect(path=url, status_code=303)
    else:
        # No way to end it from here (or not from a form): say what is left to do.
        response = page(request, "accounts/signed_out.html", logout_url=url, sso_label=settings.sso_button_label)
    response.cookies.append(clear_session_cookie(settings))
    return response


def password_signin_off(settings: Settings) -> str:
    return f"Password sign-in is switched off here. Use '{settings.sso_button_label}' on the sign-in page."


def signin_page(request: Request[Any, Any, Any], *, status: int = 200, **context: Any) -> Template:
    settings = settings_of(request)
    return page(
        request,
        "accounts/signin.html",
        status=status,
        password_signin=settings.password_signin_enabled,
        sso_label=settings.sso_button_label if settings.sso_enabled else None,
        **context,
    )


class SigninPages(Controller):
    include_in_schema = False

    @get("/signin")
    async def signin_form(
        self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        if actor_of(request) is not None:
            return Redirect(path=safe_next(next), status_code=303)
        return signin_page(request, values={"next": safe_next(next)})

    @post("/signin", guards=[refuse_cross_site])
    async def signin_submit(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[Any]:
        form = await form_data(request)
        email, password = form.get("email", "").strip(), form.get("password", "")
        target = safe_next(form.get("next"))
        values = {"email": email, "next": target}
        if not settings.password_signin_enabled:
            return signin_page(request, status=401, values=values, error=password_signin_off(settings))
        if not email or not password:
            return signin_page(request, status=400, values=values, error="Enter your email address and password.")
        try:
            person = await signin.authenticate(
                db,
                email=email,
                password=password,
                address=_client_address(request),
                now=now_of(request),
                settings=settings,
            )
        except TooManyAttempts as exc:
            response = signin_page(request, status=429, values=values, error=exc.detail)
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
            return response
        except InvalidInput as exc:
            return signin_page(request, status=401, values=values, error=exc.detail)
        return await finish_first_factor(request, db, settings, person, via="password", target=target)

    @post("/signout", guards=[signed_in], opt=BEFORE_ENROLMENT)
    async def signout(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[Any]:
        token = request.cookies.get(SESSION_COOKIE)
        ended = await signin.end_session(db, token=token) if token else None
        if ended is not None and ended.via == "sso" and settings.sso_enabled:
            # Signed in through the provider: sign out there too (RP-initiated logout).
            return await sso_signout(request, settings, id_token=signin.sso_id_token(settings, ended))
        response = redirect(request, "/signin", "You have signed out.")
        response.cookies.append(clear_session_cookie(settings))
        return response


class SessionApi(Controller):
    path = "/api"
    tags = ["session"]

    @post(
        "/session",
        exclude_from_csrf=True,
        guards=[refuse_cross_site, json_body_only],
        status_code=200,
        summary="Sign in",
        description="Starts a session (a fresh session id every time) and sets the csrftoken cookie. "
        "The body must be `application/json` (415 otherwise), and a browser request from another site (an "
        "`Origin` other than this service's, or `Sec-Fetch-Site: cross-site`) is refused with 403, so no web "
        "page can sign a visitor into an account of its choosing; clients that send no `Origin` are not "
        "affected. Failed sign-ins are limited per account and per address. A person with a second factor sends "
        "`otp` (the 6-digit code from their app, or a recovery code) with the password; until then the "
        "answer is 401 with `otp_required: true`, and a wrong code counts as a failed sign-in. "
        "`enrolment_required: true` in the answer means their role needs a second factor they have not "
        "set up: every other endpoint answers 401 until they do (in a browser, at /account/second-factor).",
        responses={
            **api_errors(400, 404, 415, 429),
            403: ResponseSpec(
                data_container=ErrorOut,
                description="A browser request from another site (Origin or Sec-Fetch-Site)",
                generate_examples=False,
            ),
            401: ResponseSpec(
                data_container=SigninErrorOut,
                description="Bad credentials, a second-factor code needed or wrong, or password sign-in off",
                generate_examples=False,  # random examples would change the document on every start
            ),
        },
    )
    async def create_session(
        self, request: Request[Any, Any, Any], data: JSONBody[SigninIn], db: Db, settings: Conf
    ) -> Response[Any]:
        if not settings.password_signin_enabled:
            return json_error(401, password_signin_off(settings))
        try:
            person = await signin.authenticate(
                db,
                email=data.email,
                password=data.password,
                address=_client_address(request),
                now=now_of(request),
                settings=settings,
            )
        except TooManyAttempts as exc:
            return json_error(429, exc.detail, headers={"Retry-After": str(exc.retry_after_seconds)})
        except InvalidInput as exc:
            return json_error(401, exc.detail)
        enrolled = await factors.is_enrolled(db, person.id)
        if enrolled:
            if not data.otp:
                return json_error(401, OTP_NEEDED, otp_required=True)
            try:
                # A code is a guess like a password: counted before it is checked.
                attempt = await signin.count_attempt(
                    db, email=data.email, address=_client_address(request), now=now_of(request), settings=settings
                )
                await factors.verify(db, person_id=person.id, code=data.otp, now=now_of(request), settings=settings)
            except TooManyAttempts as exc:
                return json_error(429, exc.detail, headers={"Retry-After": str(exc.retry_after_seconds)})
            except InvalidInput as exc:
                return json_error(401, exc.detail, otp_required=True)
            await signin.attempt_succeeded(db, attempt)
        token = await signin.start_session(
            db, person=person, now=now_of(request), settings=settings, replacing=request.cookies.get(SESSION_COOKIE)
        )
        roles = await service.roles_of(db, person.id)
        csrf_cookie = request.cookies.get("csrftoken") or generate_csrf_token(settings.secret())
        body = SessionOut(
            id=person.id,
            name=person.name,
            roles=roles,
            enrolment_required=signin.must_enrol(roles, enrolled=enrolled, via="password", settings=settings),
        )
        return Response(
            content=body.model_dump(mode="json"),
            status_code=200,
            cookies=[
                session_cookie(settings, token),
                Cookie(key="csrftoken", value=csrf_cookie, secure=settings.cookie_secure, samesite="lax", path="/"),
            ],
        )

    @delete(
        "/session",
        guards=[signed_in],
        opt=BEFORE_ENROLMENT,
        status_code=204,
        summary="Sign out",
        responses=api_errors(401, 403, 404),
    )
    async def end_session(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[None]:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await signin.end_session(db, token=token)
        return Response(content=None, status_code=204, cookies=[clear_session_cookie(settings)])

    @get("/me", guards=[signed_in], summary="Who am I", responses=api_errors(401, 404))
    async def me(self, request: Request[Any, Any, Any], db: Db) -> MeOut:
        actor = current_actor(request)
        person = await service.person_view(db, actor.person_id)
        return MeOut(
            id=person.id,
            name=person.name,
            email=person.email,
            staff_number=person.staff_number,
            roles=person.roles,
            station_id=person.station_id,
        )

    @get(
        "/people",
        guards=[requires("lead", "admin", "supervisor", "peer")],
        summary="People the caller may pick",
        responses=api_errors(400, 401, 404, 422),
    )
    async def people(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        q: FromQuery[str | None] = None,
        role: FromQuery[str | None] = None,
        station_id: FromQuery[uuid.UUID | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[PersonOut]:
        found = await service.search_people(
            db, actor=current_actor(request), q=q, role=role, station_id=station_id, limit=limit, offset=offset
        )
        return [
            PersonOut(
                id=p.id, name=p.name, staff_number=p.staff_number, email=p.email, station_id=p.station_id, roles=p.roles
            )
            for p in found
        ]
