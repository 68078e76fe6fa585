"""/api/me/peer-profile, /api/peers, /api/supervision and the peer's check-in actions
(debrief, contact attempt): looking after the peer supporters (design section 13)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody

from trim.deps import Conf, Db
from trim.guards import current_actor, requires
from trim.peers import service
from trim.peers.models import SupervisionTask
from trim.peers.schemas import (
    CaseloadIn,
    CaseloadOut,
    ContactAttemptOut,
    CourseIO,
    OutcomeIn,
    PeerProfileIn,
    PeerProfileOut,
    PeerRowOut,
    SupervisionOut,
)
from trim.web import Limit, Offset, api_errors, now_of


def profile_out(p: service.PeerProfile) -> PeerProfileOut:
    return PeerProfileOut(
        available=p.available,
        resting_until=p.resting_until,
        caseload_cap=p.caseload_cap,
        open_people=p.open_people,
        courses=[CourseIO(name=c.name, completed_on=c.completed_on, refresher_due=c.refresher_due) for c in p.courses],
        supervision_due=p.supervision_due,
        not_assigned_because=p.unfit_words,
    )


def supervision_out(t: SupervisionTask) -> SupervisionOut:
    return SupervisionOut(id=t.id, peer_id=t.peer_id, created_at=t.created_at, due=t.due, outcome=t.outcome)


class PeerCareApi(Controller):
    path = "/api"
    tags = ["peer care"]

    @get(
        "/me/peer-profile",
        guards=[requires("peer")],
        summary="A peer's own availability, rest, cap, open people, courses and supervision due",
        responses=api_errors(401, 404),
    )
    async def own_profile(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> PeerProfileOut:
        found = await service.own_profile(db, actor=current_actor(request), now=now_of(request), settings=settings)
        return profile_out(found)

    @put(
        "/me/peer-profile",
        guards=[requires("peer")],
        summary="A peer sets their own availability and rest",
        description="resting_until: the last day of rest (no reason asked); null ends it; left out, it is unchanged. "
        "Going unavailable or resting hands open check-ins on by the usual rules (each person is told only that "
        "their peer has changed). 422 for a date in the past or more than TRIM_PEER_REST_MAX_DAYS ahead.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def set_own_profile(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, data: JSONBody[PeerProfileIn]
    ) -> PeerProfileOut:
        actor, now = current_actor(request), now_of(request)
        await service.set_own_profile(
            db,
            actor=actor,
            now=now,
            settings=settings,
            available=data.available,
            resting_until=data.resting_until,
            change_rest="resting_until" in data.model_fields_set,
        )
        return profile_out(await service.own_profile(db, actor=actor, now=now, settings=settings))

    @get(
        "/peers",
        guards=[requires("lead", "trim_manager")],
        summary="Every active peer: load against cap, training, rest, supervision due (counts, never whom)",
        responses=api_errors(401, 404),
    )
    async def roster(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> list[PeerRowOut]:
        rows = await service.peer_roster(db, actor=current_actor(request), now=now_of(request), settings=settings)
        return [
            PeerRowOut(
                person_id=p.person_id,
                name=p.name,
                available=p.available,
                resting_until=p.resting_until,
                caseload_cap=p.caseload_cap,
                open_people=p.open_people,
                lapses_on=p.lapses_on,
                supervision_due=p.supervision_due,
                not_assigned_because=p.unfit_words,
            )
            for p in rows
        ]

    @put(
        "/peers/{person_id:uuid}/courses",
        guards=[requires("lead")],
        summary="The lead replaces a peer's training record",
        description="A peer whose earliest refresher_due has passed is not assigned (automatically skipped; by hand "
        "a 409 naming the date); the lead is emailed TRIM_PEER_LAPSE_NOTICE_DAYS ahead and on the day.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def set_courses(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        person_id: FromPath[uuid.UUID],
        data: JSONBody[list[CourseIO]],
    ) -> list[CourseIO]:
        courses = await service.set_courses(
            db,
            actor=current_actor(request),
            person_id=person_id,
            courses=[service.CourseInput(c.name, c.completed_on, c.refresher_due) for c in data],
            now=now_of(request),
        )
        return [CourseIO(name=c.name, completed_on=c.completed_on, refresher_due=c.refresher_due) for c in courses]

    @put(
        "/peers/{person_id:uuid}/caseload",
        guards=[requires("lead")],
        summary="The lead sets a peer's caseload cap (null: TRIM_PEER_CASELOAD_CAP)",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def set_caseload(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        person_id: FromPath[uuid.UUID],
        data: JSONBody[CaseloadIn],
    ) -> CaseloadOut:
        actor, now = current_actor(request), now_of(request)
        await service.set_caseload_cap(db, actor=actor, person_id=person_id, cap=data.cap, now=now)
        (row,) = [
            p
            for p in await service.peer_roster(db, actor=actor, now=now, settings=settings)
            if p.person_id == person_id
        ]
        return CaseloadOut(
            person_id=person_id, cap=row.caseload_cap, default=row.cap_is_default, open_people=row.open_people
        )

    @post(
        "/checkins/{checkin_id:uuid}/debrief",
        guards=[requires("peer")],
        summary="The peer asks to talk a check-in over: a supervision task (the peer and the date, nothing else)",
        responses=api_errors(401, 403, 404),
    )
    async def debrief(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> SupervisionOut:
        task = await service.ask_debrief(
            db, actor=current_actor(request), checkin_id=checkin_id, now=now_of(request), settings=settings
        )
        return supervision_out(task)

    @post(
        "/checkins/{checkin_id:uuid}/contact-attempt",
        guards=[requires("peer")],
        summary="The assigned peer logs a try to reach the person (restarts the quiet-peer clock once)",
        responses=api_errors(401, 403, 404, 409),
    )
    async def contact_attempt(
        self, request: Request[Any, Any, Any], db: Db, checkin_id: FromPath[uuid.UUID]
    ) -> Response[ContactAttemptOut]:
        actor = current_actor(request)
        logged = await service.log_contact_attempt(db, actor=actor, checkin_id=checkin_id, now=now_of(request))
        at = await service.contact_attempted_at(db, actor=actor, checkin_id=checkin_id)
        return Response(ContactAttemptOut(logged=logged, contact_attempted_at=at), status_code=201 if logged else 200)

    @get(
        "/supervision",
        guards=[requires("trim_manager", "lead")],
        summary="Supervision tasks: the peer, the dates, the outcome; never the person supported or the incident",
        responses=api_errors(400, 401, 404, 422),
    )
    async def supervision(
        self, request: Request[Any, Any, Any], db: Db, limit: Limit = 100, offset: Offset = 0
    ) -> list[SupervisionOut]:
        views = await service.supervision_tasks(db, actor=current_actor(request), limit=limit, offset=offset)
        return [supervision_out(v.task) for v in views]

    @post(
        "/supervision/{task_id:uuid}/outcome",
        guards=[requires("trim_manager", "lead")],
        status_code=200,
        summary="Record how a debrief went: held, declined or not_needed",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def outcome(
        self, request: Request[Any, Any, Any], db: Db, task_id: FromPath[uuid.UUID], data: JSONBody[OutcomeIn]
    ) -> SupervisionOut:
        task = await service.record_supervision_outcome(
            db, actor=current_actor(request), task_id=task_id, outcome=data.outcome, now=now_of(request)
        )
        return supervision_out(task)
