"""Looking after the peer supporters (design section 13): a peer's own profile (availability,
rest, cap, training, supervision due), the lead's training records and caps, the debrief a
peer asks for, and the "tried to reach them" that holds a check-in's quiet-peer clock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role, Station
from trim.config import Settings
from trim.db import dialect_insert
from trim.errors import Conflict, FieldError, InvalidInput, NotFound
from trim.followups import eligibility
from trim.followups import service as followups
from trim.notifications import service as notifications
from trim.peers import rules
from trim.peers.models import PeerCourse, PeerState, QuietClock, SupervisionOutcome, SupervisionTask
from trim.privacy import audit, policy

COURSE_NAME_MAX = 120
COURSES_MAX = 50


@dataclass(frozen=True)
class CourseInput:
    name: str
    completed_on: date
    refresher_due: date | None = None


@dataclass
class PeerProfile:
    """A peer's own view of their standing: what decides whether they are assigned."""

    person_id: uuid.UUID
    name: str
    station: str | None
    available: bool
    resting_until: date | None
    caseload_cap: int
    cap_is_default: bool
    open_people: int
    courses: list[PeerCourse] = field(default_factory=list)
    lapses_on: date | None = None
    supervision_due: date | None = None
    today: date | None = None

    @property
    def resting(self) -> bool:
        return self.today is not None and rules.is_resting(self.resting_until, self.today)

    @property
    def lapsed(self) -> bool:
        return self.today is not None and rules.is_lapsed(self.lapses_on, self.today)

    @property
    def at_cap(self) -> bool:
        return self.open_people >= self.caseload_cap

    @property
    def unfit(self) -> str | None:
        if self.today is None:
            return None
        standing = rules.Standing(
            self.available, self.lapses_on, self.resting_until, self.open_people, self.caseload_cap
        )
        return rules.unfit_reason(standing, self.today)

    @property
    def unfit_words(self) -> str | None:
        return rules.REASON_WORDS[self.unfit][1] if self.unfit else None


def _today(now: datetime, settings: Settings) -> date:
    return now.astimezone(settings.zone).date()


async def _peer_ids(session: AsyncSession, person_ids: Sequence[uuid.UUID] | None = None) -> list[uuid.UUID]:
    stmt = (
        select(Person.id)
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(PersonRole.role == Role.peer, col(Person.active).is_(True))
        .order_by(col(Person.name), col(Person.id))
    )
    if person_ids is not None:
        stmt = stmt.where(col(Person.id).in_(list(person_ids)))
    return list(await session.exec(stmt))


async def _profiles(
    session: AsyncSession, peer_ids: list[uuid.UUID], *, now: datetime, settings: Settings
) -> list[PeerProfile]:
    if not peer_ids:
        return []
    found = await eligibility.standings(session, peer_ids, settings=settings)
    people = {p.id: p for p in await session.exec(select(Person).where(col(Person.id).in_(peer_ids)))}
    stations = dict((await session.exec(select(Station.id, Station.name))).all())
    states = {
        s.person_id: s for s in await session.exec(select(PeerState).where(col(PeerState.person_id).in_(peer_ids)))
    }
    courses: dict[uuid.UUID, list[PeerCourse]] = {}
    for course in await session.exec(
        select(PeerCourse).where(col(PeerCourse.person_id).in_(peer_ids)).order_by(col(PeerCourse.completed_on))
    ):
        courses.setdefault(course.person_id, []).append(course)
    held = dict(
        (
            await session.exec(
                select(SupervisionTask.peer_id, func.max(SupervisionTask.outcome_at))
                .where(col(SupervisionTask.peer_id).in_(peer_ids), SupervisionTask.outcome == SupervisionOutcome.held)
                .group_by(col(SupervisionTask.peer_id))
            )
        ).all()
    )
    today = _today(now, settings)
    out = []
    for pid in peer_ids:
        person, standing, state = people[pid], found[pid], states.get(pid)
        last = held.get(pid)
        out.append(
            PeerProfile(
                person_id=pid,
                name=person.name,
                station=stations.get(person.station_id) if person.station_id else None,
                available=person.available,
                resting_until=standing.resting_until,
                caseload_cap=standing.cap,
                cap_is_default=state is None or state.caseload_cap is None,
                open_people=standing.open_people,
                courses=courses.get(pid, []),
                lapses_on=standing.lapses_on,
                supervision_due=rules.supervision_due(
                    last.astimezone(settings.zone).date() if last else None,
                    since=person.created_at.astimezone(settings.zone).date(),
                    every_days=settings.peer_supervision_days,
                ),
                today=today,
            )
        )
    return out


