"""The check-in schedule: creating, moving, assigning and listing check-ins."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role
from trim.config import Settings
from trim.errors import Conflict, InvalidInput, NotFound
from trim.followups import eligibility, rules
from trim.followups.models import CheckIn, Outcome, PeerChangeRequest
from trim.groups import rules as group_rules
from trim.groups.models import ExposureGroup, ExposureGroupMember
from trim.incidents.models import KIND_LABELS, Exposure, Incident, IncidentKind
from trim.notifications import service as notifications
from trim.privacy import audit, policy

# -- peers and their load ------------------------------------------------------------


async def peer_candidates(session: AsyncSession, *, now: datetime, settings: Settings) -> list[rules.PeerCandidate]:
    """Active, available peer supporters with their open check-in counts, through the
    eligibility filter of section 13 (not lapsed, not resting, under their cap)."""
    open_counts = (
        select(col(CheckIn.peer_id), func.count().label("n"))
        .where(col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_not(None))
        .group_by(col(CheckIn.peer_id))
        .subquery()
    )
    rows = await session.exec(
        select(Person, func.coalesce(open_counts.c.n, 0))
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .outerjoin(open_counts, open_counts.c.peer_id == col(Person.id))
        .where(PersonRole.role == Role.peer, col(Person.active).is_(True), col(Person.available).is_(True))
    )
    candidates = [
        rules.PeerCandidate(
            id=p.id,
            name=p.name,
            station_id=p.station_id,
            open_checkins=int(n),
            staff_number=p.staff_number,
            manager_staff_number=p.manager_staff_number,
        )
        for p, n in rows
    ]
    return await eligibility.fit_for_new_work(session, candidates, now=now, settings=settings)


async def _exposed_ids(session: AsyncSession, incident_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.exec(
        select(Exposure.person_id).where(Exposure.incident_id == incident_id, col(Exposure.removed_at).is_(None))
    )
    return set(rows)


@dataclass(frozen=True)
class PersonPlace:
    """What assignment needs to know of the person: their station and line (section 5)."""

    station_id: uuid.UUID | None = None
    staff_number: str | None = None
    manager_staff_number: str | None = None


async def _people_places(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PersonPlace]:
    places: dict[uuid.UUID, PersonPlace] = {}
    ids = list(dict.fromkeys(person_ids))
    for start in range(0, len(ids), 500):
        rows = await session.exec(
            select(Person.id, Person.station_id, Person.staff_number, Person.manager_staff_number).where(
                col(Person.id).in_(ids[start : start + 500])
            )
        )
        for pid, station_id, staff, manager in rows:
            places[pid] = PersonPlace(station_id, staff, manager)
    return places


async def people_places(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PersonPlace]:
    """Each person's station and line, for assignment by the usual rules."""
    return await _people_places(session, person_ids)


async def _person_place(session: AsyncSession, person_id: uuid.UUID) -> PersonPlace:
    return (await _people_places(session, [person_id])).get(person_id, PersonPlace())


class Assigner:
    """Chooses peers for many exposures of one change, keeping the load counts current
    as it goes, so 200 people logged at once are spread evenly."""

    def __init__(self, candidates: list[rules.PeerCandidate], settings: Settings) -> None:
        self.loads = {c.id: c for c in candidates}
        self.settings = settings

    def choose(
        self,
        *,
        person_id: uuid.UUID,
        place: PersonPlace,
        exposed_ids: set[uuid.UUID],
        new_checkins: int,
        exclude: set[uuid.UUID] | None = None,
    ) -> uuid.UUID | None:
        chosen = rules.choose_peer(
            list(self.loads.values()),
            person_id=person_id,
            person_station_id=place.station_id,
            exposed_ids=exposed_ids,
            avoid_same_station=self.settings.assign_avoid_same_station,
            exclude=exclude,
            person_staff_number=place.staff_number,
            person_manager_staff_number=place.manager_staff_number,
        )
        if chosen is None:
            return None
        room = None if chosen.room is None else chosen.room - 1
        self.loads[chosen.id] = dataclasses.replace(
            chosen, open_checkins=chosen.open_checkins + new_checkins, room=room
        )
        return chosen.id


async def new_assigner(session: AsyncSession, settings: Settings, *, now: datetime) -> Assigner:
    return Assigner(await peer_candidates(session, now=now, settings=settings), settings)


# -- scheduling ----------------------------------------------------------------------


def _build_checkins(exposure: Exposure, occurred_at: datetime, *, now: datetime, settings: Settings) -> list[CheckIn]:
    checkins = []
    for offset in settings.scheduled_offsets_days:
        scheduled = rules.scheduled_time(occurred_at, offset, settings.zone)
        checkins.append(
            CheckIn(
                exposure_id=exposure.id,
                incident_id=exposure.incident_id,
                person_id=exposure.person_id,
                peer_id=exposure.peer_id,
                kind=rules.checkin_kind(offset),
                offset_days=offset,
                scheduled_for=scheduled,
                due_at=rules.due_time(scheduled, now),
                created_at=now,
            )
        )
    return checkins


