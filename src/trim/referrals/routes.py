"""Referrals: the conversation on a flag, pages for clinicians and the person, the service
directory, and the /api routes (the flags' own pages and routes: trim.flags)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from trim.accounts.auth import current_actor, requires, signed_in
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.flags import pages as flag_pages
from trim.flags import rules as flag_rules
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
from trim.web import Limit, Offset, api_errors, form_data, nav_item, now_of, page, redirect

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("Referrals", "/referrals", "clinician", place=90),
    nav_item("Services", "/services", "lead", place=100),
)


def referral_out(view: service.ReferralView, include_assessment: bool) -> ReferralOut:
    r = view.referral
    return ReferralOut(
        id=r.id,
        person=PersonRef(id=r.person_id, name=view.person_name),
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


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


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
        (view,) = await service.referral_views(db, [referral])
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


class FlagReferralPages(Controller):
    """The referral conversation, held on a flag's page (trim.flags.pages draws it)."""

    include_in_schema = False

    @post("/flags/{flag_id:uuid}/referral", guards=[requires("peer", "lead")])
    async def offer(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, flag_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        target = form.get("to", "")
        kind, _, raw_id = target.partition(":")
        try:
            if form.get("consent") not in ("yes", "no"):
                raise InvalidInput.field("consent", "Record whether they agreed to the referral.")
            consent = form.get("consent") == "yes"
            if consent and kind not in ("clinician", "service"):
                raise InvalidInput.field("to", "Choose who the referral goes to.")
            await service.offer_referral(
                db,
                actor=current_actor(request),
                flag_id=flag_id,
                consent=consent,
                share_assessment=form.get("share_assessment") == "yes",
                clinician_id=_uuid(raw_id) if kind == "clinician" else None,
                service_id=_uuid(raw_id) if kind == "service" else None,
                now=now_of(request),
            )
        except (InvalidInput, Conflict) as exc:
            return await flag_pages.refused_on_flag_page(request, db, settings, flag_id, exc, form)
        message = (
            "Referral recorded. The clinician has been told; nothing about it reaches the person's supervisor."
            if form.get("consent") == "yes"
            else "Recorded that they declined a referral. That is their choice and it is respected."
        )
        if form.get("consent") == "yes" and form.get("share_assessment") == "yes":
            message += (
                " They have been asked to confirm sharing their answers and your notes on their own record;"
                " nothing is shared until they do."
            )
        return redirect(request, f"/flags/{flag_id}", message)


class ReferralPages(Controller):
    include_in_schema = False

    @get("/referrals", guards=[requires("clinician")])
    async def inbox(self, request: Request[Any, Any, Any], db: Db) -> Template:
        views = await service.list_referrals(db, actor=current_actor(request), addressed_to_me=True)
        return page(request, "referrals/inbox.html", referrals=views, causes=flag_rules.CAUSES)

    @get("/referrals/{referral_id:uuid}", guards=[signed_in])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, referral_id: FromPath[uuid.UUID]
    ) -> Template:
        actor = current_actor(request)
        view = await service.referral_detail(
            db, actor=actor, referral_id=referral_id, settings=settings, now=now_of(request)
        )
        return page(
            request,
            "referrals/referral.html",
            view=view,
            causes=flag_rules.CAUSES,
            statuses=service.CLINICIAN_STATUSES,
            labels=service.STATUS_LABELS,
            is_clinician=view.referral.clinician_id == actor.id,
            is_person=view.referral.person_id == actor.id,
        )

    @post("/referrals/{referral_id:uuid}/status", guards=[requires("clinician")])
    async def set_status(self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID]) -> Redirect:
        form = await form_data(request)
        try:
            await service.set_status(
                db,
                actor=current_actor(request),
                referral_id=referral_id,
                status=form.get("status", ""),
                now=now_of(request),
            )
        except (InvalidInput, Conflict) as exc:
            return redirect(request, f"/referrals/{referral_id}", exc.detail, "error")
        return redirect(request, f"/referrals/{referral_id}", "Saved.")

    @post("/referrals/{referral_id:uuid}/share", guards=[signed_in])
    async def share(self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID]) -> Redirect:
        try:
            await service.confirm_share(db, actor=current_actor(request), referral_id=referral_id, now=now_of(request))
        except Conflict as exc:
            return redirect(request, "/me", exc.detail, "error")
        return redirect(
            request,
            "/me",
            "Thank you. The clinician can now see your check-in answers and your peer's notes. "
            "You can withdraw your consent at any time.",
        )

    @post("/referrals/{referral_id:uuid}/withdraw", guards=[signed_in])
    async def withdraw(self, request: Request[Any, Any, Any], db: Db, referral_id: FromPath[uuid.UUID]) -> Redirect:
        await service.withdraw(db, actor=current_actor(request), referral_id=referral_id, now=now_of(request))
        return redirect(
            request,
            "/me",
            "Consent withdrawn. The referral is closed and the clinician can no longer see anything you shared.",
        )


class ServicePages(Controller):
    path = "/services"
    include_in_schema = False

    @get("/", guards=[requires("lead")])
    async def index(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return page(request, "referrals/services.html", services=await service.list_services(db, include_inactive=True))

    @post("/", guards=[requires("lead")])
    async def add(self, request: Request[Any, Any, Any], db: Db) -> Template | Redirect:
        form = await form_data(request)
        try:
            entry = await service.add_service(
                db,
                actor=current_actor(request),
                name=form.get("name", ""),
                service=form.get("service", ""),
                contact=form.get("contact", ""),
                now=now_of(request),
            )
        except InvalidInput as exc:
            return page(
                request,
                "referrals/services.html",
                status=422,
                values=form,
                errors=exc.field_messages(),
                services=await service.list_services(db, include_inactive=True),
            )
        return redirect(request, "/services", f"{entry.name} added to the directory.")

    @post("/{service_id:uuid}", guards=[requires("lead")])
    async def update(self, request: Request[Any, Any, Any], db: Db, service_id: FromPath[uuid.UUID]) -> Redirect:
        form = await form_data(request)
        try:
            await service.update_service(
                db,
                actor=current_actor(request),
                service_id=service_id,
                name=form.get("name", ""),
                service=form.get("service", ""),
                contact=form.get("contact", ""),
                active=form.get("active") == "yes",
                now=now_of(request),
            )
        except InvalidInput as exc:
            return redirect(request, "/services", exc.detail, "error")
        return redirect(request, "/services", "Saved.")
