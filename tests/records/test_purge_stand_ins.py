"""Purged people keep one stand-in through any sequence of purges (issue 28, point 3 in part).

Cases are purged in a random order (random ages, random successive retention cutoffs);
after every run the number of distinct people exposed equals the brute-force recount
from what the test knows: each person once if they have a live case, plus once more
(their stand-in) if they have a purged one; never once per run. When every case is
purged, the figure is the one before any purge."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from tests.cast import Cast
from tests.conftest import FakeClock, make_settings
from tests.helpers import answers_for, make_incident
from trim.assessments import service as assessments
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure
from trim.records.retention import purge, stand_in_id


async def _people_exposed(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count(func.distinct(Exposure.person_id))))).one())


@pytest.mark.parametrize("seed", [28, 1, 2])
async def test_random_purge_orders_keep_one_stand_in_per_person(
    db: AsyncSession, session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock, seed: int
) -> None:
    rng = random.Random(seed)
    settings = make_settings(database_url)
    people = [cast.responder, cast.supervisor, cast.lead]
    ages: dict[str, list[int]] = {p.name: [] for p in people}
    for _ in range(6):
        exposed = rng.sample(people, rng.randint(1, len(people)))
        days_ago = rng.randint(200, 400)
        when = clock() - timedelta(days=days_ago)
        await make_incident(
            db,
            actor=cast.actor("lead"),
            station=cast.station_a,
            people=exposed,
            occurred_at=when,
            now=when,
            settings=settings,
        )
        for person in exposed:
            ages[person.name].append(days_ago)
    for checkin in await db.exec(select(CheckIn).where(col(CheckIn.outcome).is_(None))):
        peer = cast.actor("peer") if checkin.peer_id == cast.peer.id else cast.actor("other_peer")
        await assessments.record_checkin(
            db,
            actor=peer,
            checkin_id=checkin.id,
            settings=settings,
            now=checkin.due_at + timedelta(hours=1),
            submission=assessments.Submission("completed", answers=answers_for(checkin.kind, risk_yes=0)),
        )
    await db.commit()
    before = await _people_exposed(session)
    assert before == sum(1 for a in ages.values() if a)

    # Successive runs with a shrinking retention purge the cases oldest first, in random steps.
    cutoffs = [*sorted(rng.sample(range(30, 420), 5), reverse=True), 30]
    purged_people: set[uuid.UUID] = set()
    for days in cutoffs:
        run = make_settings(database_url, retention_days=days)
        purged_people |= (await purge(db, now=clock(), settings=run)).people
        await db.commit()
        # Check-ins end up to a few months after the incident; brute-force from the database.
        live = set((await session.exec(select(Exposure.person_id).where(col(Exposure.purged_at).is_(None)))).all())
        stand_ins = set(
            (await session.exec(select(Exposure.person_id).where(col(Exposure.purged_at).is_not(None)))).all()
        )
        assert len(stand_ins) == len(purged_people)  # one per person, whatever run purged them
        assert stand_ins == {stand_in_id(settings, p) for p in purged_people}
        assert await _people_exposed(session) == len(live) + len(stand_ins)
    # Everything is purged now: the figure is the one before any purge.
    assert await _people_exposed(session) == before
