"""After a big incident many check-ins go quiet at once: the sweep moves a whole batch
with one count of the peers' loads (not one per move), and every move still follows the
usual rules: never back to the quiet peer, spread by the loads the batch itself adds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups import service as followups
from trim.peers import jobs


async def test_a_batch_of_quiet_checkins_moves_with_one_count_of_the_loads(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = [await make_person(session, station=cast.station_a) for _ in range(4)]
    await session.commit()
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=people,
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
    )
    first = {p.id: (await checkins_of(session, p))[0] for p in people}
    quiet_peer = {person_id: c.peer_id for person_id, c in first.items()}
    assert None not in quiet_peer.values()
    counted: list[Any] = []
    real = followups.peer_candidates

    async def counting(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(followups, "peer_candidates", counting)
    day3 = next(iter(first.values()))
    quiet_at = day3.due_at + settings.due_window + timedelta(days=settings.quiet_peer_days)
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 4
    await db.commit()
    assert len(counted) == 1
    for person in people:
        moved = [c for c in await checkins_of(session, person) if c.outcome is None]
        assert {c.peer_id for c in moved} - {None}, "every open check-in has a peer"
        assert all(c.peer_id != quiet_peer[person.id] for c in moved), "never back to the quiet peer"
