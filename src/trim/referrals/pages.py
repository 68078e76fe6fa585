"""Referral pages: the conversation held on a flag's page, the clinician's inbox, a referral,
the person's consent, and the service directory (the flags' own pages: trim.flags.pages)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.flags import pages as flag_pages
from trim.flags import rules as flag_rules
from trim.guards import current_actor, requires, signed_in
from trim.referrals import service
from trim.web import form_data, nav_item, now_of, page, redirect

# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (
    nav_item("Referrals", "/referrals", "clinician", place=90),
    nav_item("Services", "/services", "lead", place=100),
)


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


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
