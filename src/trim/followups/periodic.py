"""Periodic check-ins of high-exposure groups (design section 14): no incident, one every
cadence for each member who has not opted out, assigned by the usual rules.

The sweep reads each member once (their earliest current joining, their shortest cadence,
their last periodic check-in that was not cancelled): a grouped query over memberships,
so its cost follows the number of members, not the number of check-ins. It creates a
check-in only when one falls due and none is open, by an insert that the partial unique
index (person, scheduled time) turns into nothing for a second worker computing the same
one at the same moment, so running it twice, or on two workers at once, creates each once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.models import Person
from trim.config import Settings
from trim.db import dialect_insert, new_id
from trim.followups import rules, service
from trim.followups.models import CheckIn, Outcome
from trim.groups import rules as group_rules
from trim.groups.models import ExposureGroup, ExposureGroupMember, PeriodicOptOut
from trim.privacy import audit

PERIODIC_KIND = group_rules.PERIODIC_KIND
CHUNK = 500


@dataclass(frozen=True)
class Member:
    """A person on a periodic cadence, as the sweep reads them."""

    person_id: uuid.UUID
    joined_at: datetime  # the earliest of their current memberships
    cadence_days: int  # the shortest of their groups' cadences
    first_scheduled_for: datetime | None
    last_scheduled_for: datetime | None  # the last one not cancelled
    has_open: bool


async def _members_on_cadence(session: AsyncSession, *, person_ids: Sequence[uuid.UUID] | None = None) -> list[Member]:
    """Everyone in a high-exposure group, active and not opted out, with what their next
    periodic check-in depends on."""
    stmt = (
        select(
            col(ExposureGroupMember.person_id),
            func.min(ExposureGroupMember.joined_at),
            func.min(ExposureGroup.cadence_days),
        )
        .join(ExposureGroup, col(ExposureGroup.id) == col(ExposureGroupMember.group_id))
        .join(Person, col(Person.id) == col(ExposureGroupMember.person_id))
        .where(
            col(Person.active).is_(True),
            col(ExposureGroupMember.person_id).not_in(select(PeriodicOptOut.person_id)),
        )
        .group_by(col(ExposureGroupMember.person_id))
    )
    if person_ids is not None:
        stmt = stmt.where(col(ExposureGroupMember.person_id).in_(list(person_ids)))
    joined = {pid: (_aware(at), int(cadence)) for pid, at, cadence in await session.exec(stmt)}
    if not joined:
        return []
    not_cancelled = or_(col(CheckIn.outcome).is_(None), col(CheckIn.outcome) != Outcome.cancelled)
    history: dict[uuid.UUID, tuple[datetime | None, datetime | None, bool]] = {}
    ids = list(joined)
    for start in range(0, len(ids), CHUNK):
        rows = await session.exec(
            select(
                col(CheckIn.person_id),
                func.min(CheckIn.scheduled_for),
                func.max(CheckIn.scheduled_for).filter(not_cancelled),
                func.count().filter(col(CheckIn.outcome).is_(None)),
            )
            .where(col(CheckIn.kind) == PERIODIC_KIND, col(CheckIn.person_id).in_(ids[start : start + CHUNK]))
            .group_by(col(CheckIn.person_id))
        )
        for pid, first, last, open_count in rows:
            history[pid] = (
                _aware(first) if first is not None else None,
                _aware(last) if last is not None else None,
                int(open_count) > 0,
            )
    return [Member(pid, at, cadence, *history.get(pid, (None, None, False))) for pid, (at, cadence) in joined.items()]


def _aware(moment: datetime) -> datetime:
    # In case an aggregate comes back without the column's type (SQLite stores UTC).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def schedule_periodic(
    session: AsyncSession, *, now: datetime, settings: Settings, person_ids: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Create each member's next periodic check-in that has fallen due (at joining, then
    every cadence after the last one), assigned by the usual rules; returns the new ids.
    Never for someone opted out, never beside one still open, never twice."""
    due: list[tuple[Member, datetime]] = []
    for member in await _members_on_cadence(session, person_ids=person_ids):
        if member.has_open:
            continue
        scheduled = group_rules.next_periodic_due(
            joined_at=member.joined_at,
            last_scheduled_for=member.last_scheduled_for,
            cadence_days=member.cadence_days,
            zone=settings.zone,
        )
        if scheduled <= now:
            due.append((member, scheduled))
    if not due:
        return []
    assigner = await service.new_assigner(session, settings, now=now)
    places = await service.people_places(session, [m.person_id for m, _ in due])
    created: list[uuid.UUID] = []
    for member, scheduled in due:
        peer_id = assigner.choose(
            person_id=member.person_id,
            place=places.get(member.person_id, service.PersonPlace()),
            exposed_ids=set(),
            new_checkins=1,
        )
        checkin_id = new_id()
        row = {
            "id": checkin_id,
            "exposure_id": None,
            "incident_id": None,
            "person_id": member.person_id,
            "peer_id": peer_id,
            "kind": PERIODIC_KIND,
            "offset_days": group_rules.periodic_offset(
                first_scheduled_for=member.first_scheduled_for, scheduled_for=scheduled, zone=settings.zone
            ),
            "scheduled_for": scheduled,
            "due_at": rules.due_time(scheduled, now),
            "created_at": now,
        }
        inserted = (
            await session.exec(
                dialect_insert(session, CheckIn).values(row).on_conflict_do_nothing().returning(col(CheckIn.id))
            )
        ).first()
        if inserted is None:
            continue  # another worker made the same one a moment ago
        created.append(checkin_id)
        audit.record(
            session,
            actor="system",
            action="checkin.periodic_scheduled",
            target_type="checkin",
            target_id=checkin_id,
            subject_id=member.person_id,
            details={"peer_id": peer_id, "cadence_days": member.cadence_days},
            at=now,
        )
    return created


