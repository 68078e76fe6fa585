"""The check-in page: recording and correcting on the phone form, opting out."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.assessments import instruments as catalogue
from trim.assessments import interim as interims
from trim.assessments import rules as assessment_rules
from trim.assessments import self_report, service
from trim.config import Settings
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput, NotFound
from trim.flags import rules as flag_rules
from trim.flags import service as flag_service
from trim.followups import rules as schedule_rules
from trim.followups import service as followups
from trim.followups.models import Outcome
from trim.guards import current_actor, requires, signed_in
from trim.idempotency import FormKey, Replay, request_hash
from trim.incidents import service as incidents
from trim.web import form_data, now_of, page, redirect

# The form's outcome for "they answered themselves and preferred not to talk".
SELF_ONLY = "self_only"


def parse_form(form: dict[str, str]) -> service.Submission:
    """Form fields a__<instrument>__<item> = yes|no; outcome; safety; reason; notes. Which
    instruments a check-in asks is the service's to check, so nothing is read here."""
    answers: dict[str, dict[str, bool]] = {}
    outcome = form.get("outcome", "")
    safety = form.get("safety_concern")
    if outcome == SELF_ONLY:
        # Completed from the person's own answers (their safety answer stands too).
        return service.Submission(
            outcome=Outcome.completed,
            safety_concern=safety == "yes",
            reason=form.get("reason"),
            notes=form.get("notes"),
            opt_out=form.get("opt_out") == "yes",
            self_only=True,
        )
    if outcome == Outcome.completed:
        for name, value in form.items():
            parts = name.split("__")
            if len(parts) == 3 and parts[0] == "a" and value in ("yes", "no"):
                answers.setdefault(parts[1], {})[parts[2]] = value == "yes"
    return service.Submission(
        outcome=outcome,
        safety_concern=safety == "yes",
        answers=answers,
        reason=form.get("reason"),
        notes=form.get("notes"),
        opt_out=form.get("opt_out") == "yes",
        safety_answered=safety in ("yes", "no"),
    )


def prefilled(results: list[service.ResultView]) -> dict[str, str]:
    """Form values a__<instrument>__<item> = yes|no from recorded answers."""
    return {
        f"a__{result.instrument_id}__{item_id}": "yes" if answer else "no"
        for result in results
        for item_id, answer in result.answers.items()
    }


