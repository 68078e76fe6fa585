"""The person answers their own check-in on their phone (design section 14): the questions
in their own words, then a confirmation, or the crisis guidance at once after a safety "yes"."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.assessments import self_report, service
from trim.assessments.pages import parse_form
from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.followups import rules as schedule_rules
from trim.followups import service as followups
from trim.guards import current_actor, signed_in
from trim.web import form_data, now_of, page, redirect


class SelfPages(Controller):
    include_in_schema = False

    async def _form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        checkin_id: uuid.UUID,
        *,
        status: int = 200,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        error: str | None = None,
    ) -> Template | Redirect:
        actor, now = current_actor(request), now_of(request)
        checkin = await self_report.access_own_checkin(db, actor, checkin_id)
        if checkin.self_answered_at is not None:
            return redirect(request, f"/checkins/{checkin_id}/self/done")
        view = await followups.checkin_header(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        return page(
            request,
            "assessments/self.html",
            status=status,
            checkin=view,
            offered=service.questions_for(view.kind, view.offset_days, settings=settings),
            closed=view.status not in schedule_rules.OPEN_STATUSES,
            too_early=schedule_rules.too_early(due_at=view.due_at, now=now, early=settings.early_record),
            recordable_from=schedule_rules.recordable_from(view.due_at, early=settings.early_record),
            crisis_guidance=settings.crisis_guidance,
            values=values or {},
            errors=errors or {},
            error=error,
        )

    @get("/checkins/{checkin_id:uuid}/self", guards=[signed_in])
    async def self_form(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        """The questionnaire in the person's own words; their peer still checks in."""
        return await self._form(request, db, settings, checkin_id)

    @post("/checkins/{checkin_id:uuid}/self", guards=[signed_in])
    async def answer(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        submission = parse_form({**form, "outcome": "completed"})
        try:
            await self_report.answer_self(
                db,
                actor=current_actor(request),
                checkin_id=checkin_id,
                answers=submission.answers,
                safety_concern=submission.safety_concern,
                safety_answered=submission.safety_answered,
                now=now_of(request),
                settings=settings,
            )
        except InvalidInput as exc:
            return await self._form(
                request,
                db,
                settings,
                checkin_id,
                status=422,
                values=form,
                errors=exc.field_messages(),
                error=exc.detail,
            )
        except Conflict as exc:
            # A double tap finds the first answer saved: show it, as a replay would.
            own = await self_report.access_own_checkin(db, current_actor(request), checkin_id)
            if own.self_answered_at is not None:
                return redirect(request, f"/checkins/{checkin_id}/self/done")
            return redirect(request, f"/checkins/{checkin_id}/self", exc.detail, "error")
        return redirect(request, f"/checkins/{checkin_id}/self/done")

    @get("/checkins/{checkin_id:uuid}/self/done", guards=[signed_in])
    async def done(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        """Thank you, what the answers mean in plain words; the crisis guidance first after a
        safety "yes". Not answered yet: the questions."""
        actor, now = current_actor(request), now_of(request)
        await self_report.access_own_checkin(db, actor, checkin_id)
        own = await self_report.own_answers_view(db, actor=actor, checkin_id=checkin_id, now=now)
        if own is None:
            return redirect(request, f"/checkins/{checkin_id}/self")
        view = await followups.checkin_header(db, actor=actor, checkin_id=checkin_id, now=now, settings=settings)
        return page(
            request, "assessments/self_done.html", checkin=view, own=own, crisis_guidance=settings.crisis_guidance
        )
