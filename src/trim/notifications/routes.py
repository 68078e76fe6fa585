"""The email and calendar page of a person's profile, and the calendar feed itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.accounts.actor import Actor
from trim.accounts.auth import current_actor, requires, signed_in
from trim.deps import Conf, Db
from trim.errors import InvalidInput, NotFound
from trim.followups import service as followups
from trim.notifications import ical, rules
from trim.notifications import service as notifications
from trim.web import form_data, now_of, page, redirect, settings_of

CALENDAR_NAME = "Peer check-ins"


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


class CalendarFeeds(Controller):
    include_in_schema = False

    @get("/calendar/{filename:str}")
    async def feed(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, filename: FromPath[str]
    ) -> Response[str]:
        """A peer's open check-ins as a calendar: times only, never names. The token in the
        path is the only key; a revoked or unknown one is a 404."""
        if not filename.endswith(".ics"):
            raise NotFound()
        owner = await notifications.calendar_owner(db, token=filename.removesuffix(".ics"))
        now = now_of(request)
        root = settings.base_url.rstrip("/")
        host = urlsplit(root).hostname or "trim"
        length = timedelta(minutes=settings.calendar_event_minutes)
        events = [
            ical.CalendarEvent(
                uid=f"checkin-{checkin_id}@{host}",
                start=due_at,
                end=due_at + length,
                summary="Peer check-in (overdue)" if status == "overdue" else "Peer check-in",
                description="Open trim to see it.",
                url=f"{root}/checkins/{checkin_id}",
            )
            for checkin_id, due_at, status in await followups.calendar_checkins(
                db, actor=owner, now=now, settings=settings
            )
        ]
        return Response(
            ical.render_calendar(events, name=CALENDAR_NAME, now=now),
            media_type="text/calendar; charset=utf-8",
        )
