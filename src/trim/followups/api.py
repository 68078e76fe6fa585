"""/api/checkins: the check-ins in the caller's scopes."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from trim.deps import Conf, Db
from trim.followups import rules, service
from trim.followups.schemas import CheckinOut, PersonRef, ReturnCheckinOut, ReturnToWorkIn, ReturnToWorkOut
from trim.guards import current_actor, signed_in
from trim.web import Limit, Offset, api_errors, now_of


def checkin_out(view: service.CheckinView) -> CheckinOut:
    return CheckinOut(
        id=view.id,
        person=PersonRef(id=view.person_id, name=view.person_name),
        incident_id=view.incident_id,
        kind=view.kind,
        due_at=view.due_at,
        status=view.status,
        peer_id=view.peer_id,
        self_answered=view.self_answered_at is not None,
        self_completed=view.self_completed,
    )


class CheckinApi(Controller):
    path = "/api/checkins"
    tags = ["check-ins"]

    @get(
        "/",
        guards=[signed_in],
        summary="Check-ins in the caller's scopes, by due time",
        description="status: a comma-separated list of upcoming, due, overdue, completed, declined, "
        "unreachable, not_needed, cancelled (default: all).",
        responses=api_errors(400, 401, 404, 422),
    )
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        status: FromQuery[str | None] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[CheckinOut]:
        views = await service.list_checkins(
            db,
            actor=current_actor(request),
            statuses=service.parse_statuses(status),
            now=now_of(request),
            settings=settings,
            limit=limit,
            offset=offset,
        )
        return [checkin_out(v) for v in views]

    @get(
        "/{checkin_id:uuid}",
        guards=[signed_in],
        summary="One check-in in the caller's scope",
        responses=api_errors(401, 404),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> CheckinOut:
        view = await service.checkin_view(
            db, actor=current_actor(request), checkin_id=checkin_id, now=now_of(request), settings=settings
        )
        return checkin_out(view)

    @post(
        "/{checkin_id:uuid}/return-to-work",
        guards=[signed_in],
        summary="Start a return-to-work follow-up (the person or their peer)",
        description="returned_on is the day the person is back at work. Check-ins follow at the configured days "
        "after it (TRIM_RETURN_CHECKIN_DAYS, default 7 and 28) on this check-in's exposure, with the same peer and "
        "instruments. 201 when made; 200 with already_started when one was started before (nothing changes); 422 "
        "for a date before the incident or too far from today, or when there is no peer yet; 404 for anyone else.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def return_to_work(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: FromPath[uuid.UUID],
        data: JSONBody[ReturnToWorkIn],
    ) -> Response[ReturnToWorkOut]:
        now = now_of(request)
        started = await service.start_return_to_work(
            db,
            actor=current_actor(request),
            checkin_id=checkin_id,
            returned_on=data.returned_on,
            now=now,
            settings=settings,
        )
        body = ReturnToWorkOut(
            already_started=started.already,
            checkins=[
                ReturnCheckinOut(
                    id=c.id,
                    kind=c.kind,
                    due_at=c.due_at,
                    status=rules.checkin_status(
                        due_at=c.due_at, outcome=c.outcome, now=now, window=settings.due_window
                    ),
                )
                for c in started.checkins
            ],
        )
        return Response(body, status_code=200 if started.already else 201)
