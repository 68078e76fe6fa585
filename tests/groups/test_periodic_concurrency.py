"""Two workers sweeping the periodic cadence at the same moment, on PostgreSQL: each
member's check-in is created once, and the second worker is not harmed by the first."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import func, select

from tests.cast import Cast
from tests.conftest import FakeClock
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.followups import periodic
from trim.followups.models import CheckIn
from trim.groups import service as groups


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # two transactions really at once: PostgreSQL only


async def test_two_workers_sweeping_at_once_create_each_periodic_checkin_once(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    lead = cast.actor("lead")
    group = await groups.define_group(db, actor=lead, name="Control room", cadence_days=90, now=clock())
    members = [cast.responder.id, cast.supervisor.id, cast.clinician.id]
    await groups.set_members(db, actor=lead, group_id=group.id, person_ids=members, now=clock())
    await db.commit()
    engine = create_engine(settings.database_url, pool_size=2)
    maker = make_sessionmaker(engine)

    async with maker() as one, maker() as two:
        # Worker one creates all three and holds its transaction open ...
        made_one = await periodic.sweep_periodic(one, now=clock(), settings=settings)

        async def second() -> int:
            # ... worker two, not seeing them yet, tries the same three and waits on the index.
            made = await periodic.sweep_periodic(two, now=clock(), settings=settings)
            await two.commit()
            return made

        task = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not task.done()  # blocked on the unique index, not racing past it
        await one.commit()
        made_two = await task
    await engine.dispose()
    assert (made_one, made_two) == (3, 0)
    count = select(func.count()).select_from(CheckIn).where(CheckIn.kind == "periodic")
    assert (await session.exec(count)).one() == 3
    # And a later round, on either, makes nothing more.
    assert await periodic.sweep_periodic(db, now=clock(), settings=settings) == 0
