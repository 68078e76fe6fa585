"""The flag pages: flags by status and age for peers and the lead, one flag with its
crisis guidance and the referral conversation, closing and acknowledging."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.config import Settings
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.flags import rules, service
from trim.flags.models import FlagStatus
from trim.guards import current_actor, requires
from trim.referrals.models import REFERRAL_STATUS_LABELS
from trim.web import form_data, nav_item, now_of, page, redirect

NAV = (nav_item("Flags", "/flags", "peer", "lead", place=80),)


async def flag_page(
    request: Request[Any, Any, Any],
    db: Db,
    settings: Settings,
    flag_id: uuid.UUID,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> Template:
    """One flag's page; with `errors`/`values`, again after a refused form, as typed."""
    actor = current_actor(request)
    view = await service.flag_detail(db, actor=actor, flag_id=flag_id, now=now_of(request))
    choices = await service.referral_choices(db, actor=actor)
    return page(
        request,
        "referrals/flag.html",
        status=status,
        view=view,
        causes=rules.CAUSES,
        referral_labels=REFERRAL_STATUS_LABELS,
        ack_actions=rules.ACK_ACTIONS,
        monitor_days=(settings.monitor_min_days, settings.monitor_default_days, settings.monitor_max_days),
        clinicians=choices.clinicians,
        services=choices.services,
        crisis_guidance=settings.crisis_guidance,
        errors=errors or {},
        values=values or {},
        error=error,
        is_own=view.flag.person_id == actor.id,
    )


async def refused_on_flag_page(
    request: Request[Any, Any, Any],
    db: Db,
    settings: Settings,
    flag_id: uuid.UUID,
    exc: InvalidInput | Conflict,
    form: dict[str, str],
) -> Template:
    """The flag's page again, with what was wrong and what was typed. The services refuse
    before they write, so nothing of the refused form is kept."""
    errors = exc.field_messages() if isinstance(exc, InvalidInput) else {}
    return await flag_page(
        request,
        db,
        settings,
        flag_id,
        status=422 if errors else 409,
        errors=errors,
        values=form,
        error=exc.detail,
    )


class FlagPages(Controller):
    include_in_schema = False

    @get("/flags", guards=[requires("peer", "lead")])
    async def index(self, request: Request[Any, Any, Any], db: Db) -> Template:
        """Flags by status and age; urgent ones first, until acted on."""
        views = await service.flags_to_act_on(db, actor=current_actor(request))
        return page(
            request,
            "referrals/flags.html",
            open=[v for v in views if v.flag.status in (FlagStatus.open, FlagStatus.monitoring)],
            resolved=[v for v in views if v.flag.status not in (FlagStatus.open, FlagStatus.monitoring)],
            causes=rules.CAUSES,
        )

    @get("/flags/{flag_id:uuid}", guards=[requires("peer", "lead")])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, flag_id: FromPath[uuid.UUID]
    ) -> Template:
        return await flag_page(request, db, settings, flag_id)

    @post("/flags/{flag_id:uuid}/close", guards=[requires("peer", "lead")])
    async def close(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, flag_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            await service.close_flag(
                db, actor=current_actor(request), flag_id=flag_id, reason=form.get("reason", ""), now=now_of(request)
            )
        except (InvalidInput, Conflict) as exc:
            return await refused_on_flag_page(request, db, settings, flag_id, exc, form)
        return redirect(request, f"/flags/{flag_id}", "Flag closed.")

    @post("/flags/{flag_id:uuid}/acknowledge", guards=[requires("peer", "lead")])
    async def acknowledge(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, flag_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            await service.acknowledge_flag(
                db,
                actor=current_actor(request),
                flag_id=flag_id,
                action=form.get("action", ""),
                note=form.get("note"),
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await refused_on_flag_page(request, db, settings, flag_id, exc, form)
        return redirect(request, f"/flags/{flag_id}", "Acknowledged: you are dealing with it.")

    @post("/flags/{flag_id:uuid}/monitor", guards=[requires("peer", "lead")])
    async def monitor(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, flag_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        raw = form.get("days", "").strip()
        try:
            if raw and not raw.isdigit():
                raise InvalidInput.field("days", "Give the number of days.")
            watched = await service.monitor_flag(
                db,
                actor=current_actor(request),
                flag_id=flag_id,
                days=int(raw) if raw else None,
                now=now_of(request),
                settings=settings,
            )
        except (InvalidInput, Conflict) as exc:
            return await refused_on_flag_page(request, db, settings, flag_id, exc, form)
        return redirect(request, f"/checkins/{watched.checkin.id}", "Watchful waiting: the extra check-in is booked.")
