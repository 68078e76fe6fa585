"""The email and calendar page of a person's profile (the calendar feed itself: trim.followups.pages)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from trim.accounts.actor import Actor
from trim.deps import Conf, Db
from trim.errors import InvalidInput
from trim.guards import current_actor, requires, signed_in
from trim.notifications import rules
from trim.notifications import service as notifications
from trim.web import form_data, now_of, page, redirect, settings_of


async def _context(db: Db, request: Request[Any, Any, Any], actor: Actor) -> dict[str, Any]:
    return {
        "choices": await notifications.preferences(db, actor=actor),
        "channel_labels": rules.CHANNEL_LABELS,
        "digest_hour": settings_of(request).digest_hour,
        "calendar_created": await notifications.calendar_link_created(db, actor=actor) if actor.is_peer else None,
    }


class NotificationPages(Controller):
    include_in_schema = False

    @get("/profile/notifications", guards=[signed_in])
    async def preferences(self, request: Request[Any, Any, Any], db: Db) -> Template:
        actor = current_actor(request)
        return page(request, "notifications/preferences.html", **await _context(db, request, actor))

    @post("/profile/notifications", guards=[signed_in])
    async def save_preferences(self, request: Request[Any, Any, Any], db: Db) -> Template | Redirect:
        actor = current_actor(request)
        form = await form_data(request)
        choices = {name.removeprefix("kind_"): value for name, value in form.items() if name.startswith("kind_")}
        try:
            changed = await notifications.set_preferences(db, actor=actor, choices=choices, now=now_of(request))
        except InvalidInput as exc:
            return page(
                request,
                "notifications/preferences.html",
                status=422,
                errors=exc.field_messages(),
                error=exc.detail,
                **await _context(db, request, actor),
            )
        message = "Your email choices are saved." if changed else "Nothing changed."
        return redirect(request, "/profile/notifications", message)

    @post("/profile/notifications/calendar", guards=[requires("peer")])
    async def calendar_link(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template | Redirect:
        """Make (or remake) the calendar link, shown once on the page; or turn it off."""
        actor = current_actor(request)
        form = await form_data(request)
        if form.get("action") == "revoke":
            revoked = await notifications.revoke_calendar_token(db, actor=actor, now=now_of(request))
            message = "Your calendar link no longer works." if revoked else "You had no calendar link."
            return redirect(request, "/profile/notifications", message)
        token = await notifications.new_calendar_token(db, actor=actor, now=now_of(request))
        url = f"{settings.base_url.rstrip('/')}/calendar/{token}.ics"
        return page(
            request,
            "notifications/preferences.html",
            new_calendar_url=url,
            webcal_url="webcal://" + url.split("://", 1)[1],
            **await _context(db, request, actor),
        )