async def schedule_exposures(
    session: AsyncSession,
    *,
    actor: Actor,
    incident: Incident,
    exposures: Sequence[Exposure],
    person_stations: dict[uuid.UUID, uuid.UUID | None],
    now: datetime,
    settings: Settings,
) -> list[CheckIn]:
    """Assign a peer to each new exposure and create its check-ins at the configured
    offsets from the incident time (any already past are due now)."""
    exposed = await _exposed_ids(session, incident.id)
    exposed |= {e.person_id for e in exposures}
    assigner = await new_assigner(session, settings, now=now)
    places = await _people_places(session, [e.person_id for e in exposures if e.peer_id is None])
    created: list[CheckIn] = []
    offsets = len(settings.scheduled_offsets_days)
    for exposure in exposures:
        if exposure.peer_id is None:  # a peer chosen already (e.g. from a request) is kept
            place = places.get(exposure.person_id, PersonPlace())
            exposure.peer_id = assigner.choose(
                person_id=exposure.person_id,
                # Stations as the caller gave them; the line from the roster.
                place=dataclasses.replace(place, station_id=person_stations.get(exposure.person_id)),
                exposed_ids=exposed,
                new_checkins=offsets,
            )
        created.extend(_build_checkins(exposure, incident.occurred_at, now=now, settings=settings))
    session.add_all(exposures)
    await session.flush()  # exposures before the check-ins that refer to them
    session.add_all(created)
    await session.flush()
    for exposure in exposures:
        audit.record(
            session,
            actor=actor,
            action="exposure.scheduled",
            target_type="exposure",
            target_id=exposure.id,
            subject_id=exposure.person_id,
            details={"peer_id": exposure.peer_id, "checkins": offsets},
            at=now,
        )
    return created


async def reschedule_missing(
    session: AsyncSession, *, exposure: Exposure, incident: Incident, now: datetime, settings: Settings
) -> list[CheckIn]:
    """For a re-added exposure: create the check-ins it does not have yet."""
    have = set(await session.exec(select(CheckIn.kind).where(CheckIn.exposure_id == exposure.id)))
    missing = [
        c for c in _build_checkins(exposure, incident.occurred_at, now=now, settings=settings) if c.kind not in have
    ]
    session.add_all(missing)
    # Cancelled ones (from the earlier removal) come back as open.
    cancelled = list(
        await session.exec(
            select(CheckIn).where(CheckIn.exposure_id == exposure.id, CheckIn.outcome == Outcome.cancelled)
        )
    )
    for checkin in cancelled:
        checkin.outcome = None
        checkin.outcome_reason = None
        checkin.recorded_at = None
        checkin.peer_id = exposure.peer_id
        checkin.due_at = rules.due_time(checkin.scheduled_for, now)
        session.add(checkin)
    await session.flush()
    return missing


async def cancel_open(session: AsyncSession, *, exposure: Exposure, now: datetime, reason: str) -> int:
    """Cancel an exposure's open check-ins; what was done stays."""
    result = await session.exec(
        update(CheckIn)
        .where(col(CheckIn.exposure_id) == exposure.id, col(CheckIn.outcome).is_(None))
        .values(outcome="cancelled", outcome_reason=reason, recorded_at=now)
    )
    return int(result.rowcount or 0)


async def recancel(session: AsyncSession, *, exposure: Exposure, reason_prefix: str, reason: str) -> int:
    """Give the check-ins cancelled for one reason (those whose reason starts with
    `reason_prefix`) a new reason; nothing else changes."""
    result = await session.exec(
        update(CheckIn)
        .where(
            col(CheckIn.exposure_id) == exposure.id,
            col(CheckIn.outcome) == Outcome.cancelled,
            col(CheckIn.outcome_reason).startswith(reason_prefix, autoescape=True),
        )
        .values(outcome_reason=reason)
    )
    return int(result.rowcount or 0)


async def reopen_cancelled(
    session: AsyncSession,
    *,
    exposure: Exposure,
    incident: Incident,
    reason_prefix: str,
    now: datetime,
    settings: Settings,
) -> int:
    """Open again the check-ins cancelled for one reason (their reason starts with
    `reason_prefix`), from the incident's time as it is now, with catch-up as for a late
    log: one whose time has passed is due now. Others cancelled (opted out, removed) stay
    cancelled. With no peer yet, one is chosen by the usual rules."""
    checkins = list(
        await session.exec(
            select(CheckIn).where(
                CheckIn.exposure_id == exposure.id,
                CheckIn.outcome == Outcome.cancelled,
                col(CheckIn.outcome_reason).startswith(reason_prefix, autoescape=True),
            )
        )
    )
    if not checkins:
        return 0
    if exposure.peer_id is None:
        await assign_exposure(session, exposure=exposure, now=now, settings=settings)
    for checkin in checkins:
        checkin.outcome = None
        checkin.outcome_reason = None
        checkin.recorded_at = None
        checkin.peer_id = exposure.peer_id
        if not rules.is_return_kind(checkin.kind):  # tied to the return date, not the incident time
            checkin.scheduled_for = rules.scheduled_time(incident.occurred_at, checkin.offset_days, settings.zone)
        checkin.due_at = rules.due_time(checkin.scheduled_for, now)
        session.add(checkin)
    await session.flush()
    return len(checkins)


