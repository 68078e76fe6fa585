"""High-exposure groups (design section 14): the lead defines groups and their members;
a person sees their own groups and opts out of periodic check-ins once for all."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import Person
from trim.db import dialect_insert
from trim.errors import Conflict, InvalidInput, NotFound
from trim.followups import periodic
from trim.groups import rules
from trim.groups.models import ExposureGroup, ExposureGroupMember, PeriodicOptOut
from trim.privacy import audit

MEMBERS_MAX = 2000


@dataclass(frozen=True)
class GroupRow:
    id: uuid.UUID
    name: str
    cadence_days: int
    members: int


@dataclass(frozen=True)
class Membership:
    group_id: uuid.UUID
    name: str
    cadence_days: int
    joined_at: datetime


@dataclass(frozen=True)
class PeriodicStanding:
    """A person's periodic standing: their groups, and whether they opted out."""

    groups: list[Membership]
    opted_out: bool


def _lead(actor: Actor) -> None:
    if not actor.is_lead:
        raise NotFound()


def _checked(name: str, cadence_days: int) -> str:
    tidy = rules.tidy_name(name)
    problem = rules.group_problem(tidy, cadence_days)
    if problem is not None:
        raise InvalidInput.field(*problem)
    return tidy


async def _name_taken(session: AsyncSession, name: str, but: uuid.UUID | None = None) -> bool:
    stmt = select(ExposureGroup.id).where(func.lower(ExposureGroup.name) == name.lower())
    if but is not None:
        stmt = stmt.where(ExposureGroup.id != but)
    return (await session.exec(stmt)).first() is not None


async def groups(session: AsyncSession, *, actor: Actor) -> list[GroupRow]:
    """Every group with its cadence and how many are in it: for the lead."""
    _lead(actor)
    counts = (
        select(ExposureGroupMember.group_id, func.count().label("n"))
        .group_by(col(ExposureGroupMember.group_id))
        .subquery()
    )
    stmt = (
        select(ExposureGroup, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == ExposureGroup.id)
        .order_by(func.lower(ExposureGroup.name))
    )
    return [GroupRow(g.id, g.name, g.cadence_days, int(n)) for g, n in await session.exec(stmt)]


async def define_group(
    session: AsyncSession, *, actor: Actor, name: str, cadence_days: int, now: datetime
) -> ExposureGroup:
    """The lead defines a high-exposure group with a cadence in days."""
    _lead(actor)
    tidy = _checked(name, cadence_days)
    if await _name_taken(session, tidy):
        raise Conflict(f"There is already a group called {tidy}.")
    group = ExposureGroup(name=tidy, cadence_days=cadence_days, created_at=now, updated_at=now)
    session.add(group)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="group.defined",
        target_type="exposure_group",
        target_id=group.id,
        details={"cadence_days": cadence_days},
        at=now,
    )
    return group


async def one_group(session: AsyncSession, *, actor: Actor, group_id: uuid.UUID) -> ExposureGroup:
    """One group: for the lead."""
    _lead(actor)
    return await _group(session, group_id)


async def _group(session: AsyncSession, group_id: uuid.UUID) -> ExposureGroup:
    group = await session.get(ExposureGroup, group_id)
    if group is None:
        raise NotFound()
    return group


async def change_group(
    session: AsyncSession, *, actor: Actor, group_id: uuid.UUID, name: str, cadence_days: int, now: datetime
) -> ExposureGroup:
    """The lead renames a group or changes its cadence (the next periodic check-in follows it)."""
    _lead(actor)
    group = await _group(session, group_id)
    tidy = _checked(name, cadence_days)
    if await _name_taken(session, tidy, but=group_id):
        raise Conflict(f"There is already a group called {tidy}.")
    old = group.cadence_days
    group.name, group.cadence_days, group.updated_at = tidy, cadence_days, now
    session.add(group)
    audit.record(
        session,
        actor=actor,
        action="group.changed",
        target_type="exposure_group",
        target_id=group_id,
        details={"cadence_days": [old, cadence_days]},
        at=now,
    )
    return group


async def members(session: AsyncSession, *, actor: Actor, group_id: uuid.UUID) -> list[ExposureGroupMember]:
    """Who is in a group, since when: for the lead."""
    _lead(actor)
    await _group(session, group_id)
    stmt = select(ExposureGroupMember).where(ExposureGroupMember.group_id == group_id)
    return list(await session.exec(stmt.order_by(col(ExposureGroupMember.joined_at))))


