"""The quiet-peer sweep reads a batch at a time: check-ins whose clock restarted (moved, or
a try logged) never fill the batch ahead of those quiet now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession
from trim.peers import jobs


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sweep_batch_size": 1}


async def test_a_moved_checkin_does_not_hold_back_the_next_quiet_one(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    first = await make_person(session, station=cast.station_a)
    await session.commit()
    for person in (first, cast.responder):
        await make_incident(
            session,
            actor=cast.actor("lead"),
            station=cast.station_a,
            people=[person],
            occurred_at=clock() - timedelta(hours=1),
            now=clock(),
            settings=settings,
        )
        clock.advance(minutes=10)
    day3 = (await checkins_of(session, cast.responder))[0]
    quiet_at = day3.due_at + settings.due_window + timedelta(days=settings.quiet_peer_days)
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 1  # the older one, alone
    await db.commit()
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 1  # then the next
    await db.commit()
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 0
    before = {c.peer_id for c in await checkins_of(session, first) if c.kind == "day3"}
    after = {c.peer_id for c in await checkins_of(session, cast.responder) if c.kind == "day3"}
    assert None not in before | after
