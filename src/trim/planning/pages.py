"""Planning pages: the list for those who hold planning meetings, an incident's planning
page (the TRiM manager's way in; the lead has the same on the incident page), and the
forms that record the meeting and a group briefing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.accounts import service as accounts
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.guards import current_actor, requires
from trim.incidents.models import KIND_LABELS
from trim.planning import service
from trim.planning.models import ROUTE_LABELS
from trim.privacy.policy import PLANNERS
from trim.web import form_data, form_list, nav_item, now_of, page, redirect

NAV = (nav_item("Planning", "/planning", *PLANNERS, place=45),)


def parse_local(value: str, settings: Any, field: str) -> datetime | None:
    """A datetime-local form value, read in the organisation's zone."""
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput.field(field, "Enter the date and time like 2026-11-26 14:30.") from None
    return naive if naive.tzinfo is not None else naive.replace(tzinfo=settings.zone, fold=0)


def _ids(values: list[str], field: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in values if v]
    except ValueError:
        raise InvalidInput.field(field, "Choose from the list.") from None


def _back(form: dict[str, str], incident_id: uuid.UUID) -> str:
    """Back to the page the form was on: the incident page (the lead) or its planning page."""
    planning_page = f"/incidents/{incident_id}/planning"
    return planning_page if form.get("back") == "planning" else f"/incidents/{incident_id}"


def conflict_message(exc: Conflict) -> str:
    """A stale planning form, in words: who changed what since the page was opened."""
    changed = exc.extra.get("changed_routes") or []
    parts = [f"{c['name']}: {ROUTE_LABELS.get(c['route'], c['route']).lower()}" for c in changed]
    what = f" Changed since: {'; '.join(parts)}." if parts else ""
    return exc.detail + what


class PlanningPages(Controller):
    include_in_schema = False

    @get("/planning", guards=[requires(*PLANNERS)])
    async def index(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """Recent incidents with whether planning was held; those due first."""
        actor = current_actor(request)
        listed = await service.planning_list(db, actor=actor, now=now_of(request), settings=settings)
        return page(
            request,
            "planning/list.html",
            due=[p for p in listed if p.due],
            listed=listed,
            kinds=KIND_LABELS,
            stations=await accounts.station_names(db),
            planning_due_hours=settings.planning_due_hours,
        )

    @get("/incidents/{incident_id:uuid}/planning", guards=[requires(*PLANNERS)])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Template:
        section = await service.planning_section(
            db, actor=current_actor(request), incident_id=incident_id, now=now_of(request), settings=settings
        )
        return page(
            request,
            "planning/detail.html",
            section=section,
            back="planning",
            kinds=KIND_LABELS,
            stations=await accounts.station_names(db),
        )

    @post("/incidents/{incident_id:uuid}/planning", guards=[requires(*PLANNERS)])
    async def save(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        back = _back(form, incident_id)
        people = _ids(await form_list(request, "person"), "routes")
        try:
            version = int(form.get("version") or "0")
            data = service.PlanningInput(
                held_at=parse_local(form.get("held_at", ""), settings, "held_at"),
                attendee_ids=_ids(await form_list(request, "attendee"), "attendees"),
                routes=[
                    service.RouteInput(pid, form.get(f"route_{pid}", "risk_assessment"), form.get(f"reason_{pid}"))
                    for pid in people
                ],
                version=version,
            )
            await service.save_planning(
                db,
                actor=current_actor(request),
                incident_id=incident_id,
                data=data,
                now=now_of(request),
                settings=settings,
            )
        except ValueError:
            return redirect(request, back, "The form was out of date: reload the page and try again.", "error")
        except InvalidInput as exc:
            return redirect(request, back + "#planning", exc.detail, "error")
        except Conflict as exc:
            return redirect(request, back + "#planning", conflict_message(exc), "error")
        return redirect(
            request,
            back + "#planning",
            "Planning meeting saved. Anyone on briefing only or no action has their open check-ins cancelled; "
            "they can still ask for a peer at any time.",
        )

    @post("/incidents/{incident_id:uuid}/briefings", guards=[requires(*PLANNERS)])
    async def brief(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> Redirect:
        form = await form_data(request)
        back = _back(form, incident_id)
        try:
            facilitator = _ids([form.get("facilitator_id", "")], "facilitator_id")
            await service.record_briefing(
                db,
                actor=current_actor(request),
                incident_id=incident_id,
                held_at=parse_local(form.get("held_at", ""), settings, "held_at"),
                facilitator_id=facilitator[0] if facilitator else None,
                attendee_ids=_ids(await form_list(request, "attendee"), "attendee_ids"),
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            return redirect(request, back + "#briefings", exc.detail, "error")
        return redirect(request, back + "#briefings", "Briefing recorded: date, who led it and who came.")
