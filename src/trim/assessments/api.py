"""/api for recording check-ins and corrections, the instruments, the flags list."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody

from trim.assessments import instruments as catalogue
from trim.assessments import interim as interims
from trim.assessments import rules as assessment_rules
from trim.assessments import self_report, service
from trim.assessments.schemas import (
    BandOut,
    CorrectionIn,
    FlagBrief,
    InstrumentOut,
    InterimIn,
    InterimOut,
    ItemOut,
    RecordIn,
    RecordOut,
    ResultOut,
    SelfIn,
    SelfOut,
)
from trim.config import Settings
from trim.deps import Conf, Db
from trim.guards import current_actor, requires, signed_in
from trim.idempotency import Replay, claim_header, complete
from trim.web import api_errors, now_of

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description="Retry safely: the same key and body replay the first answer.",
    ),
]


def record_out(recorded: service.Recorded, settings: Settings) -> RecordOut:
    risk = recorded.risk
    return RecordOut(
        id=recorded.assessment.id,
        checkin_id=recorded.assessment.checkin_id,
        score=risk.score if risk else None,
        band=risk.band if risk else None,
        results=[ResultOut(instrument=r.instrument, score=r.score, band=r.band) for r in recorded.results],
        flags=[FlagBrief(id=f.id, cause=f.cause, urgent=f.urgent) for f in recorded.flags],
        crisis_guidance=settings.crisis_guidance if recorded.assessment.safety_concern else None,
        interim_offered=recorded.interim_offered,
    )


def submission_of(data: RecordIn) -> service.Submission:
    return service.Submission(
        outcome=data.outcome,
        safety_concern=data.safety_concern,
        answers=data.answers,
        reason=data.reason,
        notes=data.notes,
        opt_out=data.opt_out,
        self_only=data.preferred_not_to_talk,
    )


class AssessmentApi(Controller):
    path = "/api"
    tags = ["check-ins"]

    @get(
        "/instruments",
        guards=[signed_in],
        summary="The instruments and when each is asked",
        responses=api_errors(401, 404),
    )
    async def instruments(self) -> list[InstrumentOut]:
        return [
            InstrumentOut(
                id=i.id,
                version=i.version,
                title=i.title,
                items=[
                    ItemOut(id=it.id, text=it.text, section=it.section, phase=it.phase, self_text=it.self_text)
                    for it in i.items
                ],
                offered_at=list(i.offered_at),
                bands=[BandOut(name=b.name, min=b.min, label=b.label) for b in i.bands],
            )
            for i in sorted(catalogue.load().values(), key=lambda i: (i.id != "trim_risk", i.id))
        ]

    @post(
        "/checkins/{checkin_id:uuid}/record",
        guards=[requires("peer")],
        status_code=201,
        summary="Record a check-in (the assigned peer)",
        description="Completed check-ins answer every item of every instrument offered at their kind. The same "
        "Idempotency-Key with the same body replays the first answer; with another body it is 422; a check-in "
        "already recorded is 409; someone else's check-in is 404.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def record(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: FromPath[uuid.UUID],
        data: JSONBody[RecordIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        actor = current_actor(request)
        claimed = await claim_header(
            db,
            idempotency_key,
            scope=f"{actor.audit_id}:checkin.record:{checkin_id}",
            body=data.model_dump(mode="json"),
            now=now_of(request),
            settings=settings,
            safe_to_forget=True,  # a check-in is recorded once: a late replay is a 409 from the service
        )
        if isinstance(claimed, Replay):
            return Response(claimed.body, status_code=claimed.status_code)
        recorded = await service.record_checkin(
            db,
            actor=actor,
            checkin_id=checkin_id,
            submission=submission_of(data),
            now=now_of(request),
            settings=settings,
        )
        body = record_out(recorded, settings).model_dump(mode="json")
        if claimed is not None:
            complete(db, claimed, status_code=201, body=body)
        return Response(body, status_code=201)

    @post(
        "/checkins/{checkin_id:uuid}/self",
        guards=[signed_in],
        status_code=201,
        summary="The person answers their own check-in's questions themselves",
        description="Only the person the check-in is about (anyone else: 404), while it is open and from "
        "TRIM_EARLY_RECORD_HOURS before it is due (earlier: 409 with the date), once (a second answer is 409). "
        "Every item of every instrument offered at the kind is answered (422 names a missing one). A safety "
        "concern raises an urgent flag at once and the answer carries the crisis guidance. The same "
        "Idempotency-Key with the same body replays the first answer; with another body it is 422.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def answer_self(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: FromPath[uuid.UUID],
        data: JSONBody[SelfIn],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Any]:
        actor = current_actor(request)
        claimed = await claim_header(
            db,
            idempotency_key,
            scope=self_report.self_scope(actor, checkin_id),
            body=data.model_dump(mode="json"),
            now=now_of(request),
            settings=settings,
            safe_to_forget=True,  # answered once: a late replay is a 409 from the service
        )
        if isinstance(claimed, Replay):
            return Response(claimed.body, status_code=claimed.status_code)
        answered = await self_report.answer_self(
            db,
            actor=actor,
            checkin_id=checkin_id,
            answers=data.answers,
            safety_concern=data.safety_concern,
            now=now_of(request),
            settings=settings,
        )
        body = SelfOut(
            id=answered.assessment.id,
            checkin_id=answered.assessment.checkin_id,
            summary=assessment_rules.plain_words([r.flagged for r in answered.results]),
            flags=[FlagBrief(id=f.id, cause=f.cause, urgent=f.urgent) for f in answered.flags],
            crisis_guidance=settings.crisis_guidance if data.safety_concern else None,
        ).model_dump(mode="json")
        if claimed is not None:
            complete(db, claimed, status_code=201, body=body)
        return Response(body, status_code=201)

    @post(
        "/checkins/{checkin_id:uuid}/corrections",
        guards=[requires("peer")],
        status_code=201,
        summary="Correct a recorded check-in (a new version; the old one is kept)",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def correct(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: FromPath[uuid.UUID],
        data: JSONBody[CorrectionIn],
    ) -> RecordOut:
        recorded = await service.correct_checkin(
            db,
            actor=current_actor(request),
            checkin_id=checkin_id,
            submission=submission_of(data),
            correction_reason=data.correction_reason,
            now=now_of(request),
            settings=settings,
        )
        return record_out(recorded, settings)

    @post(
        "/checkins/{checkin_id:uuid}/interim",
        guards=[requires("peer")],
        status_code=201,
        summary="Add the interim check-in offered after a first check-in that counts toward persistence",
        description="The assigned peer of the first check-in; the interim falls before the next scheduled one. "
        "Added twice, the first stands (already: true).",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def interim(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: FromPath[uuid.UUID],
        data: JSONBody[InterimIn],
    ) -> InterimOut:
        added = await interims.add_interim(
            db,
            actor=current_actor(request),
            checkin_id=checkin_id,
            days=data.days,
            now=now_of(request),
            settings=settings,
        )
        return InterimOut(
            id=added.checkin.id, kind=added.checkin.kind, due_at=added.checkin.due_at, already=added.already
        )