async def set_members(
    session: AsyncSession, *, actor: Actor, group_id: uuid.UUID, person_ids: Sequence[uuid.UUID], now: datetime
) -> list[ExposureGroupMember]:
    """The lead sets a group's members: a newcomer joins now (their first periodic check-in
    falls due at once); one who stays keeps their date; one left out leaves."""
    _lead(actor)
    await _group(session, group_id)
    wanted = set(person_ids)
    if len(wanted) > MEMBERS_MAX:
        raise InvalidInput.field("person_ids", f"At most {MEMBERS_MAX} members.")
    if wanted:
        found = set(
            await session.exec(select(Person.id).where(col(Person.id).in_(wanted), col(Person.active).is_(True)))
        )
        missing = wanted - found
        if missing:
            raise InvalidInput.field("person_ids", f"{len(missing)} of these people are not on the roster.")
    await apply_membership(session, group_id=group_id, person_ids=wanted, now=now, actor=actor)
    return await members(session, actor=actor, group_id=group_id)


@dataclass(frozen=True)
class MemberRow:
    """A member as the lead's page shows them."""

    person_id: uuid.UUID
    name: str
    staff_number: str
    active: bool
    joined_at: datetime


async def member_rows(session: AsyncSession, *, actor: Actor, group_id: uuid.UUID) -> list[MemberRow]:
    """Who is in a group (name, staff number, since when), by name: for the lead's page."""
    _lead(actor)
    await _group(session, group_id)
    stmt = (
        select(Person, ExposureGroupMember.joined_at)
        .select_from(ExposureGroupMember)
        .join(Person, col(Person.id) == col(ExposureGroupMember.person_id))
        .where(ExposureGroupMember.group_id == group_id)
        .order_by(col(Person.name), col(Person.staff_number))
    )
    return [
        MemberRow(person.id, person.name, person.staff_number, person.active, joined_at)
        for person, joined_at in await session.exec(stmt)
    ]


def staff_numbers_in(text: str) -> list[str]:
    """Staff numbers as typed or pasted: one a line, or separated by commas, semicolons or
    spaces; each once, in the order given."""
    seen: dict[str, None] = {}
    for part in text.replace(",", " ").replace(";", " ").split():
        seen.setdefault(part, None)
    return list(seen)


async def add_members(
    session: AsyncSession, *, actor: Actor, group_id: uuid.UUID, staff_numbers: str, now: datetime
) -> int:
    """The lead adds people to a group by staff number (they join now; one already in keeps
    their date). Every number must be someone active on the roster, or nothing changes and
    the message names those that are not. Returns how many joined."""
    _lead(actor)
    await _group(session, group_id)
    numbers = staff_numbers_in(staff_numbers)
    if not numbers:
        raise InvalidInput.field("staff_numbers", "Give at least one staff number.")
    if len(numbers) > MEMBERS_MAX:
        raise InvalidInput.field("staff_numbers", f"At most {MEMBERS_MAX} at once.")
    found = dict(
        (
            await session.exec(
                select(Person.staff_number, Person.id).where(
                    col(Person.staff_number).in_(numbers),
                    col(Person.active).is_(True),
                    col(Person.is_pseudonym).is_(False),
                )
            )
        ).all()
    )
    missing = [n for n in numbers if n not in found]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise InvalidInput.field("staff_numbers", f"Not on the roster (or switched off): {shown}. Nobody was added.")
    current = set(
        await session.exec(select(ExposureGroupMember.person_id).where(ExposureGroupMember.group_id == group_id))
    )
    if len(current | set(found.values())) > MEMBERS_MAX:
        raise InvalidInput.field("staff_numbers", f"A group holds at most {MEMBERS_MAX} people.")
    joined, _ = await apply_membership(
        session, group_id=group_id, person_ids=current | set(found.values()), now=now, actor=actor
    )
    return joined


async def remove_member(
    session: AsyncSession, *, actor: Actor, group_id: uuid.UUID, person_id: uuid.UUID, now: datetime
) -> bool:
    """The lead takes one person out of a group (their open periodic check-in is cancelled
    when no group of theirs wants it any more); whether they were in it."""
    _lead(actor)
    await _group(session, group_id)
    current = set(
        await session.exec(select(ExposureGroupMember.person_id).where(ExposureGroupMember.group_id == group_id))
    )
    if person_id not in current:
        return False
    await apply_membership(session, group_id=group_id, person_ids=current - {person_id}, now=now, actor=actor)
    return True


async def apply_membership(
    session: AsyncSession, *, group_id: uuid.UUID, person_ids: set[uuid.UUID], now: datetime, actor: Actor | str
) -> tuple[int, int]:
    """Make a group hold exactly these people (the lead's form, or the roster's `groups`
    column); returns (joined, left). Joining twice at once inserts once."""
    current = set(
        await session.exec(select(ExposureGroupMember.person_id).where(ExposureGroupMember.group_id == group_id))
    )
    leaving = current - person_ids
    joining = person_ids - current
    if leaving:
        await session.exec(
            delete(ExposureGroupMember).where(
                col(ExposureGroupMember.group_id) == group_id, col(ExposureGroupMember.person_id).in_(leaving)
            )
        )
    if joining:
        stmt = dialect_insert(session, ExposureGroupMember).values(
            [{"group_id": group_id, "person_id": p, "joined_at": now} for p in joining]
        )
        await session.exec(stmt.on_conflict_do_nothing())
    if leaving:
        await periodic.stop_off_cadence(session, person_ids=sorted(leaving), now=now)
    if joining or leaving:
        audit.record(
            session,
            actor=actor,
            action="group.members_set",
            target_type="exposure_group",
            target_id=group_id,
            details={"joined": len(joining), "left": len(leaving)},
            at=now,
        )
    return len(joining), len(leaving)