async def move_open(session: AsyncSession, *, incident: Incident, now: datetime, settings: Settings) -> int:
    """After the incident time changes: open check-ins follow it; recorded ones never move."""
    moved = 0
    for checkin in await session.exec(
        select(CheckIn).where(CheckIn.incident_id == incident.id, col(CheckIn.outcome).is_(None))
    ):
        if rules.is_return_kind(checkin.kind):
            continue  # tied to the day the person went back to work, not to the incident time
        scheduled = rules.scheduled_time(incident.occurred_at, checkin.offset_days, settings.zone)
        checkin.scheduled_for = scheduled
        checkin.due_at = rules.due_time(scheduled, now)
        session.add(checkin)
        moved += 1
    return moved


# -- return to work (design section 18) -----------------------------------------------


@dataclass(frozen=True)
class ReturnToWork:
    checkins: list[CheckIn]
    already: bool  # started before: nothing new was made


async def start_return_to_work(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    returned_on: date,
    now: datetime,
    settings: Settings,
) -> ReturnToWork:
    """The person, or their peer, says "I'm back at work on DATE": check-ins at the
    configured days after it, on the exposure of this check-in, with the same peer, the
    same instruments and the same rules. Started twice, the first stands."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if actor.id not in (checkin.person_id, checkin.peer_id) or checkin.exposure_id is None:
        raise NotFound()  # a periodic check-in has no incident to follow up a return from
    exposure = await session.get(Exposure, checkin.exposure_id)
    incident = await session.get(Incident, checkin.incident_id)
    if exposure is None or incident is None or exposure.removed_at is not None:
        raise NotFound()
    existing = list(
        await session.exec(
            select(CheckIn)
            .where(CheckIn.exposure_id == exposure.id, col(CheckIn.kind).startswith(rules.RETURN_PREFIX))
            .order_by(col(CheckIn.offset_days))
        )
    )
    if existing:
        return ReturnToWork(checkins=existing, already=True)
    if exposure.peer_id is None:
        raise InvalidInput(
            "There is no peer supporter for these check-ins yet, so nobody could follow up the return to work. "
            "The programme lead is arranging one: try again once a peer is named."
        )
    zone = settings.zone
    incident_day = incident.occurred_at.astimezone(zone).date()
    problem = rules.return_date_problem(
        returned_on,
        incident_day=incident_day,
        today=now.astimezone(zone).date(),
        past=settings.return_max_past_days,
        future=settings.return_max_future_days,
    )
    if problem:
        raise InvalidInput(problem)
    created = []
    for days in settings.return_checkin_days:
        scheduled = rules.return_scheduled_time(returned_on, incident.occurred_at, days, zone)
        created.append(
            CheckIn(
                exposure_id=exposure.id,
                incident_id=exposure.incident_id,
                person_id=exposure.person_id,
                peer_id=exposure.peer_id,
                kind=rules.return_kind(days),
                offset_days=(returned_on - incident_day).days + days,
                scheduled_for=scheduled,
                due_at=rules.due_time(scheduled, now),
                created_at=now,
            )
        )
    session.add_all(created)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="return_to_work.started",
        target_type="exposure",
        target_id=exposure.id,
        subject_id=exposure.person_id,
        details={"returned_on": returned_on.isoformat(), "checkins": len(created)},
        at=now,
    )
    return ReturnToWork(checkins=created, already=False)


async def return_checkins(session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID) -> list[CheckIn]:
    """The return-to-work check-ins on the exposure of this check-in, for the person and
    their peer (the two who can start one); nothing for anyone else."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if actor.id not in (checkin.person_id, checkin.peer_id) or checkin.exposure_id is None:
        return []
    return list(
        await session.exec(
            select(CheckIn)
            .where(CheckIn.exposure_id == checkin.exposure_id, col(CheckIn.kind).startswith(rules.RETURN_PREFIX))
            .order_by(col(CheckIn.offset_days))
        )
    )


# -- assignment ------------------------------------------------------------------------


async def _set_exposure_peer(session: AsyncSession, *, exposure: Exposure, peer_id: uuid.UUID | None) -> int:
    exposure.peer_id = peer_id
    session.add(exposure)
    result = await session.exec(
        update(CheckIn)
        .where(col(CheckIn.exposure_id) == exposure.id, col(CheckIn.outcome).is_(None))
        .values(peer_id=peer_id)
    )
    return int(result.rowcount or 0)


async def assign_exposure(
    session: AsyncSession, *, exposure: Exposure, now: datetime, settings: Settings
) -> uuid.UUID | None:
    """Choose a peer for one exposure by the usual rules (None: nobody qualifies)."""
    assigner = await new_assigner(session, settings, now=now)
    exposure.peer_id = assigner.choose(
        person_id=exposure.person_id,
        place=await _person_place(session, exposure.person_id),
        exposed_ids=await _exposed_ids(session, exposure.incident_id),
        new_checkins=len(settings.scheduled_offsets_days),
    )
    session.add(exposure)
    return exposure.peer_id


