"""The peer's "People I check in with", the person's "Check-ins for you", the lead's overview,
and a peer's calendar feed of them."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from trim.accounts import service as accounts
from trim.accounts.rules import PRIVILEGED_ROLES
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput, NotFound
from trim.flags import service as flags
from trim.followups import eligibility, rules, service
from trim.followups.models import CheckInStatus
from trim.guards import current_actor, requires, signed_in
from trim.incidents.models import KIND_LABELS
from trim.notifications import ical
from trim.notifications import service as notifications
from trim.privacy import audit
from trim.reports import feedback
from trim.web import form_data, nav_item, now_of, page, redirect

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("People I check in with", "/checkins", "peer", place=10),
    nav_item("Overview", "/overview", "lead", place=40),
    nav_item("Check-ins for you", "/me/checkins", "responder", place=110),
)

CALENDAR_NAME = "Peer check-ins"


def _group(views: list[service.CheckinView]) -> dict[str, list[service.CheckinView]]:
    groups: dict[str, list[service.CheckinView]] = {"overdue": [], "due": [], "upcoming": []}
    for view in views:
        groups.setdefault(view.status, []).append(view)
    return groups


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class CheckinPages(Controller):
    include_in_schema = False

    @get("/checkins", guards=[requires("peer")])
    async def mine(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """A peer's work: overdue, due now, upcoming; big targets for a phone."""
        actor = current_actor(request)
        now = now_of(request)
        open_views = await service.list_checkins(
            db, actor=actor, statuses=rules.OPEN_STATUSES, now=now, settings=settings, mine_as="peer", limit=500
        )
        done = await service.list_checkins(
            db, actor=actor, statuses=rules.CLOSED_STATUSES, now=now, settings=settings, mine_as="peer", limit=500
        )
        done = sorted(
            (v for v in done if v.status != CheckInStatus.cancelled),
            key=lambda v: v.recorded_at or v.due_at,
            reverse=True,
        )[:10]
        return page(request, "followups/mine.html", groups=_group(open_views), done=done, labels=rules.STATUS_LABELS)

    @get("/me/checkins", guards=[signed_in])
    async def for_me(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """What is planned for me, and with whom."""
        actor = current_actor(request)
        views = await service.list_checkins(
            db,
            actor=actor,
            statuses=rules.STATUSES,
            now=now_of(request),
            settings=settings,
            mine_as="person",
            limit=500,
        )
        now = now_of(request)
        # Stopped by "no more check-ins" recently: one undo per incident, with a check-in to name it by.
        undoable = {
            v.exposure_id: v
            for v in views
            if v.status == CheckInStatus.cancelled
            and v.outcome_reason == rules.OPT_OUT_REASON
            and v.recorded_at is not None
            and now - v.recorded_at <= settings.opt_out_undo
        }
        about = await service.incidents_about(
            db, actor=actor, incident_ids=[v.incident_id for v in views if v.incident_id is not None]
        )
        # Design section 14: open, not yet answered, and within the early window.
        answerable = {
            v.id
            for v in views
            if v.status in rules.OPEN_STATUSES
            and v.self_answered_at is None
            and not rules.too_early(due_at=v.due_at, now=now, early=settings.early_record)
        }
        return page(
            request,
            "followups/for_me.html",
            checkins=views,
            answerable=answerable,
            labels=rules.STATUS_LABELS,
            incidents=about,
            undoable=list(undoable.values()),
            undo_window=settings.opt_out_undo,
            feedback_offers=[
                o for o in await feedback.offers(db, actor=actor, settings=settings) if o.about == "exposure"
            ],
        )

    @post("/checkins/{checkin_id:uuid}/different-peer", guards=[signed_in])
    async def different_peer(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        actor, now = current_actor(request), now_of(request)
        view = await service.checkin_header(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        if view.exposure_id is None:
            moved = await service.move_periodic_on_request(
                db, actor=actor, checkin_id=checkin_id, now=now, settings=settings
            )
            if moved:
                return redirect(
                    request,
                    "/me/checkins",
                    "Thank you. Another peer will check in with you; your peer is not told why.",
                )
        else:
            await service.request_different_peer(db, actor=actor, checkin_id=checkin_id, now=now)
        return redirect(
            request,
            "/me/checkins",
            "Thank you. The programme lead will arrange a different peer; your current peer is not told.",
        )

    @post("/checkins/{checkin_id:uuid}/peer", guards=[requires("lead")])
    async def reassign(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """The lead gives a periodic check-in (no incident to reassign from) to another peer."""
        back = f"/checkins/{checkin_id}"
        peer_id = _uuid((await form_data(request)).get("peer_id"))
        if peer_id is None:
            return redirect(request, back, "Choose a peer supporter.", "error")
        try:
            await service.reassign_checkin(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                peer_id=peer_id,
                now=now_of(request),
                settings=settings,
            )
        except (InvalidInput, Conflict) as exc:
            return redirect(request, back, exc.detail, "error")
        return redirect(request, back, "Reassigned.")

    @post("/checkins/{checkin_id:uuid}/return-to-work", guards=[signed_in])
    async def return_to_work(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """ "I'm back at work on DATE": the person or their peer starts the follow-up."""
        back = f"/checkins/{checkin_id}"
        raw = (await form_data(request)).get("returned_on", "").strip()
        try:
            returned_on = date.fromisoformat(raw)
        except ValueError:
            return redirect(request, back, "Give the date back at work, for example 2026-12-07.", "error")
        try:
            started = await service.start_return_to_work(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                returned_on=returned_on,
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            return redirect(request, back, exc.detail, "error")
        if started.already:
            return redirect(request, back, "The return-to-work follow-up was already started; nothing has changed.")
        weeks = ", ".join(rules.kind_label(c.kind).lower() for c in started.checkins)
        return redirect(request, back, f"Return-to-work check-ins planned: {weeks}, with the same peer.")

    @get("/overview", guards=[requires("lead")])
    async def overview(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        station_id: FromQuery[str | None] = None,
        peer_id: FromQuery[str | None] = None,
        incident_id: FromQuery[str | None] = None,
    ) -> Template:
        """Everything open across the programme: unassigned first, then overdue."""
        actor = current_actor(request)
        now = now_of(request)
        filters = service.CheckinFilter(
            station_id=_uuid(station_id), peer_id=_uuid(peer_id), incident_id=_uuid(incident_id)
        )
        unassigned = await service.list_checkins(
            db,
            actor=actor,
            statuses=rules.OPEN_STATUSES,
            now=now,
            settings=settings,
            filters=dataclasses.replace(filters, unassigned=True),
            limit=200,
        )
        open_views = await service.list_checkins(
            db, actor=actor, statuses=("overdue", "due"), now=now, settings=settings, limit=500, filters=filters
        )
        upcoming = await service.list_checkins(
            db, actor=actor, statuses=("upcoming",), now=now, settings=settings, limit=100, filters=filters
        )
        role_changes = await audit.recent(db, actions=("person.roles_changed",), limit=10)
        # Section 13: why nobody qualifies for each waiting person, and who is lapsing soon.
        why_unassigned = await eligibility.unassigned_reasons(
            db,
            actor=actor,
            exposure_ids=list({v.exposure_id for v in unassigned if v.exposure_id is not None}),
            now=now,
            settings=settings,
        )
        lapsing = await eligibility.lapsing_soon(db, actor=actor, now=now, settings=settings)
        return page(
            request,
            "followups/overview.html",
            urgent=await flags.urgent_overview(db, actor=actor, now=now),
            kinds=KIND_LABELS,
            # Other areas' parts of the overview (planning due, section 12), composed in app.py.
            **{
                name: await provide(db, actor=actor, now=now, settings=settings)
                for name, provide in request.app.state.overview_parts.items()
            },
            unassigned=unassigned,
            why_unassigned=why_unassigned,
            lapsing=lapsing,
            overdue=[v for v in open_views if v.status == CheckInStatus.overdue and v.peer_id],
            due=[v for v in open_views if v.status == CheckInStatus.due and v.peer_id],
            upcoming=[v for v in upcoming if v.peer_id],
            counts=await service.count_by_status(db, actor=actor, now=now, settings=settings),
            change_requests=await service.open_change_requests(db, actor=actor),
            peers=await service.peer_loads(db, actor=actor),
            stations=await accounts.list_stations(db),
            role_changes=role_changes,
            privileged_roles=PRIVILEGED_ROLES,
            people_names=await accounts.names_by_id(
                db, [e.target_id for e in role_changes] + [e.actor_id for e in role_changes]
            ),
            filters={k: str(v) if v else "" for k, v in dataclasses.asdict(filters).items()},
            labels=rules.STATUS_LABELS,
        )

    @post("/overview/assign-unassigned", guards=[requires("lead")])
    async def assign_unassigned(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Redirect:
        count = await service.assign_unassigned(
            db, actor=current_actor(request), now=now_of(request), settings=settings
        )
        if count == 0:
            return redirect(request, "/overview", "Still nobody qualifies: assign these by hand.", "warning")
        return redirect(request, "/overview", f"{count} {'person' if count == 1 else 'people'} now have a peer.")


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
                summary="Peer check-in (overdue)" if status == CheckInStatus.overdue else "Peer check-in",
                description="Open trim to see it.",
                url=f"{root}/checkins/{checkin_id}",
            )
            for checkin_id, due_at, status in await service.calendar_checkins(
                db, actor=owner, now=now, settings=settings
            )
        ]
        return Response(
            ical.render_calendar(events, name=CALENDAR_NAME, now=now),
            media_type="text/calendar; charset=utf-8",
        )
