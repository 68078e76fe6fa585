"""After a big incident many check-ins go quiet at once: the sweep moves a whole batch
with one count of the peers' loads (not one per move), and every move still follows the
usual rules: never back to the quiet peer, spread by the loads the batch itself adds. The
round tells the lead and each quiet peer once, with a count."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select, update

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.accounts.models import Person, PersonRole, Role
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure
from trim.notifications.models import OutboxMessage
from trim.peers import jobs, rules


async def _crew_at_an_incident(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, size: int
) -> list[Person]:
    """`size` new people at station A, all exposed to one incident an hour ago."""
    people = [await make_person(session, station=cast.station_a) for _ in range(size)]
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
    return people


async def test_a_batch_of_quiet_checkins_moves_with_one_count_of_the_loads(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = await _crew_at_an_incident(session, cast, clock, settings, 4)
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
    # Told once for the round, with the count: not an email a move (after a big incident a
    # round moves hundreds, and the lead's inbox is where the urgent flags arrive too).
    sent = [(m.to_address, m.subject, m.body) for m in await session.exec(select(OutboxMessage))]
    to_lead = [(subject, body) for to, subject, body in sent if to == cast.lead.email]
    assert to_lead == [rules.quiet_moved_lead(4)]
    assert to_lead[0][0] == "4 overdue check-ins have moved to other peers"
    by_peer = Counter(quiet_peer.values())
    for peer_id, count in by_peer.items():
        peer = await session.get(Person, peer_id)
        assert peer is not None
        mine = [(subject, body) for to, subject, body in sent if to == peer.email]
        assert mine == [rules.quiet_moved_peer(count)], peer.email
    # Nothing confidential in any of them: no names, no answers.
    for person in people:
        assert not any(person.name in subject + body for _, subject, body in sent)


def test_one_moved_is_said_as_before_and_many_with_their_count() -> None:
    assert rules.quiet_moved_lead(1) == rules.QUIET_MOVED_LEAD
    assert rules.quiet_moved_peer(1) == rules.QUIET_MOVED_PEER
    assert rules.quiet_stuck_lead(1) == rules.QUIET_STUCK_LEAD
    for n in (2, 7, 350):
        for subject, body in (rules.quiet_moved_lead(n), rules.quiet_moved_peer(n), rules.quiet_stuck_lead(n)):
            assert subject.startswith(f"{n} ") and body.startswith(f"{n} check-ins")


async def test_a_round_with_nobody_else_to_take_them_tells_the_lead_once_with_the_count(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    people = await _crew_at_an_incident(session, cast, clock, settings, 3)
    # One peer holds every open check-in, and every other peer is switched off.
    await session.exec(update(CheckIn).where(col(CheckIn.outcome).is_(None)).values(peer_id=cast.peer.id))
    await session.exec(update(Exposure).values(peer_id=cast.peer.id))
    others = select(PersonRole.person_id).where(PersonRole.role == Role.peer, PersonRole.person_id != cast.peer.id)
    await session.exec(update(Person).where(col(Person.id).in_(others)).values(active=False))
    await session.commit()
    day3 = (await checkins_of(session, people[0]))[0]
    quiet_at = day3.due_at + settings.due_window + timedelta(days=settings.quiet_peer_days)
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 0
    await db.commit()
    sent = [(m.to_address, m.subject, m.body) for m in await session.exec(select(OutboxMessage))]
    assert [(subject, body) for to, subject, body in sent if to == cast.lead.email] == [rules.quiet_stuck_lead(3)]
    assert not [s for to, s, _ in sent if to == cast.peer.email], "the peer keeps them: nothing moved"
    # Their clocks restarted: the next round, the same day, tells nobody again.
    assert await jobs.sweep_quiet(db, now=quiet_at + timedelta(hours=1), settings=settings) == 0
    await db.commit()
    assert len(list(await session.exec(select(OutboxMessage)))) == len(sent)