async def assign_unassigned(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> int:
    """The lead asks the rules to try again for everyone still without a peer."""
    if not actor.is_lead:
        raise NotFound()
    exposures = list(
        await session.exec(
            select(Exposure).where(
                col(Exposure.peer_id).is_(None),
                col(Exposure.removed_at).is_(None),
                col(Exposure.id).in_(select(CheckIn.exposure_id).where(col(CheckIn.outcome).is_(None))),
            )
        )
    )
    assigner = await new_assigner(session, settings, now=now)
    assigned = await assign_unassigned_periodic(session, assigner=assigner, actor=actor, now=now)
    for exposure in exposures:
        peer_id = assigner.choose(
            person_id=exposure.person_id,
            place=await _person_place(session, exposure.person_id),
            exposed_ids=await _exposed_ids(session, exposure.incident_id),
            new_checkins=await _open_count(session, exposure.id),
        )
        if peer_id is None:
            continue
        await _set_exposure_peer(session, exposure=exposure, peer_id=peer_id)
        assigned += 1
        audit.record(
            session,
            actor=actor,
            action="exposure.reassigned",
            target_type="exposure",
            target_id=exposure.id,
            subject_id=exposure.person_id,
            details={"from": None, "to": peer_id, "why": "assign_unassigned"},
            at=now,
        )
    return assigned


async def assign_unassigned_periodic(
    session: AsyncSession, *, assigner: Assigner, actor: Actor | str, now: datetime, limit: int = 500
) -> int:
    """Open periodic check-ins (no exposure) still without a peer, each tried by the usual
    rules again; claimed by a conditional update, so two workers assign each once."""
    waiting = list(
        await session.exec(
            select(CheckIn.id, CheckIn.person_id)
            .where(col(CheckIn.exposure_id).is_(None), col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_(None))
            .order_by(col(CheckIn.due_at))
            .limit(limit)
        )
    )
    assigned = 0
    for checkin_id, person_id in waiting:
        peer_id = assigner.choose(
            person_id=person_id, place=await _person_place(session, person_id), exposed_ids=set(), new_checkins=1
        )
        if peer_id is None:
            continue
        claimed = await session.exec(
            update(CheckIn)
            .where(col(CheckIn.id) == checkin_id, col(CheckIn.peer_id).is_(None), col(CheckIn.outcome).is_(None))
            .values(peer_id=peer_id)
            .execution_options(synchronize_session=False)
        )
        if (claimed.rowcount or 0) != 1:
            continue
        assigned += 1
        audit.record(
            session,
            actor=actor,
            action="checkin.reassigned",
            target_type="checkin",
            target_id=checkin_id,
            subject_id=person_id,
            details={"from": None, "to": peer_id, "why": "assign_unassigned"},
            at=now,
        )
    return assigned


async def _refuse_manual_peer(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    peer_id: uuid.UUID,
    exposed: set[uuid.UUID],
    now: datetime,
    settings: Settings,
) -> None:
    # The lead's choice of peer keeps the usual rules: 422 naming why, 409 for lapsed or resting.
    peer = await session.get(Person, peer_id)
    roles = set(await session.exec(select(PersonRole.role).where(PersonRole.person_id == peer_id)))
    if peer is None or not peer.active or Role.peer not in roles:
        raise InvalidInput.field("peer_id", "Choose an active peer supporter.")
    if peer_id == person_id:
        raise InvalidInput.field("peer_id", "A person cannot be their own peer supporter.")
    if peer_id in exposed:
        raise InvalidInput.field("peer_id", "This peer was exposed to the same incident; choose someone else.")
    place = await _person_place(session, person_id)
    if rules.line_related(place.staff_number, place.manager_staff_number, peer.staff_number, peer.manager_staff_number):
        raise InvalidInput.field(
            "peer_id", "This peer is the person's line manager, or is managed by them; choose someone else."
        )
    refusal = await eligibility.manual_assignment_refusal(session, peer_id=peer_id, now=now, settings=settings)
    if refusal:
        raise Conflict(refusal)


async def reassign_checkin(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    peer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
) -> CheckIn:
    """The lead gives an open periodic check-in (no incident) to another peer, by the same
    rules as reassigning an exposure's; an incident's check-in moves with its exposure."""
    if not actor.is_lead:
        raise NotFound()
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.exposure_id is not None:
        await reassign_exposure(
            session, actor=actor, exposure_id=checkin.exposure_id, peer_id=peer_id, now=now, settings=settings
        )
        return checkin
    if checkin.outcome is not None:
        raise Conflict("This check-in has been recorded already.")
    await _refuse_manual_peer(
        session, person_id=checkin.person_id, peer_id=peer_id, exposed=set(), now=now, settings=settings
    )
    old = checkin.peer_id
    checkin.peer_id = peer_id
    session.add(checkin)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="checkin.reassigned",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        details={"from": old, "to": peer_id},
        at=now,
    )
    return checkin


async def reassign_exposure(
    session: AsyncSession,
    *,
    actor: Actor,
    exposure_id: uuid.UUID,
    peer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
) -> Exposure:
    """The lead gives a person's check-ins for an incident to another peer (409 when the
    peer's training has lapsed or they are resting, naming the date)."""
    if not actor.is_lead:
        raise NotFound()
    exposure = await session.get(Exposure, exposure_id)
    if exposure is None or exposure.removed_at is not None:
        raise NotFound()
    await _refuse_manual_peer(
        session,
        person_id=exposure.person_id,
        peer_id=peer_id,
        exposed=await _exposed_ids(session, exposure.incident_id),
        now=now,
        settings=settings,
    )
    old = exposure.peer_id
    await _set_exposure_peer(session, exposure=exposure, peer_id=peer_id)
    await _resolve_change_requests(session, actor=actor, exposure_id=exposure.id, now=now)
    audit.record(
        session,
        actor=actor,
        action="exposure.reassigned",
        target_type="exposure",
        target_id=exposure.id,
        subject_id=exposure.person_id,
        details={"from": old, "to": peer_id},
        at=now,
    )
    return exposure