async def set_person_groups(
    session: AsyncSession, *, person_id: uuid.UUID, names: list[str], now: datetime, actor: Actor
) -> list[str]:
    """From the roster's `groups` column: the person is in exactly the groups named (ignoring
    case; joining now, or keeping their date); returns the names no group has."""
    by_name = {g.name.lower(): g for g in await session.exec(select(ExposureGroup))}
    wanted = {by_name[n.lower()].id for n in names if n.lower() in by_name}
    unknown = [n for n in names if n.lower() not in by_name]
    current = set(
        await session.exec(select(ExposureGroupMember.group_id).where(ExposureGroupMember.person_id == person_id))
    )
    if current - wanted:
        await session.exec(
            delete(ExposureGroupMember).where(
                col(ExposureGroupMember.person_id) == person_id, col(ExposureGroupMember.group_id).in_(current - wanted)
            )
        )
    joining = wanted - current
    if joining:
        stmt = dialect_insert(session, ExposureGroupMember).values(
            [{"group_id": g, "person_id": person_id, "joined_at": now} for g in joining]
        )
        await session.exec(stmt.on_conflict_do_nothing())
    if current - wanted:
        await periodic.stop_off_cadence(session, person_ids=[person_id], now=now)
    if joining or current - wanted:
        audit.record(
            session,
            actor=actor,
            action="person.groups_set",
            target_type="person",
            target_id=person_id,
            subject_id=person_id,
            details={"joined": len(joining), "left": len(current - wanted), "via": "roster"},
            at=now,
        )
    return unknown


async def standing(session: AsyncSession, *, actor: Actor, person_id: uuid.UUID) -> PeriodicStanding:
    """A person's groups and opt-out: the person themselves, or the lead; anyone else 404."""
    if actor.is_token or (actor.id != person_id and not actor.is_lead):
        raise NotFound()
    if await session.get(Person, person_id) is None:
        raise NotFound()
    stmt = (
        select(ExposureGroup, ExposureGroupMember.joined_at)
        .join(ExposureGroupMember, col(ExposureGroupMember.group_id) == ExposureGroup.id)
        .where(ExposureGroupMember.person_id == person_id)
        .order_by(func.lower(ExposureGroup.name))
    )
    rows = [Membership(g.id, g.name, g.cadence_days, joined) for g, joined in await session.exec(stmt)]
    opted_out = await session.get(PeriodicOptOut, person_id) is not None
    return PeriodicStanding(groups=rows, opted_out=opted_out)


async def own_standing(session: AsyncSession, *, actor: Actor) -> PeriodicStanding:
    """The signed-in person's own groups and opt-out (an integration token has none: 404)."""
    if actor.is_token or actor.id is None:
        raise NotFound()
    return await standing(session, actor=actor, person_id=actor.id)


async def set_opt_out(session: AsyncSession, *, actor: Actor, opted_out: bool, now: datetime) -> PeriodicStanding:
    """The person opts out of periodic check-ins once for all (or back in); no reason asked."""
    if actor.is_token:
        raise NotFound()
    person_id = actor.person_id
    existing = await session.get(PeriodicOptOut, person_id)
    if opted_out and existing is None:
        await session.exec(
            dialect_insert(session, PeriodicOptOut)
            .values(person_id=person_id, opted_out_at=now)
            .on_conflict_do_nothing()
        )
    elif not opted_out and existing is not None:
        await session.delete(existing)
    if opted_out and existing is None:
        await session.flush()
        await periodic.stop_off_cadence(session, person_ids=[person_id], now=now)
    if opted_out != (existing is not None):
        audit.record(
            session,
            actor=actor,
            action="periodic.opted_out" if opted_out else "periodic.opted_in",
            target_type="person",
            target_id=person_id,
            at=now,
        )
        await session.flush()
    return await standing(session, actor=actor, person_id=person_id)


async def opt_out_person(session: AsyncSession, *, actor: Actor, person_id: uuid.UUID, now: datetime) -> int:
    """The person said "no more periodic check-ins" (themselves, or to their peer at a
    check-in, who records it): opted out once for all, the open one cancelled. Returns how
    many were cancelled."""
    await session.exec(
        dialect_insert(session, PeriodicOptOut).values(person_id=person_id, opted_out_at=now).on_conflict_do_nothing()
    )
    audit.record(
        session,
        actor=actor,
        action="periodic.opted_out",
        target_type="person",
        target_id=person_id,
        subject_id=person_id,
        at=now,
    )
    return await periodic.stop_off_cadence(session, person_ids=[person_id], now=now)