async def own_profile(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> PeerProfile:
    """A peer's own availability, rest, cap, open people, courses and supervision due."""
    if not actor.is_peer or actor.id is None:
        raise NotFound()
    found = await _profiles(session, await _peer_ids(session, [actor.id]), now=now, settings=settings)
    if not found:
        raise NotFound()
    return found[0]


async def _state(session: AsyncSession, person_id: uuid.UUID, now: datetime) -> PeerState:
    state = await session.get(PeerState, person_id)
    if state is None:
        state = PeerState(person_id=person_id, updated_at=now)
        session.add(state)
    return state


@dataclass(frozen=True)
class Handover:
    moved: int = 0
    unassigned: int = 0


async def set_own_profile(
    session: AsyncSession,
    *,
    actor: Actor,
    now: datetime,
    settings: Settings,
    available: bool | None = None,
    resting_until: date | None = None,
    change_rest: bool = False,
) -> Handover:
    """A peer sets their own availability and "resting until DATE" (no reason asked; None
    ends the rest). Going unavailable or resting hands their open check-ins on by the usual
    rules, and each person is told only that their peer has changed."""
    profile = await own_profile(session, actor=actor, now=now, settings=settings)
    today = _today(now, settings)
    if change_rest and resting_until is not None:
        problem = rules.rest_problem(resting_until, today=today, max_days=settings.peer_rest_max_days)
        if problem:
            raise InvalidInput.field("resting_until", problem)
    handover = Handover()
    if available is not None and available != profile.available:
        await accounts.set_availability(session, actor=actor, available=available, now=now)
        if not available:
            moved, left = await followups.reassign_open_of_peer(
                session, actor=actor, peer_id=actor.person_id, now=now, settings=settings
            )
            handover = Handover(moved, left)
    if change_rest and resting_until != profile.resting_until:
        state = await _state(session, actor.person_id, now)
        state.resting_until = resting_until
        state.updated_at = now
        session.add(state)
        await session.flush()
        audit.record(
            session,
            actor=actor,
            action="peer.rest_set" if resting_until else "peer.rest_ended",
            target_type="person",
            target_id=actor.person_id,
            at=now,
        )
        if rules.is_resting(resting_until, today):
            moved, left = await followups.reassign_open_of_peer(
                session,
                actor=actor,
                peer_id=actor.person_id,
                now=now,
                settings=settings,
                why="peer_resting",
                tell_people=True,
            )
            handover = Handover(handover.moved + moved, handover.unassigned + left)
    return handover


# -- the lead: training records and caps ----------------------------------------------------


async def peer_roster(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> list[PeerProfile]:
    """Every active peer with their load against their cap, training, rest and supervision
    due: for the lead (and TRiM managers, who supervise peers). Counts, never whom."""
    if not actor.has(Role.lead, Role.trim_manager):
        raise NotFound()
    return await _profiles(session, await _peer_ids(session), now=now, settings=settings)


async def _lead_peer(session: AsyncSession, actor: Actor, person_id: uuid.UUID) -> Person:
    if not actor.is_lead:
        raise NotFound()
    if not await _peer_ids(session, [person_id]):
        raise NotFound()
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound()
    return person


def _check_courses(courses: Sequence[CourseInput]) -> list[CourseInput]:
    errors: list[FieldError] = []
    names: set[str] = set()
    tidy = []
    if len(courses) > COURSES_MAX:
        errors.append(FieldError("courses", f"At most {COURSES_MAX} courses."))
    for i, c in enumerate(courses):
        name = " ".join(c.name.split())
        if not name or len(name) > COURSE_NAME_MAX:
            errors.append(FieldError(f"courses[{i}].name", f"Name the course (1-{COURSE_NAME_MAX} characters)."))
        elif name.lower() in names:
            errors.append(FieldError(f"courses[{i}].name", f"{name} is listed twice."))
        names.add(name.lower())
        if c.refresher_due is not None and c.refresher_due <= c.completed_on:
            errors.append(FieldError(f"courses[{i}].refresher_due", "The refresher falls due after the course."))
        tidy.append(CourseInput(name, c.completed_on, c.refresher_due))
    if errors:
        raise InvalidInput(errors[0].message, errors)
    return tidy


async def set_courses(
    session: AsyncSession,
    *,
    actor: Actor,
    person_id: uuid.UUID,
    courses: Sequence[CourseInput],
    now: datetime,
) -> list[PeerCourse]:
    """The lead replaces a peer's training record (name, completed on, refresher due)."""
    await _lead_peer(session, actor, person_id)
    tidy = _check_courses(courses)
    await replace_courses(session, person_id=person_id, courses=tidy, now=now)
    audit.record(
        session,
        actor=actor,
        action="peer.courses_set",
        target_type="person",
        target_id=person_id,
        details={"courses": len(tidy)},
        at=now,
    )
    return list(await session.exec(select(PeerCourse).where(PeerCourse.person_id == person_id)))


async def replace_courses(
    session: AsyncSession, *, person_id: uuid.UUID, courses: Sequence[CourseInput], now: datetime
) -> None:
    """Write a peer's courses (the lead's form, the roster import): these and no others."""
    await session.exec(delete(PeerCourse).where(col(PeerCourse.person_id) == person_id))
    session.add_all(
        PeerCourse(
            person_id=person_id, name=c.name, completed_on=c.completed_on, refresher_due=c.refresher_due, updated_at=now
        )
        for c in courses
    )
    await session.flush()


async def record_course(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    name: str,
    completed_on: date,
    refresher_due: date | None,
    now: datetime,
) -> None:
    """Add or update one named course (the roster import's trained_on / refresher_due)."""
    stmt = (
        dialect_insert(session, PeerCourse)
        .values(
            id=uuid.uuid4(),
            person_id=person_id,
            name=name,
            completed_on=completed_on,
            refresher_due=refresher_due,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["person_id", "name"],
            set_={"completed_on": completed_on, "refresher_due": refresher_due, "updated_at": now},
        )
    )
    await session.exec(stmt)


async def set_caseload_cap(
    session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, cap: int | None, now: datetime
) -> PeerState:
    """The lead sets a peer's cap (None: TRIM_PEER_CASELOAD_CAP). Lowering it moves nobody:
    the peer simply takes nobody new until they are under it."""
    await _lead_peer(session, actor, person_id)
    if cap is not None and not 1 <= cap <= 500:
        raise InvalidInput.field("cap", "A cap is a number of people from 1 to 500, or empty for the default.")
    state = await _state(session, person_id, now)
    old = state.caseload_cap
    state.caseload_cap = cap
    state.updated_at = now
    session.add(state)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="peer.cap_set",
        target_type="person",
        target_id=person_id,
        details={"from": old, "to": cap},
        at=now,
    )
    return state


# -- a debrief for the helper ------------------------------------------------------------------


async def ask_debrief(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> SupervisionTask:
    """ "I'd like to talk this one over": a supervision task for a TRiM manager or the lead.
    It holds the peer and the date only: nothing of the person or the incident reaches it.
    While one is open, asking again returns it."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if not actor.is_peer or actor.id not in (checkin.peer_id, checkin.recorded_by_id):
        raise NotFound()
    # One open debrief per peer: asking again (a second tap, another check-in) before it is
    # held is the same conversation, and tells nobody twice. The peer's row is locked so two
    # asks at once make one task (PostgreSQL; SQLite has one writer).
    await session.exec(select(Person.id).where(col(Person.id) == actor.person_id).with_for_update())
    waiting = (
        await session.exec(
            select(SupervisionTask).where(
                col(SupervisionTask.peer_id) == actor.person_id, col(SupervisionTask.outcome).is_(None)
            )
        )
    ).first()
    if waiting is not None:
        return waiting
    task = SupervisionTask(
        peer_id=actor.person_id,
        created_at=now,
        due=date.fromordinal(_today(now, settings).toordinal() + settings.peer_debrief_days),
    )
    session.add(task)
    await session.flush()
    audit.record(
        session, actor=actor, action="supervision.requested", target_type="supervision", target_id=task.id, at=now
    )
    subject, body = rules.DEBRIEF_ASKED
    for role in (Role.trim_manager, Role.lead):
        await notifications.notify_role(
            session,
            role=role,
            kind="supervision",
            subject=subject,
            body=body,
            link="/supervision",
            dedupe_key=f"supervision:{task.id}",
            now=now,
        )
    return task


@dataclass
class SupervisionView:
    task: SupervisionTask
    peer_name: str


def _supervises(actor: Actor) -> bool:
    return actor.has(Role.trim_manager, Role.lead)


async def supervision_tasks(
    session: AsyncSession, *, actor: Actor, limit: int = 100, offset: int = 0
) -> list[SupervisionView]:
    """Supervision tasks for TRiM managers and the lead: open first, then by date."""
    if not _supervises(actor):
        raise NotFound()
    rows = await session.exec(
        select(SupervisionTask, Person.name)
        .join(Person, col(Person.id) == col(SupervisionTask.peer_id))
        .order_by(col(SupervisionTask.outcome).is_not(None), col(SupervisionTask.due), col(SupervisionTask.id))
        .limit(limit)
        .offset(offset)
    )
    return [SupervisionView(task, name) for task, name in rows]


async def record_supervision_outcome(
    session: AsyncSession, *, actor: Actor, task_id: uuid.UUID, outcome: str, now: datetime
) -> SupervisionTask:
    """A TRiM manager or the lead records how a debrief went: held, declined, not needed.
    A peer never records their own."""
    if not _supervises(actor):
        raise NotFound()
    task = await session.get(SupervisionTask, task_id)
    if task is None:
        raise NotFound()
    if outcome not in set(SupervisionOutcome):
        raise InvalidInput.field("outcome", "Choose held, declined or not_needed.")
    if task.peer_id == actor.id:
        raise InvalidInput.field("outcome", "Someone else records the outcome of your own debrief.")
    if task.outcome is not None:
        raise Conflict("This debrief's outcome is already recorded.")
    task.outcome, task.outcome_at, task.outcome_by_id = outcome, now, actor.person_id
    session.add(task)
    audit.record(
        session,
        actor=actor,
        action="supervision.outcome",
        target_type="supervision",
        target_id=task.id,
        details={"outcome": outcome},
        at=now,
    )
    return task


# -- quiet peers: "tried to reach them" -------------------------------------------------------


async def log_contact_attempt(session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime) -> bool:
    """The assigned peer logs a try to reach the person without recording the check-in:
    it restarts the quiet-peer clock once. False when this peer already logged one."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.peer_id is None or checkin.peer_id != actor.id:
        raise NotFound()
    if checkin.outcome is not None:
        raise Conflict("This check-in is already recorded.")
    clock = await session.get(QuietClock, checkin.id)
    if clock is not None and clock.peer_id == actor.id and clock.contact_attempted_at is not None:
        return False
    if clock is None or clock.peer_id != actor.id:
        clock = clock or QuietClock(checkin_id=checkin.id)
        clock.peer_id, clock.started_at = actor.person_id, clock.started_at if clock.peer_id == actor.id else None
    clock.contact_attempted_at = now
    session.add(clock)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="checkin.contact_attempted",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        at=now,
    )
    return True


async def contact_attempted_at(session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID) -> datetime | None:
    """When the assigned peer logged their try to reach the person (None: not yet)."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    clock = await session.get(QuietClock, checkin.id)
    if clock is None or clock.peer_id != checkin.peer_id:
        return None
    return clock.contact_attempted_at
