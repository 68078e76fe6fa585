"""The second factor's pages: the code step of signing in, setting up an authenticator
app, and new recovery codes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from trim.accounts import factors, service, signin
from trim.accounts.routes import _client_address, session_cookie
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput, TooManyAttempts
from trim.guards import BEFORE_ENROLMENT, current_actor, signed_in
from trim.web import SESSION_COOKIE, actor_of, form_data, now_of, page, redirect, safe_next


def _code_page(request: Request[Any, Any, Any], *, target: str, status: int = 200, **context: Any) -> Template:
    return page(request, "accounts/code.html", status=status, values={"next": target}, **context)


class CodePages(Controller):
    """The second step of signing in: reached with the short session the password gave."""

    include_in_schema = False
    opt = BEFORE_ENROLMENT

    @get("/signin/code")
    async def code_form(
        self, request: Request[Any, Any, Any], db: Db, next: FromQuery[str | None] = None
    ) -> Template | Redirect:
        target = safe_next(next)
        if actor_of(request) is not None:
            return Redirect(path=target, status_code=303)
        token = request.cookies.get(SESSION_COOKIE)
        if not token or await signin.awaiting_code(db, token=token, now=now_of(request)) is None:
            return redirect(request, "/signin", "Sign in again: the time for entering your code ran out.", "error")
        return _code_page(request, target=target)

    @post("/signin/code")
    async def code_submit(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[Any]:
        form = await form_data(request)
        target = safe_next(form.get("next"))
        now = now_of(request)
        token = request.cookies.get(SESSION_COOKIE)
        pending = await signin.awaiting_code(db, token=token, now=now) if token else None
        if pending is None or token is None:
            return redirect(request, "/signin", "Sign in again: the time for entering your code ran out.", "error")
        _, person = pending
        code = form.get("code", "").strip() or form.get("recovery_code", "").strip()
        if not code:
            return _code_page(
                request, target=target, status=400, errors={"code": "Enter the 6-digit code from your app."}
            )
        address = _client_address(request)
        try:
            attempt = await signin.count_attempt(db, email=person.email, address=address, now=now, settings=settings)
            await factors.verify(db, person_id=person.id, code=code, now=now, settings=settings)
        except TooManyAttempts as exc:
            response = _code_page(request, target=target, status=429, error=exc.detail)
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
            return response
        except InvalidInput as exc:
            return _code_page(request, target=target, status=401, errors=exc.field_messages())
        await signin.attempt_succeeded(db, attempt)
        # A fresh session id for the full session: the half-way one is ended.
        fresh = await signin.renew_session(db, token=token, person=person, now=now, settings=settings)
        return Redirect(path=target, status_code=303, cookies=[session_cookie(settings, fresh)])


class SecondFactorPages(Controller):
    path = "/account/second-factor"
    include_in_schema = False

    @get("/", guards=[signed_in], opt=BEFORE_ENROLMENT)
    async def setup(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        actor = current_actor(request)
        state = await factors.status(db, actor.person_id)
        if state.enabled:
            return page(request, "accounts/second_factor.html", state=state, setup=None)
        setup = await factors.begin_enrolment(db, actor=actor, now=now_of(request), settings=settings)
        return page(request, "accounts/second_factor.html", state=state, setup=setup, forced=actor.must_enrol)

    @post("/", guards=[signed_in], opt=BEFORE_ENROLMENT)
    async def confirm(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[Any]:
        actor = current_actor(request)
        form = await form_data(request)
        now = now_of(request)
        try:
            codes = await factors.confirm_enrolment(
                db, actor=actor, code=form.get("code", ""), now=now, settings=settings
            )
        except Conflict as exc:
            return redirect(request, "/account/second-factor", exc.detail)
        except InvalidInput as exc:
            state = await factors.status(db, actor.person_id)
            setup = await factors.begin_enrolment(db, actor=actor, now=now, settings=settings)
            return page(
                request,
                "accounts/second_factor.html",
                status=422,
                state=state,
                setup=setup,
                forced=actor.must_enrol,
                errors=exc.field_messages(),
            )
        # Signing in is now worth more: a fresh session id for it (signed in the same way).
        fresh = await signin.renew_session(
            db,
            token=request.cookies.get(SESSION_COOKIE) or "",
            person=await service.get_person(db, actor.person_id),
            now=now,
            settings=settings,
        )
        response = page(request, "accounts/recovery_codes.html", codes=codes, first=True)
        response.cookies.append(session_cookie(settings, fresh))
        return response

    @post("/recovery-codes", guards=[signed_in])
    async def new_recovery_codes(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        actor = current_actor(request)
        form = await form_data(request)
        try:
            codes = await factors.regenerate_recovery_codes(
                db, actor=actor, code=form.get("code", ""), now=now_of(request), settings=settings
            )
        except InvalidInput as exc:
            state = await factors.status(db, actor.person_id)
            return page(
                request, "accounts/second_factor.html", status=422, state=state, setup=None, errors=exc.field_messages()
            )
        return page(request, "accounts/recovery_codes.html", codes=codes, first=False)
