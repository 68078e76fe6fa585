"""Confirming a new sign-in email from the link emailed to that address.

Public, like the other link pages: the link's secret token is the only key. Opening the
link changes nothing (mail scanners open links); the button on the page confirms. Every
link that is unknown, used, expired or replaced by a later change gets the same 404 page.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from trim.accounts import email_change, links
from trim.accounts.actor import Actor
from trim.deps import Conf, Db
from trim.errors import Conflict, NotFound
from trim.guards import BEFORE_ENROLMENT
from trim.web import now_of, page


def _gone(request: Request[Any, Any, Any]) -> Template:
    return page(request, "accounts/link_gone.html", status=404, purpose=links.EMAIL, detail=links.GONE)


class EmailChangePages(Controller):
    include_in_schema = False
    opt = BEFORE_ENROLMENT

    @get("/email/confirm/{token:str}")
    async def confirm_form(self, request: Request[Any, Any, Any], db: Db, token: FromPath[str]) -> Template:
        try:
            pending = await email_change.pending_for_link(db, token=token, now=now_of(request))
        except NotFound:
            return _gone(request)
        return page(
            request, "accounts/confirm_email.html", new_email=pending.new_email, action=links.PATHS[links.EMAIL] + token
        )

    @post("/email/confirm/{token:str}")
    async def confirm(self, request: Request[Any, Any, Any], db: Db, settings: Conf, token: FromPath[str]) -> Template:
        user = request.scope.get("user")
        try:
            person = await email_change.confirm(
                db,
                token=token,
                actor=user if isinstance(user, Actor) else None,
                now=now_of(request),
                settings=settings,
            )
        except NotFound:
            return _gone(request)
        except Conflict as exc:
            return page(request, "accounts/confirm_email.html", status=409, error=exc.detail)
        return page(request, "accounts/confirm_email.html", confirmed=True, new_email=person.email)