async def reassign_open_of_peer(
    session: AsyncSession,
    *,
    actor: Actor,
    peer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
    why: str = "peer_unavailable",
    tell_people: bool = False,
) -> tuple[int, int]:
    """A peer became unavailable, was deactivated, is resting or lapsed: hand their open
    work to others by the same rules. With `tell_people`, each person who has a new peer
    is told only that their peer has changed. Returns (people reassigned, left unassigned)."""
    exposures = list(
        await session.exec(
            select(Exposure)
            .where(Exposure.peer_id == peer_id, col(Exposure.removed_at).is_(None))
            .where(col(Exposure.id).in_(select(CheckIn.exposure_id).where(col(CheckIn.outcome).is_(None))))
        )
    )
    periodic = list(
        await session.exec(
            select(CheckIn).where(
                CheckIn.peer_id == peer_id, col(CheckIn.exposure_id).is_(None), col(CheckIn.outcome).is_(None)
            )
        )
    )
    if not exposures and not periodic:
        return 0, 0
    assigner = await new_assigner(session, settings, now=now)
    assigner.loads.pop(peer_id, None)
    moved = unassigned = 0
    for checkin in periodic:  # no exposure: each periodic check-in moves on its own
        new_peer = assigner.choose(
            person_id=checkin.person_id,
            place=await _person_place(session, checkin.person_id),
            exposed_ids=set(),
            new_checkins=1,
            exclude={peer_id},
        )
        checkin.peer_id = new_peer
        session.add(checkin)
        handed = await _handed_on(
            session, actor, "checkin", checkin.id, checkin.person_id, peer_id, new_peer, why, tell_people, now
        )
        moved, unassigned = moved + handed, unassigned + (not handed)
    for exposure in exposures:
        open_count = await _open_count(session, exposure.id)
        new_peer = assigner.choose(
            person_id=exposure.person_id,
            place=await _person_place(session, exposure.person_id),
            exposed_ids=await _exposed_ids(session, exposure.incident_id),
            new_checkins=open_count,
            exclude={peer_id},
        )
        await _set_exposure_peer(session, exposure=exposure, peer_id=new_peer)
        handed = await _handed_on(
            session, actor, "exposure", exposure.id, exposure.person_id, peer_id, new_peer, why, tell_people, now
        )
        moved, unassigned = moved + handed, unassigned + (not handed)
    subject, body = rules.handover_message(moved=moved, unassigned=unassigned)
    await notifications.notify_role(
        session, role="lead", kind="reassignment", subject=subject, body=body, link="/overview", now=now
    )
    return moved, unassigned


async def _handed_on(
    session: AsyncSession,
    actor: Actor,
    target_type: str,
    target_id: uuid.UUID,
    person_id: uuid.UUID,
    from_peer: uuid.UUID,
    new_peer: uuid.UUID | None,
    why: str,
    tell_people: bool,
    now: datetime,
) -> bool:
    """After a check-in or an exposure was handed on (or left with nobody): the person told
    only that their peer changed (when asked to), and the audit event. True when it moved."""
    if new_peer is not None and tell_people:
        await eligibility.tell_peer_changed(session, person_id=person_id, key=f"{target_id}:{now.isoformat()}", now=now)
    audit.record(
        session,
        actor=actor,
        action=f"{target_type}.reassigned",
        target_type=target_type,
        target_id=target_id,
        subject_id=person_id,
        details={"from": from_peer, "to": new_peer, "why": why},
        at=now,
    )
    return new_peer is not None


async def move_from_quiet_peer(
    session: AsyncSession,
    *,
    exposure_id: uuid.UUID,
    from_peer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
    assigner: Assigner | None = None,
) -> tuple[bool, uuid.UUID | None]:
    """A quiet peer's check-ins for one exposure go to another peer by the usual rules
    (never back to them). The move is claimed by a conditional update on the exposure, so
    two workers move it once. Returns (claimed, new peer); (True, None): nobody else
    qualifies and it stays where it is; (False, None): it had moved already.

    A sweep moving many passes one `assigner` for them all (it keeps the loads current as
    it chooses), rather than counting every peer's open check-ins again for each move. The
    quiet peer's own load is left as it was read: a little high for the rest of the
    batch, so their room under the cap is never overstated."""
    exposure = await session.get(Exposure, exposure_id)
    if exposure is None or exposure.removed_at is not None or exposure.peer_id != from_peer_id:
        return False, None
    if assigner is None:
        assigner = await new_assigner(session, settings, now=now)
    new_peer = assigner.choose(
        person_id=exposure.person_id,
        place=await _person_place(session, exposure.person_id),
        exposed_ids=await _exposed_ids(session, exposure.incident_id),
        new_checkins=await _open_count(session, exposure.id),
        exclude={from_peer_id},
    )
    if new_peer is None:
        return True, None
    claimed = await session.exec(
        update(Exposure)
        .where(col(Exposure.id) == exposure_id, col(Exposure.peer_id) == from_peer_id)
        .values(peer_id=new_peer)
        .execution_options(synchronize_session=False)
    )
    if (claimed.rowcount or 0) != 1:
        return False, None
    await session.refresh(exposure)
    await _set_exposure_peer(session, exposure=exposure, peer_id=new_peer)
    audit.record(
        session,
        actor="system",
        action="exposure.reassigned",
        target_type="exposure",
        target_id=exposure.id,
        subject_id=exposure.person_id,
        details={"from": from_peer_id, "to": new_peer, "why": "quiet_peer"},
        at=now,
    )
    return True, new_peer


