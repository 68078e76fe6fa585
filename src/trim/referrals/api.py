"""/api/referrals and the referral on a flag: the conversation, the clinician's inbox, the
person's consent (the flags' own routes: trim.flags.api)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from trim.deps import Conf, Db
from trim.guards import current_actor, requires, signed_in
from trim.referrals import rules as referral_rules
from trim.referrals import service
from trim.referrals.schemas import (
    PersonRef,
    ReferralCreated,
    ReferralIn,
    ReferralOut,
    SharedCheckin,
    SharedResult,
    StatusIn,
)
from trim.web import Limit, Offset, api_errors, now_of


def referral_out(view: service.ReferralView, include_assessment: bool) -> ReferralOut:
    r = view.referral
    return ReferralOut(
        id=r.id,
        person=PersonRef(id=None if view.unnamed else r.person_id, name=view.person_name),
        status=r.status,
        created_at=r.created_at,
        shared=r.share_assessment,
        share_pending=referral_rules.share_pending(r),
        assessment=[
            SharedCheckin(
                kind=s.kind,
                recorded_at=s.recorded_at,
                outcome=s.outcome,
                score=s.score,
                band=s.band,
                notes=s.notes,
                results=[
                    SharedResult(instrument=x.instrument_id, score=x.score, band=x.band, answers=x.answers)
                    for x in s.results
                ],
            )
            for s in view.shared
        ]
        if include_assessment and view.shared
        else None,
    )


class ReferralApi(Controller):
    path = "/api"
    tags = ["flags and referrals"]

    @post(
        "/flags/{flag_id:uuid}/referral",
        guards=[requires("peer", "lead")],
        status_code=201,
        summary="Record a referral conversation on an open flag",
        description="consent false records that the person declined (respected; nothing is sent).",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def offer(
        self, request: Request[Any, Any, Any], db: Db, flag_id: FromPath[uuid.UUID], data: JSONBody[ReferralIn]
    ) -> ReferralCreated:
        referral = await service.offer_referral(
            db,
            actor=current_actor(request),
            flag_id=flag_id,
            consent=data.consent,
            share_assessment=data.share_assessment,
            clinician_id=data.clinician_id,
            service_id=data.service_id,
            now=now_of(request),
        )
        return ReferralCreated(id=referral.id, status=referral.status)

    @get(
        "/referrals",
        guards=[signed_in],
        summary="Referrals in the caller's scope (a clinician's inbox)",
        responses=api_errors(400, 401, 404),
    )
    async def index(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, limit: Limit = 100, offset: Offset = 0
    ) -> list[ReferralOut]:
        actor = current_actor(request)
        views = await service.list_referrals(db, actor=actor, limit=limit, offset=offset)
        out = []
        for view in views:
            if actor.is_clinician and view.referral.clinician_id == actor.id:
                view.shared = await service.shared_assessments(
                    db, actor=actor, referral=view.referral, settings=settings, now=now_of(request)
                )
            out.append(referral_out(view, include_assessment=True))
        return out

    @post(
        "/referrals/{referral_id:uuid}/withdraw",
        guards=[signed_in],
        status_code=200,
        summary="The person withdraws consent",
        responses=api_errors(401, 403, 404),
    )
    async def withdraw(
        self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID]
    ) -> ReferralCreated:
        referral = await service.withdraw(
            db, actor=current_actor(request), referral_id=referral_id, now=now_of(request)
        )
        return ReferralCreated(id=referral.id, status=referral.status)

    @post(
        "/referrals/{referral_id:uuid}/share",
        guards=[signed_in],
        status_code=200,
        summary="The person confirms sharing their assessment with the clinician",
        description="Only the person the referral is about can confirm; for anyone else it does not exist (404).",
        responses=api_errors(401, 403, 404, 409),
    )
    async def share(self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID]) -> ReferralOut:
        actor = current_actor(request)
        referral = await service.confirm_share(db, actor=actor, referral_id=referral_id, now=now_of(request))
        (view,) = await service.referral_views(db, [referral], actor=actor)
        return referral_out(view, include_assessment=False)

    @post(
        "/referrals/{referral_id:uuid}/status",
        guards=[requires("clinician")],
        status_code=200,
        summary="The clinician records uptake",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def set_status(
        self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID], data: JSONBody[StatusIn]
    ) -> ReferralCreated:
        referral = await service.set_status(
            db, actor=current_actor(request), referral_id=referral_id, status=data.status, now=now_of(request)
        )
        return ReferralCreated(id=referral.id, status=referral.status)
