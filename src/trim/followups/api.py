"""/api/checkins: the check-ins in the caller's scopes."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery

from trim.deps import Conf, Db
from trim.followups import service
from trim.followups.schemas import CheckinOut, PersonRef
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