async def move_checkin_from_quiet_peer(
    session: AsyncSession,
    *,
    checkin_id: uuid.UUID,
    from_peer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
    assigner: Assigner | None = None,
) -> tuple[bool, uuid.UUID | None]:
    """As `move_from_quiet_peer`, for a check-in with no exposure (periodic): claimed by a
    conditional update on the check-in itself, so two workers move it once."""
    checkin = await session.get(CheckIn, checkin_id)
    if checkin is None or checkin.outcome is not None or checkin.peer_id != from_peer_id:
        return False, None
    if assigner is None:
        assigner = await new_assigner(session, settings, now=now)
    new_peer = assigner.choose(
        person_id=checkin.person_id,
        place=await _person_place(session, checkin.person_id),
        exposed_ids=set(),
        new_checkins=1,
        exclude={from_peer_id},
    )
    if new_peer is None:
        return True, None
    claimed = await session.exec(
        update(CheckIn)
        .where(col(CheckIn.id) == checkin_id, col(CheckIn.peer_id) == from_peer_id, col(CheckIn.outcome).is_(None))
        .values(peer_id=new_peer)
        .execution_options(synchronize_session=False)
    )
    if (claimed.rowcount or 0) != 1:
        return False, None
    audit.record(
        session,
        actor="system",
        action="checkin.reassigned",
        target_type="checkin",
        target_id=checkin_id,
        subject_id=checkin.person_id,
        details={"from": from_peer_id, "to": new_peer, "why": "quiet_peer"},
        at=now,
    )
    return True, new_peer


async def _open_count(session: AsyncSession, exposure_id: uuid.UUID) -> int:
    return int(
        (
            await session.exec(
                select(func.count()).where(CheckIn.exposure_id == exposure_id, col(CheckIn.outcome).is_(None))
            )
        ).one()
    )


async def request_different_peer(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime
) -> PeerChangeRequest:
    """The person asks for a different peer; it reaches the lead, not the peer."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.person_id != actor.id:
        raise NotFound()
    if checkin.exposure_id is None:
        raise InvalidInput("A periodic check-in moves to another peer at once: see move_periodic_on_request.")
    pending = (
        await session.exec(
            select(PeerChangeRequest).where(
                PeerChangeRequest.exposure_id == checkin.exposure_id, col(PeerChangeRequest.resolved_at).is_(None)
            )
        )
    ).first()
    if pending is not None:
        return pending
    change = PeerChangeRequest(exposure_id=checkin.exposure_id, person_id=actor.person_id, created_at=now)
    session.add(change)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="peer_change.requested",
        target_type="exposure",
        target_id=checkin.exposure_id,
        subject_id=actor.person_id,
        at=now,
    )
    return change


async def move_periodic_on_request(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> bool:
    """The person asks for a different peer for their open periodic check-in (no incident,
    so no change request for the lead to work through): it moves at once to another peer
    by the usual rules, never back to the first, who is not told why. False when nobody
    else qualifies: the lead is told, as for any change request."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.person_id != actor.id or checkin.exposure_id is not None or checkin.outcome is not None:
        raise NotFound()
    old = checkin.peer_id
    assigner = await new_assigner(session, settings, now=now)
    if old is not None:
        assigner.loads.pop(old, None)
    new_peer = assigner.choose(
        person_id=checkin.person_id,
        place=await _person_place(session, checkin.person_id),
        exposed_ids=set(),
        new_checkins=1,
        exclude={old} if old else None,
    )
    audit.record(
        session,
        actor=actor,
        action="peer_change.requested",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=actor.person_id,
        details={"moved": new_peer is not None},
        at=now,
    )
    if new_peer is None:
        await notifications.notify_role(
            session,
            role="lead",
            kind="reassignment",
            subject="Someone asked for a different peer",
            body="A person asked for a different peer for a periodic check-in, and no other peer qualifies "
            "just now (available, not resting, training current, under their cap). It stays with the same "
            "peer for now.",
            link="/overview",
            now=now,
        )
        return False
    checkin.peer_id = new_peer
    session.add(checkin)
    await session.flush()
    return True


async def _resolve_change_requests(
    session: AsyncSession, *, actor: Actor, exposure_id: uuid.UUID, now: datetime
) -> None:
    await session.exec(
        update(PeerChangeRequest)
        .where(col(PeerChangeRequest.exposure_id) == exposure_id, col(PeerChangeRequest.resolved_at).is_(None))
        .values(resolved_at=now, resolved_by_id=actor.id)
    )


# -- reading ---------------------------------------------------------------------------