async def cancel_periodic(session: AsyncSession, *, person_ids: Sequence[uuid.UUID], reason: str, now: datetime) -> int:
    """Cancel the open periodic check-ins of these people (they left every group, or opted
    out); what was done stays. Returns how many."""
    if not person_ids:
        return 0
    result = await session.exec(
        update(CheckIn)
        .where(
            col(CheckIn.kind) == PERIODIC_KIND,
            col(CheckIn.person_id).in_(list(person_ids)),
            col(CheckIn.outcome).is_(None),
        )
        .values(outcome=Outcome.cancelled.value, outcome_reason=reason, recorded_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def off_cadence(session: AsyncSession, *, person_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Those of these people who are no longer on a periodic cadence (in no group, opted
    out, or no longer active)."""
    if not person_ids:
        return []
    on = {m.person_id for m in await _members_on_cadence(session, person_ids=person_ids)}
    return [p for p in dict.fromkeys(person_ids) if p not in on]


async def stop_off_cadence(session: AsyncSession, *, person_ids: Sequence[uuid.UUID], now: datetime) -> int:
    """After a membership or opt-out change: cancel the open periodic check-in of each of
    these people who is no longer on a cadence, saying why."""
    off = await off_cadence(session, person_ids=person_ids)
    if not off:
        return 0
    opted = set(await session.exec(select(PeriodicOptOut.person_id).where(col(PeriodicOptOut.person_id).in_(off))))
    cancelled = await cancel_periodic(
        session, person_ids=[p for p in off if p in opted], reason=group_rules.OPTED_OUT_REASON, now=now
    )
    cancelled += await cancel_periodic(
        session, person_ids=[p for p in off if p not in opted], reason=group_rules.LEFT_GROUPS_REASON, now=now
    )
    return cancelled


async def sweep_periodic(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """The worker's sweep: stop the cadence of anyone who has come off it (a deactivated
    account), create every periodic check-in that has fallen due, and try the rules again
    for those still without a peer."""
    stale = list(
        await session.exec(
            select(CheckIn.person_id)
            .where(col(CheckIn.kind) == PERIODIC_KIND, col(CheckIn.outcome).is_(None))
            .distinct()
        )
    )
    await stop_off_cadence(session, person_ids=stale, now=now)
    made = len(await schedule_periodic(session, now=now, settings=settings))
    # One made with nobody free (all at their cap, resting...) is tried again each round.
    waiting = select(CheckIn.id).where(
        col(CheckIn.kind) == PERIODIC_KIND, col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_(None)
    )
    if (await session.exec(waiting.limit(1))).first() is not None:
        assigner = await service.new_assigner(session, settings, now=now)
        await service.assign_unassigned_periodic(session, assigner=assigner, actor="system", now=now)
    return made
