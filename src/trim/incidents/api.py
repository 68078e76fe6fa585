"""/api/incidents: logging incidents and exposures, for people and integrations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import FromPath, HeaderParameter, JSONBody

from trim.deps import Conf, Db
from trim.followups import service as followups
from trim.guards import current_actor, requires
from trim.idempotency import Replay, claim_header, complete
from trim.incidents import service
from trim.incidents.schemas import (
    AddExposureIn,
    CheckinBrief,
    ExposureOut,
    IncidentChangeIn,
    IncidentIn,
    IncidentOut,
    ReassignIn,
)
from trim.privacy.policy import INCIDENT_LOGGERS
from trim.web import api_errors, now_of

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", required=False, description="Send the same key to retry safely."),
]


def incident_out(detail: service.IncidentDetail) -> IncidentOut:
    i = detail.incident
    return IncidentOut(
        id=i.id,
        occurred_at=i.occurred_at,
        kind=i.kind,
        kind_other=i.kind_other,
        station_id=i.station_id,
        summary=i.summary,
        logged_by=i.logged_by_label,
        exposures=[
            ExposureOut(
                person_id=e.person_id,
                name=e.name,
                exposure=e.exposure,
                status_visible=e.show_status,
                peer_id=e.peer_id if e.show_status else None,
                checkins=[CheckinBrief(id=c.id, kind=c.kind, due_at=c.due_at, status=c.status) for c in e.checkins]
                if e.show_status
                else None,
            )
            for e in detail.exposures
        ],
    )


class IncidentApi(Controller):
    path = "/api/incidents"
    tags = ["incidents"]

    @post(
        "/",
        guards=[requires(*INCIDENT_LOGGERS)],
        opt={"token_scope": "incidents:write"},
        status_code=201,
        summary="Log an incident",
        description="Schedules every exposed person's check-ins. Integrations use a bearer token and may name "
        "people by staff_number. The same Idempotency-Key with the same body replays the first answer.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        data: JSONBody[IncidentIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        actor = current_actor(request)
        claimed = await claim_header(
            db,
            idempotency_key,
            scope=f"{actor.audit_id}:incidents.create",
            body=data.model_dump(mode="json"),
            now=now_of(request),
            settings=settings,
            safe_to_forget=False,  # nothing else stops the same incident being logged twice
        )
        if isinstance(claimed, Replay):
            return Response(claimed.body, status_code=claimed.status_code)
        incident = await service.log_incident(
            db,
            actor=actor,
            data=service.IncidentInput(
                occurred_at=data.occurred_at,
                kind=data.kind,
                kind_other=data.kind_other,
                station_id=data.station_id,
                summary=data.summary,
                exposures=[service.ExposureRef(e.exposure, e.person_id, e.staff_number) for e in data.exposures],
            ),
            now=now_of(request),
            settings=settings,
        )
        body = await self._detail_for_logger(db, actor, incident.id, request, settings)
        if claimed is not None:
            complete(db, claimed, status_code=201, body=body)
        return Response(body, status_code=201)

    async def _detail_for_logger(
        self, db: Db, actor: Any, incident_id: uuid.UUID, request: Request[Any, Any, Any], settings: Conf
    ) -> dict[str, Any]:
        if actor.is_token:
            # The integration sees what it sent: facts and names, no status.
            detail = await service.incident_detail_for_token(db, actor=actor, incident_id=incident_id)
        else:
            detail = await service.incident_detail(
                db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
            )
        return incident_out(detail).model_dump(mode="json")

    @get(
        "/{incident_id:uuid}",
        guards=[requires("lead", "peer", "supervisor", "responder")],
        summary="An incident, as the caller may see it",
        responses=api_errors(401, 404),
    )
    async def read(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, incident_id: FromPath[uuid.UUID]
    ) -> IncidentOut:
        detail = await service.incident_detail(
            db, actor=current_actor(request), incident_id=incident_id, now=now_of(request), settings=settings
        )
        return incident_out(detail)

    @patch(
        "/{incident_id:uuid}",
        guards=[requires(*INCIDENT_LOGGERS)],
        summary="Correct an incident's facts",
        description="A new time moves open check-ins, never recorded ones.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def change(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        incident_id: FromPath[uuid.UUID],
        data: JSONBody[IncidentChangeIn],
    ) -> IncidentOut:
        actor = current_actor(request)
        await service.change_incident(
            db,
            actor=actor,
            incident_id=incident_id,
            data=service.IncidentInput(
                occurred_at=data.occurred_at,
                kind=data.kind,
                kind_other=data.kind_other,
                station_id=data.station_id,
                summary=data.summary,
            ),
            now=now_of(request),
            settings=settings,
        )
        detail = await service.incident_detail(
            db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
        )
        return incident_out(detail)

    @post(
        "/{incident_id:uuid}/exposures",
        guards=[requires(*INCIDENT_LOGGERS)],
        status_code=201,
        summary="Add an exposed person",
        description="Schedules their check-ins from the incident time.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def add_exposure(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        incident_id: FromPath[uuid.UUID],
        data: JSONBody[AddExposureIn],
    ) -> IncidentOut:
        actor = current_actor(request)
        await service.add_exposure(
            db,
            actor=actor,
            incident_id=incident_id,
            ref=service.ExposureRef(data.exposure, data.person_id, data.staff_number),
            now=now_of(request),
            settings=settings,
        )
        detail = await service.incident_detail(
            db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
        )
        return incident_out(detail)

    @delete(
        "/{incident_id:uuid}/exposures/{person_id:uuid}",
        guards=[requires(*INCIDENT_LOGGERS)],
        status_code=204,
        summary="Remove an exposed person",
        description="Cancels what is open; keeps what was done.",
        responses=api_errors(401, 403, 404),
    )
    async def remove_exposure(
        self, request: Request[Any, Any, Any], db: Db, incident_id: FromPath[uuid.UUID], person_id: FromPath[uuid.UUID]
    ) -> None:
        await service.remove_exposure(
            db, actor=current_actor(request), incident_id=incident_id, person_id=person_id, now=now_of(request)
        )

    @post(
        "/{incident_id:uuid}/exposures/{person_id:uuid}/peer",
        guards=[requires("lead")],
        status_code=200,
        summary="Reassign a person's check-ins for this incident to another peer",
        description="409 when the peer's training has lapsed or they are resting; the detail names the date.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def reassign(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        incident_id: FromPath[uuid.UUID],
        person_id: FromPath[uuid.UUID],
        data: JSONBody[ReassignIn],
    ) -> IncidentOut:
        actor = current_actor(request)
        exposure_id = await service.exposure_id_for(db, actor=actor, incident_id=incident_id, person_id=person_id)
        await followups.reassign_exposure(
            db, actor=actor, exposure_id=exposure_id, peer_id=data.peer_id, now=now_of(request), settings=settings
        )
        detail = await service.incident_detail(
            db, actor=actor, incident_id=incident_id, now=now_of(request), settings=settings
        )
        return incident_out(detail)
