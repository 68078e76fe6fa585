"""The lead's report page (/reports/quarterly, print-friendly) and the person's anonymous
feedback form (/feedback/{about}/{id})."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from trim.deps import Conf, Db
from trim.errors import InvalidInput
from trim.guards import current_actor, requires, signed_in
from trim.reports import feedback, rules, service, views
from trim.reports.period import previous_quarter
from trim.reports.schemas import FeedbackIn, FromMonth, Quarter, ToMonth
from trim.web import form_data, nav_item, now_of, page, redirect

NAV = (nav_item("Report", "/reports/quarterly", "lead", place=61),)


class ReportPages(Controller):
    include_in_schema = False

    @get("/reports/quarterly", guards=[requires("lead")])
    async def quarterly(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        quarter: Quarter = None,
        from_: FromMonth = None,
        to: ToMonth = None,
    ) -> Template:
        """The board's report for a quarter or whole months; prints well, with PDF and CSV beside it."""
        now = now_of(request)
        values = {"quarter": quarter or "", "from": from_ or "", "to": to or ""}
        try:
            period = service.period_of(quarter=quarter, from_month=from_, to_month=to, now=now, settings=settings)
        except InvalidInput as exc:
            return page(
                request, "reports/quarterly.html", status=422, view=None, values=values, errors=exc.field_messages()
            )
        report = await service.quarterly(db, actor=current_actor(request), period=period, now=now, settings=settings)
        query = request.url.query or f"quarter={previous_quarter(now, settings.zone)}"
        return page(request, "reports/quarterly.html", view=views.report_view(report), values=values, query=query)

    @get("/feedback/{about:str}/{subject_id:uuid}", guards=[signed_in])
    async def feedback_form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        about: FromPath[str],
        subject_id: FromPath[uuid.UUID],
    ) -> Template:
        """Three questions, 1-5, about the caller's own closed request or finished check-ins."""
        offer, answered = await feedback.offer_for(
            db, actor=current_actor(request), about=about, subject_id=subject_id, settings=settings
        )
        return self._form(request, settings, offer, answered)

    @post("/feedback/{about:str}/{subject_id:uuid}", guards=[signed_in])
    async def give_feedback(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        about: FromPath[str],
        subject_id: FromPath[uuid.UUID],
    ) -> Template | Redirect:
        form = await form_data(request)
        actor = current_actor(request)
        try:
            answers = FeedbackIn.model_validate({name: form.get(name) for name in rules.QUESTIONS})
        except ValidationError as exc:
            offer, answered = await feedback.offer_for(
                db, actor=actor, about=about, subject_id=subject_id, settings=settings
            )
            wrong = {str(error["loc"][0]): "Choose a number from 1 to 5." for error in exc.errors() if error["loc"]}
            return self._form(request, settings, offer, answered, status=422, errors=wrong, values=form)
        await feedback.give(
            db, actor=actor, about=about, subject_id=subject_id, answers=answers, now=now_of(request), settings=settings
        )
        # A second send (a double tap, a resend) lands on the same thanks: nothing stored twice.
        return redirect(request, f"/feedback/{about}/{subject_id}")

    def _form(
        self,
        request: Request[Any, Any, Any],
        settings: Conf,
        offer: feedback.Offer,
        answered: bool,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Template:
        return page(
            request,
            "reports/feedback.html",
            status=status,
            offer=offer,
            answered=answered,
            questions=rules.QUESTIONS,
            scale=rules.SCALE,
            k=settings.report_small_cell_k,
            errors=errors or {},
            values=values or {},
        )
