"""The planning meeting after an incident and group briefings (design section 12).

Planning is read and written by the lead and TRiM managers (privacy.policy.planning_scope).
A route changed to briefing only or no action cancels the person's open check-ins with
that reason; changed back, exactly those open again from the incident time, caught up as
for a late log. Every change is audited. A stale version is a 409 naming what changed, so
two people editing at once cannot lose a route; the same record sent twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole
from trim.config import Settings
from trim.errors import Conflict, FieldError, InvalidInput
from trim.followups import service as followups
from trim.incidents.models import Exposure, Incident
from trim.planning import rules
from trim.planning.models import (
    ROUTE_LABELS,
    Briefing,
    BriefingAttendee,
    PlanningAttendee,
    PlanningRecord,
    PlanningRoute,
    Route,
)
from trim.privacy import audit, policy

MAX_PEOPLE = 1000
# Who is offered as an attendee of a planning meeting or the facilitator of a briefing.
STAFF_ROLES = ("lead", "trim_manager", "peer")


@dataclass(frozen=True)
class RouteInput:
    person_id: uuid.UUID
    route: str
    reason: str | None = None


@dataclass(frozen=True)
class PlanningInput:
    held_at: datetime | None
    attendee_ids: Sequence[uuid.UUID]
    routes: Sequence[RouteInput]
    # The version the editor read (0: no record yet); None only when there is none yet.
    version: int | None = None


@dataclass
class RouteLine:
    person_id: uuid.UUID
    name: str
    exposure_id: uuid.UUID
    route: str = Route.risk_assessment.value
    reason: str | None = None
    changed_at: datetime | None = None
    changed_in: int = 0  # the record's version that set it (0: the default, never set)

    @property
    def route_label(self) -> str:
        return ROUTE_LABELS.get(self.route, self.route)


@dataclass
class BriefingView:
    id: uuid.UUID
    held_at: datetime
    facilitator_id: uuid.UUID
    facilitator_name: str
    attendees: list[tuple[uuid.UUID, str]]


@dataclass
class PlanningView:
    incident: Incident
    held_at: datetime | None
    version: int
    attendees: list[tuple[uuid.UUID, str]]
    routes: list[RouteLine]
    updated_at: datetime | None = None
    recorded_by: str | None = None
    due_since: datetime | None = None  # set while planning is due (past the window, none held)
    briefings: list[BriefingView] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.held_at is not None


# -- reading -------------------------------------------------------------------------------


async def _record(session: AsyncSession, incident_id: uuid.UUID) -> PlanningRecord | None:
    return (await session.exec(select(PlanningRecord).where(PlanningRecord.incident_id == incident_id))).first()


async def _live_exposures(session: AsyncSession, incident_id: uuid.UUID) -> list[tuple[Exposure, str]]:
    rows = await session.exec(
        select(Exposure, Person.name)
        .join(Person, col(Person.id) == col(Exposure.person_id))
        .where(Exposure.incident_id == incident_id, col(Exposure.removed_at).is_(None))
        .order_by(col(Person.name))
    )
    return [(e, name) for e, name in rows]


async def _routes_by_exposure(
    session: AsyncSession, exposure_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PlanningRoute]:
    found: dict[uuid.UUID, PlanningRoute] = {}
    ids = list(exposure_ids)
    for start in range(0, len(ids), 500):
        for row in await session.exec(
            select(PlanningRoute).where(col(PlanningRoute.exposure_id).in_(ids[start : start + 500]))
        ):
            found[row.exposure_id] = row
    return found


async def _briefings(session: AsyncSession, incident_id: uuid.UUID) -> list[BriefingView]:
    briefings = list(
        await session.exec(select(Briefing).where(Briefing.incident_id == incident_id).order_by(col(Briefing.held_at)))
    )
    if not briefings:
        return []
    attendance = list(
        await session.exec(
            select(BriefingAttendee).where(col(BriefingAttendee.briefing_id).in_([b.id for b in briefings]))
        )
    )
    names = await accounts.names_of(session, [b.facilitator_id for b in briefings] + [a.person_id for a in attendance])
    views = []
    for b in briefings:
        people = sorted(
            ((a.person_id, names.get(a.person_id, "")) for a in attendance if a.briefing_id == b.id),
            key=lambda p: p[1],
        )
        views.append(BriefingView(b.id, b.held_at, b.facilitator_id, names.get(b.facilitator_id, ""), people))
    return views


async def _view(session: AsyncSession, incident: Incident, *, now: datetime, settings: Settings) -> PlanningView:
    record = await _record(session, incident.id)
    exposures = await _live_exposures(session, incident.id)
    routes = await _routes_by_exposure(session, [e.id for e, _ in exposures])
    lines = []
    for exposure, name in exposures:
        line = RouteLine(exposure.person_id, name, exposure.id)
        chosen = routes.get(exposure.id)
        if chosen is not None:
            line.route, line.reason = chosen.route, chosen.reason
            line.changed_at, line.changed_in = chosen.changed_at, chosen.version
        lines.append(line)
    attendees: list[tuple[uuid.UUID, str]] = []
    recorded_by = None
    if record is not None:
        ids = list(
            await session.exec(select(PlanningAttendee.person_id).where(PlanningAttendee.planning_id == record.id))
        )
        names = await accounts.names_of(session, [*ids, record.recorded_by_id])
        attendees = sorted(((pid, names.get(pid, "")) for pid in ids), key=lambda p: p[1])
        recorded_by = names.get(record.recorded_by_id) if record.recorded_by_id else None
    due = rules.is_planning_due(
        occurred_at=incident.occurred_at,
        held=record is not None,
        now=now,
        hours=settings.planning_due_hours,
        within_days=settings.planning_due_within_days,
    )
    return PlanningView(
        incident=incident,
        held_at=record.held_at if record else None,
        version=record.version if record else 0,
        attendees=attendees,
        routes=lines,
        updated_at=record.updated_at if record else None,
        recorded_by=recorded_by,
        due_since=rules.planning_due_since(incident.occurred_at, hours=settings.planning_due_hours) if due else None,
        briefings=await _briefings(session, incident.id),
    )


async def planning_for(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID, now: datetime, settings: Settings
) -> PlanningView:
    """The planning record of an incident, for the lead and TRiM managers (404 for anyone
    else). Reading it (names and routes) is audited."""
    incident = await policy.access_planning(session, actor, incident_id)
    view = await _view(session, incident, now=now, settings=settings)
    audit.record(session, actor=actor, action="planning.viewed", target_type="incident", target_id=incident.id, at=now)
    return view


async def held_on(session: AsyncSession, *, incident_id: uuid.UUID) -> datetime | None:
    """When planning was held for an incident, for whoever may see the incident (a
    supervisor sees this and nothing else of it); the caller has checked that access."""
    record = await _record(session, incident_id)
    return record.held_at if record else None


async def visible_routes(
    session: AsyncSession, *, actor: Actor, incident: Incident, exposures: Sequence[Exposure]
) -> dict[uuid.UUID, RouteLine]:
    """Routes by exposure id for the exposures whose route the actor may see (their own,
    their assigned people's, all for the lead); none of the others."""
    shown = [e for e in exposures if e.incident_id == incident.id and policy.can_view_route(actor, incident, e)]
    routes = await _routes_by_exposure(session, [e.id for e in shown])
    lines = {}
    for e in shown:
        chosen = routes.get(e.id)
        line = RouteLine(e.person_id, "", e.id)
        if chosen is not None:
            line.route, line.reason, line.changed_at = chosen.route, chosen.reason, chosen.changed_at
        lines[e.id] = line
    return lines


@dataclass(frozen=True)
class PlanningDue:
    incident_id: uuid.UUID
    occurred_at: datetime
    kind: str
    kind_other: str | None
    station_id: uuid.UUID | None
    due_since: datetime


async def planning_due(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> list[PlanningDue]:
    """Incidents past the planning window with no planning record, oldest first, for those
    who hold the meeting (empty for anyone else)."""
    if not policy.can_plan(actor):
        return []
    hours, days = settings.planning_due_hours, settings.planning_due_within_days
    rows = await session.exec(
        select(Incident)
        .where(
            policy.planning_scope(actor),
            col(Incident.occurred_at) <= now - timedelta(hours=hours),
            col(Incident.occurred_at) > now - timedelta(days=days),
            ~select(PlanningRecord.id).where(col(PlanningRecord.incident_id) == col(Incident.id)).exists(),
        )
        .order_by(col(Incident.occurred_at))
        .limit(200)
    )
    return [
        PlanningDue(
            i.id,
            i.occurred_at,
            i.kind,
            i.kind_other,
            i.station_id,
            rules.planning_due_since(i.occurred_at, hours=hours),
        )
        for i in rows
    ]


# -- recording the planning meeting -------------------------------------------------------


def _check_time(
    held_at: datetime | None, incident: Incident, now: datetime, settings: Settings, name: str
) -> list[FieldError]:
    if held_at is None:
        return [FieldError(name, "Enter when it was held.")]
    if held_at.tzinfo is None:
        return [FieldError(name, "Give the time with its zone, e.g. 2026-11-26T09:00:00Z.")]
    if held_at > now + timedelta(hours=1):
        return [FieldError(name, "That time is in the future; record it once it has been held.")]
    if held_at < incident.occurred_at:
        return [FieldError(name, "That is before the incident; check the date.")]
    return []


async def _active_people(
    session: AsyncSession, ids: Sequence[uuid.UUID], name: str, errors: list[FieldError]
) -> list[uuid.UUID]:
    if len(ids) > MAX_PEOPLE:
        errors.append(FieldError(name, f"List at most {MAX_PEOPLE} people."))
        return []
    wanted = list(ids)
    found = {p.id: p for p in await session.exec(select(Person).where(col(Person.id).in_(wanted)))} if wanted else {}
    seen: set[uuid.UUID] = set()
    for index, pid in enumerate(wanted):
        person = found.get(pid)
        if person is None or not person.active or person.is_pseudonym:
            errors.append(FieldError(f"{name}[{index}]", "No such person."))
        elif pid in seen:
            errors.append(FieldError(f"{name}[{index}]", f"{person.name} is listed twice."))
        seen.add(pid)
    return list(dict.fromkeys(wanted))


@dataclass(frozen=True)
class _Wanted:
    route: str
    reason: str | None


def _wanted_routes(
    data: PlanningInput, exposures: Sequence[tuple[Exposure, str]], errors: list[FieldError]
) -> dict[uuid.UUID, _Wanted]:
    """The route asked for each live exposure (by exposure id); unlisted people keep the
    default, risk assessment."""
    by_person = {e.person_id: e for e, _ in exposures}
    wanted = {e.id: _Wanted(Route.risk_assessment.value, None) for e, _ in exposures}
    seen: set[uuid.UUID] = set()
    for index, given in enumerate(data.routes):
        where = f"routes[{index}]"
        exposure = by_person.get(given.person_id)
        if exposure is None:
            errors.append(FieldError(f"{where}.person_id", "This person is not recorded as exposed to the incident."))
            continue
        if given.person_id in seen:
            errors.append(FieldError(f"{where}.person_id", "This person is listed twice."))
            continue
        seen.add(given.person_id)
        problem = rules.route_problem(given.route, given.reason)
        if problem:
            errors.append(FieldError(f"{where}.{'route' if given.route not in rules.ROUTES else 'reason'}", problem))
            continue
        reason = (given.reason or "").strip() or None if given.route == Route.no_action else None
        wanted[exposure.id] = _Wanted(given.route, reason)
    return wanted


async def save_planning(
    session: AsyncSession,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    data: PlanningInput,
    now: datetime,
    settings: Settings,
) -> PlanningView:
    """Record or change the planning meeting of an incident, and apply each route that
    changed to the person's check-ins. One transaction; 409 on a stale version (naming
    what changed); the same record again changes nothing."""
    incident = await policy.access_planning(session, actor, incident_id)
    errors = _check_time(data.held_at, incident, now, settings, "held_at")
    attendees = await _active_people(session, data.attendee_ids, "attendees", errors)
    exposures = await _live_exposures(session, incident.id)
    wanted = _wanted_routes(data, exposures, errors)
    if errors:
        raise InvalidInput("The planning record was not saved: " + errors[0].message, errors)
    assert data.held_at is not None
    record = await _record(session, incident.id)
    current = await _routes_by_exposure(session, [e.id for e, _ in exposures])
    now_attending = (
        set(await session.exec(select(PlanningAttendee.person_id).where(PlanningAttendee.planning_id == record.id)))
        if record
        else set()
    )

    def effective(exposure_id: uuid.UUID) -> _Wanted:
        row = current.get(exposure_id)
        return _Wanted(row.route, row.reason) if row else _Wanted(Route.risk_assessment.value, None)

    changed = [e for e, _ in exposures if effective(e.id) != wanted[e.id]]
    same_facts = record is not None and record.held_at == data.held_at and now_attending == set(attendees)
    if same_facts and not changed:
        return await _view(session, incident, now=now, settings=settings)  # sent twice: nothing to do
    version = await _claim_version(session, actor=actor, incident=incident, record=record, data=data, now=now)
    await session.exec(
        update(PlanningRecord)
        .where(col(PlanningRecord.incident_id) == incident.id)
        .values(held_at=data.held_at, updated_at=now, recorded_by_id=actor.id)
    )
    planning = await _record(session, incident.id)
    assert planning is not None
    await session.refresh(planning)
    if now_attending != set(attendees):
        gone = list(now_attending - set(attendees))
        if gone:
            await session.exec(
                delete(PlanningAttendee).where(
                    col(PlanningAttendee.planning_id) == planning.id, col(PlanningAttendee.person_id).in_(gone)
                )
            )
        session.add_all(
            PlanningAttendee(planning_id=planning.id, person_id=pid) for pid in attendees if pid not in now_attending
        )
    for exposure in changed:
        await _apply_route(
            session,
            actor=actor,
            exposure=exposure,
            old=effective(exposure.id),
            new=wanted[exposure.id],
            row=current.get(exposure.id),
            version=version,
            now=now,
            settings=settings,
        )
    audit.record(
        session,
        actor=actor,
        action="planning.recorded" if version == 1 else "planning.changed",
        target_type="incident",
        target_id=incident.id,
        details={
            "version": version,
            "held_at": data.held_at,
            "attendees": len(attendees),
            "routes_changed": len(changed),
        },
        at=now,
    )
    await session.flush()
    return await _view(session, incident, now=now, settings=settings)


async def _claim_version(
    session: AsyncSession,
    *,
    actor: Actor,
    incident: Incident,
    record: PlanningRecord | None,
    data: PlanningInput,
    now: datetime,
) -> int:
    """Move the record to its next version if the editor read the current one: a
    conditional UPDATE (or the unique incident for the first record), so of two editors at
    once exactly one wins and the other gets the 409."""
    read = data.version if data.version is not None else 0
    if record is None:
        if read != 0:
            raise await _stale(session, incident, read)
        try:
            async with session.begin_nested():
                session.add(
                    PlanningRecord(
                        incident_id=incident.id,
                        held_at=data.held_at or now,
                        version=1,
                        recorded_by_id=actor.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await session.flush()
        except IntegrityError:
            raise await _stale(session, incident, read) from None
        return 1
    if data.version is None:
        raise await _stale(session, incident, read, missing=True)
    claimed = await session.exec(
        update(PlanningRecord)
        .where(col(PlanningRecord.id) == record.id, col(PlanningRecord.version) == read)
        .values(version=read + 1)
    )
    if not claimed.rowcount:
        raise await _stale(session, incident, read)
    return read + 1


async def _stale(session: AsyncSession, incident: Incident, read: int, *, missing: bool = False) -> Conflict:
    """The 409 for an editor who read an older version: what changed since, by whom."""
    incident_id = incident.id
    session.expire_all()  # the other editor's committed change, not what this session held
    record = await _record(session, incident_id)
    exposures = await _live_exposures(session, incident_id)
    routes = await _routes_by_exposure(session, [e.id for e, _ in exposures])
    names = {e.id: name for e, name in exposures}
    changed_routes = [
        {"person_id": str(e.person_id), "name": names[e.id], "route": row.route, "reason": row.reason}
        for e, _ in exposures
        if (row := routes.get(e.id)) is not None and row.version > read
    ]
    by = (
        (await accounts.names_of(session, [record.recorded_by_id])).get(record.recorded_by_id)
        if record and record.recorded_by_id
        else None
    )
    if missing:
        detail = "A planning record exists already: send the version you read (GET it first), so no change is lost."
    else:
        who = f" by {by}" if by else ""
        detail = (
            f"Someone else changed the planning record{who} since you opened it. Nothing was saved: "
            "check what changed and try again."
        )
    conflict = Conflict(detail)
    conflict.extra = {
        "version": record.version if record else 0,
        "your_version": read,
        "changed_by": by,
        "changed_at": record.updated_at.isoformat().replace("+00:00", "Z") if record else None,
        "held_at": record.held_at.isoformat().replace("+00:00", "Z") if record else None,
        "changed_routes": changed_routes,
    }
    return conflict


async def _apply_route(
    session: AsyncSession,
    *,
    actor: Actor,
    exposure: Exposure,
    old: _Wanted,
    new: _Wanted,
    row: PlanningRoute | None,
    version: int,
    now: datetime,
    settings: Settings,
) -> None:
    """Keep the route and move the person's check-ins with it."""
    if row is None:
        row = PlanningRoute(incident_id=exposure.incident_id, exposure_id=exposure.id, route=new.route)
    row.route, row.reason, row.version, row.changed_by_id, row.changed_at = (
        new.route,
        new.reason,
        version,
        actor.id,
        now,
    )
    session.add(row)
    cancelled = reopened = 0
    reason = rules.cancel_reason(new.route, new.reason)
    if rules.cancels_checkins(new.route):
        if rules.cancels_checkins(old.route):
            await followups.recancel(session, exposure=exposure, reason_prefix=rules.CANCEL_PREFIX, reason=reason)
        cancelled = await followups.cancel_open(session, exposure=exposure, now=now, reason=reason)
    elif rules.cancels_checkins(old.route) and exposure.opted_out_at is None:
        incident = await session.get(Incident, exposure.incident_id)
        assert incident is not None
        reopened = await followups.reopen_cancelled(
            session, exposure=exposure, incident=incident, reason_prefix=rules.CANCEL_PREFIX, now=now, settings=settings
        )
    audit.record(
        session,
        actor=actor,
        action="planning.route_changed",
        target_type="exposure",
        target_id=exposure.id,
        subject_id=exposure.person_id,
        details={"from": old.route, "to": new.route, "cancelled": cancelled, "reopened": reopened, "version": version},
        at=now,
    )


# -- group briefings ----------------------------------------------------------------------


async def record_briefing(
    session: AsyncSession,
    *,
    actor: Actor,
    incident_id: uuid.UUID,
    held_at: datetime | None,
    facilitator_id: uuid.UUID | None,
    attendee_ids: Sequence[uuid.UUID],
    now: datetime,
    settings: Settings,
) -> BriefingView:
    """Record a group briefing: date, facilitator and attendance, nothing more."""
    incident = await policy.access_planning(session, actor, incident_id)
    errors = _check_time(held_at, incident, now, settings, "held_at")
    if facilitator_id is None:
        errors.append(FieldError("facilitator_id", "Choose who led the briefing."))
    else:
        await _active_people(session, [facilitator_id], "facilitator_id", errors)
        errors = [
            FieldError("facilitator_id", e.message) if e.field.startswith("facilitator_id") else e for e in errors
        ]
    attendees = await _active_people(session, attendee_ids, "attendee_ids", errors)
    if not attendees and not any(e.field.startswith("attendee_ids") for e in errors):
        errors.append(FieldError("attendee_ids", "Tick who came to the briefing."))
    if errors:
        raise InvalidInput("The briefing was not recorded: " + errors[0].message, errors)
    assert held_at is not None and facilitator_id is not None
    briefing = Briefing(
        incident_id=incident.id, held_at=held_at, facilitator_id=facilitator_id, recorded_by_id=actor.id, created_at=now
    )
    session.add(briefing)
    await session.flush()
    session.add_all(BriefingAttendee(briefing_id=briefing.id, person_id=pid) for pid in attendees)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="briefing.recorded",
        target_type="incident",
        target_id=incident.id,
        details={"briefing_id": briefing.id, "attendees": len(attendees)},
        at=now,
    )
    names = await accounts.names_of(session, [facilitator_id, *attendees])
    return BriefingView(
        briefing.id,
        held_at,
        facilitator_id,
        names.get(facilitator_id, ""),
        sorted(((pid, names.get(pid, "")) for pid in attendees), key=lambda p: p[1]),
    )


# -- for the pages -----------------------------------------------------------------------


@dataclass(frozen=True)
class StaffChoice:
    id: uuid.UUID
    name: str


async def staff_choices(session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID) -> list[StaffChoice]:
    """Who may have attended a planning meeting or led a briefing: the lead, TRiM managers
    and peer supporters (active), for those who hold the meeting."""
    await policy.access_planning(session, actor, incident_id)
    rows = await session.exec(
        select(Person.id, Person.name)
        .where(
            col(Person.active).is_(True),
            col(Person.id).in_(select(PersonRole.person_id).where(col(PersonRole.role).in_(STAFF_ROLES))),
        )
        .order_by(col(Person.name))
        .limit(MAX_PEOPLE)
    )
    return [StaffChoice(pid, name) for pid, name in rows]


@dataclass(frozen=True)
class PlannedIncident:
    incident: Incident
    held_at: datetime | None
    due: bool


async def planning_list(
    session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings, limit: int = 50
) -> list[PlannedIncident]:
    """Recent incidents whose planning the actor holds, newest first, with whether planning
    was held and whether it is due."""
    if not policy.can_plan(actor):
        return []
    incidents = list(
        await session.exec(
            select(Incident).where(policy.planning_scope(actor)).order_by(col(Incident.occurred_at).desc()).limit(limit)
        )
    )
    held = {
        r.incident_id: r.held_at
        for r in await session.exec(
            select(PlanningRecord).where(col(PlanningRecord.incident_id).in_([i.id for i in incidents]))
        )
    }
    return [
        PlannedIncident(
            i,
            held.get(i.id),
            rules.is_planning_due(
                occurred_at=i.occurred_at,
                held=i.id in held,
                now=now,
                hours=settings.planning_due_hours,
                within_days=settings.planning_due_within_days,
            ),
        )
        for i in incidents
    ]


async def routes_for_incident_page(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID
) -> dict[uuid.UUID, RouteLine]:
    """Routes by person id on an incident page, for the people whose route the actor may
    see (policy.can_view_route); the caller has opened the incident for them."""
    incident = await policy.access_incident(session, actor, incident_id)
    exposures = [e for e, _ in await _live_exposures(session, incident.id)]
    return {
        line.person_id: line
        for line in (await visible_routes(session, actor=actor, incident=incident, exposures=exposures)).values()
    }


@dataclass(frozen=True)
class PlanningSection:
    """The planning meeting and briefings of one incident as its page shows them to the lead
    and TRiM managers."""

    plan: PlanningView
    staff: list[StaffChoice]
    due_hours: int
    route_labels: dict[str, str] = field(default_factory=lambda: dict(ROUTE_LABELS))
    briefing_why: str = rules.BRIEFING_WHY


async def planning_section(
    session: AsyncSession, *, actor: Actor, incident_id: uuid.UUID, now: datetime, settings: Settings
) -> PlanningSection:
    """The planning section of an incident's page (404 for anyone who does not plan)."""
    plan = await planning_for(session, actor=actor, incident_id=incident_id, now=now, settings=settings)
    staff = await staff_choices(session, actor=actor, incident_id=incident_id)
    return PlanningSection(plan, staff, settings.planning_due_hours)
