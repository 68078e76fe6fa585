"""Pages of peer care: a peer's own page (rest, availability, cap, training, supervision
due; phone-first), the lead's peer supporters page (load against cap, training records,
caps), the supervision list, and the peer's debrief and contact-attempt buttons."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.deps import Conf, Db
from trim.errors import Conflict, InvalidInput
from trim.guards import current_actor, requires
from trim.peers import rules, service
from trim.web import form_data, nav_item, now_of, page, redirect

NAV = (
    nav_item("My support", "/peer-profile", "peer", place=14),
    nav_item("Peer supporters", "/peers", "lead", "trim_manager", place=46),
    nav_item("Supervision", "/supervision", "lead", "trim_manager", place=48),
)


def _date(raw: str | None, field: str, message: str) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput.field(field, message) from None


class PeerCarePages(Controller):
    include_in_schema = False

    @get("/peer-profile", guards=[requires("peer")])
    async def own(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """A peer's own standing, on a phone: rest, availability, cap, training, supervision."""
        profile = await service.own_profile(db, actor=current_actor(request), now=now_of(request), settings=settings)
        return page(request, "peers/profile.html", profile=profile, rest_max=settings.peer_rest_max_days)

    @post("/peer-profile", guards=[requires("peer")])
    async def set_own(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Redirect:
        form = await form_data(request)
        action = form.get("action", "")
        actor, now = current_actor(request), now_of(request)
        try:
            if action == "rest":
                until = _date(form.get("resting_until"), "resting_until", "Choose the last day of your rest.")
                if until is None:
                    raise InvalidInput.field("resting_until", "Choose the last day of your rest.")
                handed = await service.set_own_profile(
                    db, actor=actor, now=now, settings=settings, resting_until=until, change_rest=True
                )
                message = f"You are resting until {rules.day_words(until)}. Nobody new is assigned to you meanwhile."
            elif action == "end_rest":
                handed = await service.set_own_profile(
                    db, actor=actor, now=now, settings=settings, resting_until=None, change_rest=True
                )
                message = "Your rest has ended: new check-ins and requests can come to you again."
            elif action in ("available", "unavailable"):
                handed = await service.set_own_profile(
                    db, actor=actor, now=now, settings=settings, available=action == "available"
                )
                message = (
                    "You are available for new check-ins and requests."
                    if action == "available"
                    else "You are marked unavailable. Nobody new will be assigned to you until you switch back."
                )
            else:
                raise InvalidInput.field("action", "Choose what to change.")
        except InvalidInput as exc:
            return redirect(request, "/peer-profile", exc.detail, "error")
        if handed.moved or handed.unassigned:
            people = handed.moved + handed.unassigned
            message += f" Your open check-ins for {people} {'person' if people == 1 else 'people'} were handed on."
        return redirect(request, "/peer-profile", message)

    @get("/peers", guards=[requires("lead", "trim_manager")])
    async def roster(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        """Every peer: open people against their cap, training, rest, supervision due."""
        actor = current_actor(request)
        peers = await service.peer_roster(db, actor=actor, now=now_of(request), settings=settings)
        return page(
            request,
            "peers/roster.html",
            peers=peers,
            can_edit=actor.is_lead,
            default_cap=settings.peer_caseload_cap,
            notice_days=settings.peer_lapse_notice_days,
        )

    @post("/peers/{person_id:uuid}/courses", guards=[requires("lead")])
    async def record_course(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """The lead records (or renews) one course: an existing name is updated."""
        form = await form_data(request)
        back = f"/peers#peer-{person_id}"
        actor, now = current_actor(request), now_of(request)
        try:
            completed = _date(form.get("completed_on"), "completed_on", "Give the date the course was completed.")
            if completed is None:
                raise InvalidInput.field("completed_on", "Give the date the course was completed.")
            refresher = _date(form.get("refresher_due"), "refresher_due", "Give the refresher date, or leave it empty.")
            name = form.get("name", "")
            profile = next(
                p
                for p in await service.peer_roster(db, actor=actor, now=now, settings=settings)
                if p.person_id == person_id
            )
            others = [
                service.CourseInput(c.name, c.completed_on, c.refresher_due)
                for c in profile.courses
                if c.name.lower() != " ".join(name.split()).lower()
            ]
            await service.set_courses(
                db,
                actor=actor,
                person_id=person_id,
                courses=[*others, service.CourseInput(name, completed, refresher)],
                now=now,
            )
        except (InvalidInput, StopIteration) as exc:
            detail = exc.detail if isinstance(exc, InvalidInput) else "Choose a peer supporter from the list."
            return redirect(request, back, detail, "error")
        return redirect(request, back, "Training record saved.")

    @post("/peers/{person_id:uuid}/caseload", guards=[requires("lead")])
    async def set_caseload(self, request: Request[Any, Any, Any], db: Db, person_id: FromPath[uuid.UUID]) -> Redirect:
        form = await form_data(request)
        back = f"/peers#peer-{person_id}"
        raw = form.get("cap", "").strip()
        try:
            if raw and not raw.isdigit():
                raise InvalidInput.field("cap", "A cap is a whole number of people, or empty for the default.")
            await service.set_caseload_cap(
                db,
                actor=current_actor(request),
                person_id=person_id,
                cap=int(raw) if raw else None,
                now=now_of(request),
            )
        except InvalidInput as exc:
            return redirect(request, back, exc.detail, "error")
        return redirect(request, back, "Caseload cap saved.")

    @get("/supervision", guards=[requires("lead", "trim_manager")])
    async def supervision(self, request: Request[Any, Any, Any], db: Db) -> Template:
        """Debriefs peers asked for: the peer, the dates, the outcome; nothing of whom they supported."""
        actor = current_actor(request)
        tasks = await service.supervision_tasks(db, actor=actor, limit=200)
        return page(request, "peers/supervision.html", tasks=tasks, me=actor.id)

    @post("/supervision/{task_id:uuid}/outcome", guards=[requires("lead", "trim_manager")])
    async def outcome(self, request: Request[Any, Any, Any], db: Db, task_id: FromPath[uuid.UUID]) -> Redirect:
        form = await form_data(request)
        try:
            await service.record_supervision_outcome(
                db, actor=current_actor(request), task_id=task_id, outcome=form.get("outcome", ""), now=now_of(request)
            )
        except (InvalidInput, Conflict) as exc:
            return redirect(request, "/supervision", exc.detail, "error")
        return redirect(request, "/supervision", "Outcome recorded.")

    @post("/checkins/{checkin_id:uuid}/debrief", guards=[requires("peer")])
    async def debrief(
        self, request: Request[Any, Any, Any], db: Db, settings: Conf, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        """ "I'd like to talk this one over"."""
        await service.ask_debrief(
            db, actor=current_actor(request), checkin_id=checkin_id, now=now_of(request), settings=settings
        )
        return redirect(
            request,
            f"/checkins/{checkin_id}",
            "A TRiM manager or the programme lead will be in touch to talk it over. They are told it is you, "
            "never whom you supported.",
        )

    @post("/checkins/{checkin_id:uuid}/contact-attempt", guards=[requires("peer")])
    async def contact_attempt(
        self, request: Request[Any, Any, Any], db: Db, checkin_id: FromPath[uuid.UUID]
    ) -> Redirect:
        back = f"/checkins/{checkin_id}"
        try:
            logged = await service.log_contact_attempt(
                db, actor=current_actor(request), checkin_id=checkin_id, now=now_of(request)
            )
        except Conflict as exc:
            return redirect(request, back, exc.detail, "error")
        if not logged:
            return redirect(request, back, "Your try to reach them was already logged; it counts once.", "warning")
        return redirect(request, back, "Logged: the check-in stays with you a little longer. Record it when you speak.")