@dataclass
class CheckinView:
    id: uuid.UUID
    person_id: uuid.UUID
    person_name: str
    incident_id: uuid.UUID | None  # None for a periodic check-in (no incident)
    exposure_id: uuid.UUID | None
    kind: str
    offset_days: int
    due_at: datetime
    scheduled_for: datetime
    status: str
    peer_id: uuid.UUID | None
    peer_name: str | None
    outcome_reason: str | None
    recorded_at: datetime | None
    # The person answered the questionnaire themselves (design section 14) ...
    self_answered_at: datetime | None = None
    # ... and it was completed from those answers, without a conversation.
    self_completed: bool = False
    # "Periodic check-in (Control room)" for a check-in with no incident, else None.
    periodic_label: str | None = None

    @property
    def caught_up(self) -> bool:
        # A periodic check-in is made as it falls due, a moment after its time: never "caught up".
        return self.periodic_label is None and self.due_at > self.scheduled_for

    def as_api(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "person": {"id": str(self.person_id), "name": self.person_name},
            "incident_id": str(self.incident_id) if self.incident_id else None,
            "kind": self.kind,
            "due_at": self.due_at,
            "status": self.status,
            "peer_id": str(self.peer_id) if self.peer_id else None,
            "self_answered": self.self_answered_at is not None,
            "self_completed": self.self_completed,
        }


async def _views(
    session: AsyncSession, checkins: Sequence[CheckIn], *, now: datetime, settings: Settings
) -> list[CheckinView]:
    names = await accounts.names_of(session, [c.person_id for c in checkins] + [c.peer_id for c in checkins])
    groups = await _group_names(session, [c.person_id for c in checkins if c.kind == rules.PERIODIC_KIND])
    return [
        CheckinView(
            id=c.id,
            person_id=c.person_id,
            person_name=names.get(c.person_id, ""),
            incident_id=c.incident_id,
            exposure_id=c.exposure_id,
            kind=c.kind,
            offset_days=c.offset_days,
            due_at=c.due_at,
            scheduled_for=c.scheduled_for,
            status=rules.checkin_status(due_at=c.due_at, outcome=c.outcome, now=now, window=settings.due_window),
            peer_id=c.peer_id,
            peer_name=names.get(c.peer_id) if c.peer_id else None,
            outcome_reason=c.outcome_reason,
            recorded_at=c.recorded_at,
            self_answered_at=c.self_answered_at,
            self_completed=c.self_completed,
            periodic_label=group_rules.periodic_label(groups.get(c.person_id, []))
            if c.kind == rules.PERIODIC_KIND
            else None,
        )
        for c in checkins
    ]


async def _group_names(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    # The high-exposure groups each person is in now, to name their periodic check-ins by.
    found: dict[uuid.UUID, list[str]] = {}
    ids = list(dict.fromkeys(person_ids))
    for start in range(0, len(ids), 500):
        rows = await session.exec(
            select(ExposureGroupMember.person_id, ExposureGroup.name)
            .join(ExposureGroup, col(ExposureGroup.id) == col(ExposureGroupMember.group_id))
            .where(col(ExposureGroupMember.person_id).in_(ids[start : start + 500]))
            .order_by(col(ExposureGroup.name))
        )
        for pid, name in rows:
            found.setdefault(pid, []).append(name)
    return found


@dataclass(frozen=True)
class CheckinFilter:
    incident_id: uuid.UUID | None = None
    peer_id: uuid.UUID | None = None
    station_id: uuid.UUID | None = None
    unassigned: bool = False


def parse_statuses(text: str | None) -> list[str]:
    """'due,overdue' -> ['due', 'overdue']; unknown words are a 422 naming them."""
    if not text:
        return list(rules.STATUSES)
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in rules.STATUSES]
    if unknown:
        raise InvalidInput.field("status", f"Unknown status {unknown[0]!r}; use {', '.join(rules.STATUSES)}.")
    return wanted


async def list_checkins(
    session: AsyncSession,
    *,
    actor: Actor,
    statuses: Sequence[str],
    now: datetime,
    settings: Settings,
    mine_as: str | None = None,
    filters: CheckinFilter | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CheckinView]:
    """Check-ins in the actor's scopes, by due time. `mine_as` narrows to one scope:
    "peer" (assigned to me) or "person" (about me)."""
    stmt = policy.visible_checkins(actor).where(rules.status_clause(statuses, now=now, window=settings.due_window))
    if mine_as == "peer":
        stmt = stmt.where(CheckIn.peer_id == actor.id)
    elif mine_as == "person":
        stmt = stmt.where(CheckIn.person_id == actor.id)
    f = filters or CheckinFilter()
    if f.incident_id:
        stmt = stmt.where(CheckIn.incident_id == f.incident_id)
    if f.peer_id:
        stmt = stmt.where(CheckIn.peer_id == f.peer_id)
    if f.unassigned:
        stmt = stmt.where(col(CheckIn.peer_id).is_(None))
    if f.station_id:
        stmt = stmt.where(col(CheckIn.person_id).in_(select(Person.id).where(Person.station_id == f.station_id)))
    stmt = stmt.order_by(col(CheckIn.due_at), col(CheckIn.id)).limit(limit).offset(offset)
    return await _views(session, list(await session.exec(stmt)), now=now, settings=settings)


