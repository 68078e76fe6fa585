"""/api/incidents/{id}/planning and /briefings: the planning meeting and group briefings."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody

from trim.deps import Conf, Db
from trim.errors import FieldError, InvalidInput
from trim.guards import current_actor, requires
from trim.planning import rules, service
from trim.planning.schemas import BriefingIn, BriefingOut, PlanningIn, PlanningOut, RouteOut
from trim.privacy.policy import PLANNERS
from trim.web import api_errors, now_of


def planning_out(view: service.PlanningView) -> PlanningOut:
    return PlanningOut(
        incident_id=view.incident.id,
        held=view.held,
        held_at=view.held_at,
        version=view.version,
        attendees=[pid for pid, _ in view.attendees],
        routes=[RouteOut(person_id=r.person_id, name=r.name, route=r.route, reason=r.reason) for r in view.routes],
        updated_at=view.updated_at,
        planning_due=view.due_since is not None,
        briefings=[briefing_out(b) for b in view.briefings],
    )


def briefing_out(view: service.BriefingView) -> BriefingOut:
    return BriefingOut(
        id=view.id,
        held_at=view.held_at,
        facilitator_id=view.facilitator_id,
        attendee_ids=[pid for pid, _ in view.attendees],
    )


class PlanningApi(Controller):
    path = "/api/incidents"
    tags = ["planning"]

    @get(
        "/{incident_id:uuid}/planning",
        guards=[requires(*PLANNERS)],
        summary="The planning record of an incident",
        description="For the lead and TRiM managers: when the planning meeting was held, who attended, and the "
        "route of each exposed person (risk_assessment, the default; briefing_only; no_action with a reason).",
        responses=api_errors(401, 404),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> PlanningOut:
        view = await service.planning_for(
            db, actor=current_actor(request), incident_id=incident_id, now=now_of(request), settings=settings
        )
        return planning_out(view)

    @put(
        "/{incident_id:uuid}/planning",
        guards=[requires(*PLANNERS)],
        summary="Record or change the planning meeting",
        description="Briefing only or no action cancels the person's open check-ins with that reason (they can "
        "still ask for a peer); back to risk assessment opens them again from the incident time, caught up. "
        "Send the version you read: a stale one answers 409 with what changed since. The same record sent "
        "twice changes nothing.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        incident_id: FromPath[uuid.UUID],
        data: JSONBody[PlanningIn],
    ) -> PlanningOut:
        view = await service.save_planning(
            db,
            actor=current_actor(request),
            incident_id=incident_id,
            data=service.PlanningInput(
                held_at=data.held_at,
                attendee_ids=data.attendees,
                routes=[service.RouteInput(r.person_id, r.route, r.reason) for r in data.routes],
                version=data.version,
            ),
            now=now_of(request),
            settings=settings,
        )
        return planning_out(view)

    @post(
        "/{incident_id:uuid}/briefings",
        guards=[requires(*PLANNERS)],
        status_code=201,
        summary="Record a group briefing",
        description="Date, facilitator and attendance only. Any other field (notes, summary, reactions) answers "
        "422, on purpose: " + rules.BRIEFING_WHY,
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def brief(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        incident_id: FromPath[uuid.UUID],
        data: JSONBody[BriefingIn],
    ) -> BriefingOut:
        extra = sorted(data.model_extra or {})
        if extra:
            raise InvalidInput(
                f"A briefing has no {extra[0]} field. " + rules.BRIEFING_WHY,
                [FieldError(name, "Not recorded for a briefing, by design.") for name in extra],
            )
        view = await service.record_briefing(
            db,
            actor=current_actor(request),
            incident_id=incident_id,
            held_at=data.held_at,
            facilitator_id=data.facilitator_id,
            attendee_ids=data.attendee_ids,
            now=now_of(request),
            settings=settings,
        )
        return briefing_out(view)