class RecordPages(Controller):
    include_in_schema = False

    async def _context(
        self, request: Request[Any, Any, Any], db: Db, settings: Settings, checkin_id: uuid.UUID
    ) -> dict[str, Any]:
        actor = current_actor(request)
        now = now_of(request)
        view = await followups.checkin_view(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        incident = (
            await incidents.incident_detail(db, actor=actor, incident_id=view.incident_id, now=now, settings=settings)
            if view.incident_id is not None
            else None  # a periodic check-in: no incident
        )
        record = await service.record_view(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        offered = service.questions_for(view.kind, view.offset_days, settings=settings)
        trend = []
        if view.peer_id == actor.id or view.person_id == actor.id:
            trend = await service.person_trend(db, actor=actor, person_id=view.person_id, now=now)
        flags = await flag_service.list_flags(db, actor=actor, person_id=view.person_id)
        involved = actor.id in (view.person_id, view.peer_id)
        offer = record is not None and await interims.interim_offer_open(
            db, actor=actor, checkin_id=checkin_id, settings=settings
        )
        own = await self_report.own_answers_view(db, actor=actor, checkin_id=checkin_id, now=now)
        return {
            "own": own,
            "interim_offer": offer,
            # The lead reassigns a periodic check-in here: it has no incident page to do it on.
            "reassign_peers": await followups.peer_loads(db, actor=actor)
            if view.exposure_id is None and view.status in schedule_rules.OPEN_STATUSES
            else [],
            "interim_default_days": settings.interim_default_days,
            "checkin": view,
            "contact": await followups.contact_for_checkin(db, actor=actor, checkin_id=checkin_id),
            "can_start_return": involved and view.peer_id is not None and view.exposure_id is not None,
            "return_checkins": await followups.return_checkins(db, actor=actor, checkin_id=checkin_id),
            "incident": incident.incident if incident is not None else None,
            "record": record,
            "offered": offered,
            "can_record": view.peer_id == actor.id
            and actor.is_peer
            and view.person_id != actor.id
            and view.status in schedule_rules.OPEN_STATUSES,
            "recordable_from": schedule_rules.recordable_from(view.due_at, early=settings.early_record),
            "too_early": schedule_rules.too_early(due_at=view.due_at, now=now_of(request), early=settings.early_record),
            "can_correct": record is not None and record.assessment.recorded_by_id == actor.id,
            "is_person": view.person_id == actor.id,
            "is_peer": view.peer_id == actor.id,
            "labels": schedule_rules.STATUS_LABELS,
            "outcome_labels": service.OUTCOME_LABELS,
            "causes": flag_rules.CAUSES,
            "trend": trend,
            "flags": flags,
            "plain_words": assessment_rules.plain_words([r.flagged for r in record.results]) if record else "",
            "crisis_guidance": settings.crisis_guidance,
            "threshold": next((b.min for b in catalogue.load()["trim_risk"].bands if b.name == "elevated"), 3),
        }

    @get("/checkins/{checkin_id:uuid}", guards=[signed_in])
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template:
        ctx = await self._context(request, db, settings, checkin_id)
        values = {"idempotency_key": str(uuid.uuid4())}
        own = ctx["own"]
        if own is not None and ctx["can_record"]:
            # The person's own answers, pre-filled: the peer goes through them in the conversation.
            values.update(prefilled(own.results))
        return page(request, "assessments/checkin.html", values=values, **ctx)

    async def _refused_context(
        self, request: Request[Any, Any, Any], db: Db, settings: Settings, checkin_id: uuid.UUID
    ) -> dict[str, Any]:
        """A refused form shown again from what was typed: the check-in's header and the
        questions, with no audited re-read (no record, flags or trend on this page)."""
        actor = current_actor(request)
        view = await followups.checkin_header(
            db, actor=actor, checkin_id=checkin_id, now=now_of(request), settings=settings
        )
        return {
            "checkin": view,
            "incident": None,
            "record": None,
            "offered": service.questions_for(view.kind, view.offset_days, settings=settings),
            "can_record": view.peer_id == actor.id
            and actor.is_peer
            and view.person_id != actor.id
            and view.status in schedule_rules.OPEN_STATUSES,
            "recordable_from": schedule_rules.recordable_from(view.due_at, early=settings.early_record),
            "too_early": schedule_rules.too_early(due_at=view.due_at, now=now_of(request), early=settings.early_record),
            "can_correct": False,
            "is_person": view.person_id == actor.id,
            "is_peer": view.peer_id == actor.id,
            "labels": schedule_rules.STATUS_LABELS,
            "outcome_labels": service.OUTCOME_LABELS,
            "causes": flag_rules.CAUSES,
            "trend": [],
            "flags": [],
            "interim_offer": False,
            "crisis_guidance": settings.crisis_guidance,
            # Whether "preferred not to talk" is offered again; the answers are not re-read.
            "own": True if view.self_answered_at else None,
        }

    @post("/checkins/{checkin_id:uuid}/record", guards=[requires("peer")])
    async def record(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        actor = current_actor(request)
        form = await form_data(request)
        key = form.get("idempotency_key") or None
        try:
            recorded = await service.record_checkin_once(
                db,
                actor=actor,
                checkin_id=checkin_id,
                submission=parse_form(form),
                once=FormKey(key, request_hash(form)) if key else None,
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            ctx = await self._refused_context(request, db, settings, checkin_id)
            return page(
                request,
                "assessments/checkin.html",
                status=422,
                values=form,
                errors=exc.field_messages(),
                error=exc.detail,
                **ctx,
            )
        if isinstance(recorded, Replay):
            # A double tap on "Save" shows the first answer instead of failing.
            return redirect(request, f"/checkins/{checkin_id}")
        message = "Check-in recorded."
        if recorded.assessment.answered_by_person:
            message = "Check-in completed with their own answers."
        if recorded.flags:
            message += " A flag was raised: offer a confidential referral."
        return redirect(
            request,
            f"/checkins/{checkin_id}",
            message,
            "warning" if recorded.assessment.safety_concern or recorded.flags else "success",
        )

    @get("/checkins/{checkin_id:uuid}/correct", guards=[requires("peer")])
    async def correct_form(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template:
        ctx = await self._context(request, db, settings, checkin_id)
        if not ctx["can_correct"]:
            raise NotFound()
        record = ctx["record"]
        values: dict[str, str] = {
            "outcome": record.assessment.outcome,
            "reason": record.assessment.reason or "",
            "notes": record.notes or "",
            "safety_concern": "yes" if record.assessment.safety_concern else "no",
        }
        values.update(prefilled(record.results))
        return page(request, "assessments/correct.html", values=values, **ctx)

    @post("/checkins/{checkin_id:uuid}/correct", guards=[requires("peer")])
    async def correct(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            await service.correct_checkin(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                submission=parse_form(form),
                correction_reason=form.get("correction_reason", ""),
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            ctx = await self._refused_context(request, db, settings, checkin_id)
            return page(
                request,
                "assessments/correct.html",
                status=422,
                values=form,
                errors=exc.field_messages(),
                error=exc.detail,
                **ctx,
            )
        return redirect(request, f"/checkins/{checkin_id}", "Correction saved. The earlier version is kept.")

    @post("/checkins/{checkin_id:uuid}/opt-out", guards=[signed_in])
    async def opt_out(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        """First a confirmation naming the incident; then the opt-out, undoable for a while."""
        actor, now = current_actor(request), now_of(request)
        form = await form_data(request)
        if form.get("confirm") != "yes":
            view = await followups.checkin_header(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
            if view.person_id != actor.id:
                raise NotFound()
            ids = [view.incident_id] if view.incident_id is not None else []
            found = await incidents.incidents_by_id(db, actor=actor, incident_ids=ids)
            return page(
                request,
                "assessments/opt_out_confirm.html",
                checkin=view,
                incident=found.get(view.incident_id) if view.incident_id is not None else None,
                undo_hours=settings.opt_out_undo_hours,
            )
        view = await followups.checkin_header(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        await service.person_opts_out(db, actor=actor, checkin_id=checkin_id, now=now)
        about = "periodic check-ins" if view.incident_id is None else "check-ins about this incident"
        return redirect(
            request,
            "/me/checkins",
            f"Understood. There will be no more {about}. You can still ask for a peer at any time.",
        )

    @post("/checkins/{checkin_id:uuid}/opt-in", guards=[signed_in])
    async def opt_in(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """Undo "no more check-ins" (within TRIM_OPT_OUT_UNDO_HOURS)."""
        try:
            reopened = await service.person_opts_back_in(
                db, actor=current_actor(request), checkin_id=checkin_id, now=now_of(request), settings=settings
            )
        except Conflict as exc:
            return redirect(request, "/me/checkins", exc.detail, "error")
        message = "Your check-ins about this incident are back on, with the same peer."
        return redirect(request, "/me/checkins", message if reopened else "Nothing was stopped, so nothing changed.")

    @post("/checkins/{checkin_id:uuid}/interim", guards=[requires("peer")])
    async def interim(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """The peer takes up the offer of an interim check-in; refused, the page says why."""
        form = await form_data(request)
        raw = form.get("days", "").strip()
        try:
            if raw and not raw.isdigit():
                raise InvalidInput.field("days", "Give the number of days.")
            added = await interims.add_interim(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                days=int(raw) if raw else None,
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            return redirect(request, f"/checkins/{checkin_id}", exc.detail, "error")
        return redirect(request, f"/checkins/{added.checkin.id}", "Interim check-in booked.")