async def checkin_view(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> CheckinView:
    """One check-in in the actor's scope (404 otherwise); reading it is audited."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    audit.record(
        session,
        actor=actor,
        action="checkin.viewed",
        target_type="checkin",
        target_id=checkin.id,
        subject_id=checkin.person_id,
        at=now,
    )
    return (await _views(session, [checkin], now=now, settings=settings))[0]


async def checkin_header(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, now: datetime, settings: Settings
) -> CheckinView:
    """A check-in in the actor's scope (404 otherwise), for showing a refused form again above
    what was typed. Not audited: the page that showed it was, and nothing more is read now."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    return (await _views(session, [checkin], now=now, settings=settings))[0]


@dataclass(frozen=True)
class AboutIncident:
    """What and when an incident was, to name the check-ins that belong to it."""

    kind_label: str
    occurred_at: datetime


async def incidents_about(
    session: AsyncSession, *, actor: Actor, incident_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AboutIncident]:
    """Kind and date of those of these incidents the actor may see (the others left out)."""
    wanted = list(set(incident_ids))
    if not wanted:
        return {}
    rows = await session.exec(select(Incident).where(policy.incident_scope(actor), col(Incident.id).in_(wanted)))
    return {
        i.id: AboutIncident(
            f"Other: {i.kind_other}"
            if i.kind == IncidentKind.other and i.kind_other
            else KIND_LABELS.get(i.kind, i.kind),
            i.occurred_at,
        )
        for i in rows
    }


async def contact_for_checkin(
    session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID
) -> accounts.PersonContact | None:
    """The person's phone and email for the peer assigned to this check-in; None for anyone
    else who may see the check-in (404 for those who may not)."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if not policy.can_see_contact_on_checkin(actor, checkin):
        return None
    return await accounts.contact_of(session, checkin.person_id)


async def checkins_for_exposures(
    session: AsyncSession,
    *,
    actor: Actor,
    incident: Incident,
    exposures: Sequence[Exposure],
    now: datetime,
    settings: Settings,
) -> dict[uuid.UUID, list[CheckinView]]:
    """Check-ins grouped by exposure, for the exposures of `incident` whose schedule and
    status the actor may see (policy.exposure_access); none of the others."""
    exposure_ids = [
        e.id for e in exposures if e.incident_id == incident.id and policy.exposure_access(actor, incident, e).status
    ]
    if not exposure_ids:
        return {}
    checkins = list(
        await session.exec(
            select(CheckIn).where(col(CheckIn.exposure_id).in_(list(exposure_ids))).order_by(col(CheckIn.offset_days))
        )
    )
    grouped: dict[uuid.UUID, list[CheckinView]] = {}
    for view in await _views(session, checkins, now=now, settings=settings):
        if view.exposure_id is not None:
            grouped.setdefault(view.exposure_id, []).append(view)
    return grouped


async def open_change_requests(session: AsyncSession, *, actor: Actor) -> list[tuple[PeerChangeRequest, str]]:
    """Pending 'different peer' requests, for the lead."""
    if not actor.is_lead:
        return []
    rows = await session.exec(
        select(PeerChangeRequest, Person.name)
        .join(Person, col(Person.id) == col(PeerChangeRequest.person_id))
        .where(col(PeerChangeRequest.resolved_at).is_(None))
        .order_by(col(PeerChangeRequest.created_at))
    )
    return [(r[0], r[1]) for r in rows]


async def count_by_status(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> dict[str, int]:
    """Counts of open check-ins in the actor's scope by status, plus unassigned."""
    counts = {}
    for status in rules.OPEN_STATUSES:
        stmt = (
            select(func.count())
            .select_from(CheckIn)
            .where(policy.checkin_scope(actor), rules.status_clause([status], now=now, window=settings.due_window))
        )
        counts[status] = int((await session.exec(stmt)).one())
    unassigned = (
        select(func.count())
        .select_from(CheckIn)
        .where(policy.checkin_scope(actor), col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_(None))
    )
    counts["unassigned"] = int((await session.exec(unassigned)).one())
    return counts


async def peer_loads(session: AsyncSession, *, actor: Actor) -> list[tuple[uuid.UUID, str, bool, int]]:
    """Every peer with their open check-ins, for the lead to balance the load."""
    if not actor.is_lead:
        return []
    open_counts = (
        select(col(CheckIn.peer_id), func.count().label("n"))
        .where(col(CheckIn.outcome).is_(None))
        .group_by(col(CheckIn.peer_id))
        .subquery()
    )
    rows = await session.exec(
        select(Person.id, Person.name, Person.available, func.coalesce(open_counts.c.n, 0))
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .outerjoin(open_counts, open_counts.c.peer_id == col(Person.id))
        .where(PersonRole.role == Role.peer, col(Person.active).is_(True))
        .order_by(col(Person.name))
    )
    return [(r[0], r[1], bool(r[2]), int(r[3])) for r in rows]


async def calendar_checkins(
    session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings, limit: int = 1000
) -> list[tuple[uuid.UUID, datetime, str]]:
    """(id, due time, status) of the open check-ins assigned to this peer, for their
    calendar feed: times only."""
    stmt = (
        policy.visible_checkins(actor)
        .where(CheckIn.peer_id == actor.person_id, col(CheckIn.outcome).is_(None))
        .order_by(col(CheckIn.due_at), col(CheckIn.id))
        .limit(limit)
    )
    return [
        (c.id, c.due_at, rules.checkin_status(due_at=c.due_at, outcome=None, now=now, window=settings.due_window))
        for c in await session.exec(stmt)
    ]
