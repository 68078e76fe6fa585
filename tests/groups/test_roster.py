"""The roster's `groups` column on both databases: a person is in exactly the groups named;
importing twice changes nothing (their joining date stays); an empty cell takes them out;
a file without the column leaves memberships alone; an unknown name is reported on its line."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from tests.cast import Cast
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person
from trim.accounts.roster import import_roster
from trim.config import Settings
from trim.db import AsyncSession, utcnow
from trim.groups import service
from trim.groups.models import ExposureGroup, ExposureGroupMember

HEADER = "staff_number,name,email,station,roles,groups\n"


async def _memberships(session: AsyncSession) -> dict[str, set[str]]:
    rows = await session.exec(
        select(Person.staff_number, ExposureGroup.name, ExposureGroupMember.joined_at)
        .join(ExposureGroupMember, col(ExposureGroupMember.person_id) == col(Person.id))
        .join(ExposureGroup, col(ExposureGroup.id) == col(ExposureGroupMember.group_id))
        .execution_options(populate_existing=True)
    )
    found: dict[str, set[str]] = {}
    for staff, name, _ in rows:
        found.setdefault(staff, set()).add(name)
    return found


async def _import(session: AsyncSession, settings: Settings, text: str, when: datetime | None = None) -> list[str]:
    report = await import_roster(
        session,
        actor=SYSTEM,
        data=text.encode(),
        now=when or utcnow(),
        settings=settings,
        record_groups=service.set_person_groups,
    )
    await session.commit()
    return [f"{p.line}: {p.reason}" for p in report.problems]


async def test_the_groups_column_sets_memberships(session: AsyncSession, settings: Settings, cast: Cast) -> None:
    lead = cast.actor("lead")
    now = utcnow()
    await service.define_group(session, actor=lead, name="Control room", cadence_days=180, now=now)
    await service.define_group(session, actor=lead, name="Image review", cadence_days=90, now=now)
    await session.commit()
    roster = (
        HEADER + "G-1,Ada Price,ada@example.org,Depot,responder,control ROOM; Image review\n"
        "G-2,Ben Cole,ben@example.org,Depot,responder,\n"
        "G-3,Cy Dunn,cy@example.org,Depot,responder,Control room;Family liaison\n"
    )
    problems = await _import(session, settings, roster, now)
    assert problems == ["4: no high-exposure group is called 'Family liaison'; the rest was imported"]
    assert await _memberships(session) == {"G-1": {"Control room", "Image review"}, "G-3": {"Control room"}}
    joined = {
        m.person_id: m.joined_at
        for m in await session.exec(select(ExposureGroupMember).execution_options(populate_existing=True))
    }

    # Twice: nothing changes, the joining dates stay.
    await _import(session, settings, roster, now + timedelta(days=5))
    again = {
        m.person_id: m.joined_at
        for m in await session.exec(select(ExposureGroupMember).execution_options(populate_existing=True))
    }
    assert again == joined

    # An empty cell takes Ada out; a file without the column leaves Cy alone.
    await _import(session, settings, HEADER + "G-1,Ada Price,ada@example.org,Depot,responder,\n")
    await _import(
        session, settings, "staff_number,name,email,station,roles\nG-3,Cy Dunn,cy@example.org,Depot,responder\n"
    )
    assert await _memberships(session) == {"G-3": {"Control room"}}
