"""The schedule's sweeps: a reminder when a check-in becomes due and when it becomes
overdue, each once; the lead hears of check-ins nobody has; the daily summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.accounts import service as accounts
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.followups import jobs
from trim.followups.models import CheckIn, CheckinReminder
from trim.jobs import SWEEPS
from trim.notifications import service as notifications
from trim.notifications import sweeps
from trim.notifications.models import OutboxMessage


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sweep_batch_size": 3}  # small, so a batch fills with a handful of check-ins


async def _sweep(settings: Settings, sweep: Any, now: datetime) -> int:
    """One sweep in its own transaction, as the worker runs it."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        done = await sweeps.run_sweeps(
            make_sessionmaker(engine), now=now, settings=settings, sweeps=[sweeps.RegisteredSweep("t", sweep)]
        )
        return done["t"]
    finally:
        await engine.dispose()


async def _outbox(session: AsyncSession) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).order_by(col(OutboxMessage.created_at), col(OutboxMessage.subject))
    return list(await session.exec(stmt.execution_options(populate_existing=True)))


async def _log(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, people: list[Any]) -> None:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=people,
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
    )


def _peer_email(cast: Cast, checkin: CheckIn) -> str:
    return cast.peer.email if checkin.peer_id == cast.peer.id else cast.other_peer.email


async def test_due_then_overdue_each_reminded_once(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    assert await _sweep(settings, jobs.sweep_due, clock()) == 0  # upcoming

    at_due = day3.due_at + timedelta(minutes=5)
    assert await _sweep(settings, jobs.sweep_due, at_due) == 1
    assert await _sweep(settings, jobs.sweep_due, at_due) == 0
    assert await _sweep(settings, jobs.sweep_overdue, at_due) == 0
    rows = await _outbox(session)
    assert [(r.kind, r.to_address, r.link) for r in rows] == [
        ("checkin_due", _peer_email(cast, day3), f"/checkins/{day3.id}")
    ]

    overdue = day3.due_at + settings.due_window + timedelta(minutes=1)
    assert await _sweep(settings, jobs.sweep_overdue, overdue) == 1
    assert await _sweep(settings, jobs.sweep_overdue, overdue + timedelta(hours=6)) == 0
    assert await _sweep(settings, jobs.sweep_due, overdue) == 0
    assert [r.kind for r in await _outbox(session)] == ["checkin_due", "checkin_overdue"]


async def test_a_recorded_checkin_is_never_reminded(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    await session.exec(update(CheckIn).where(col(CheckIn.id) == day3.id).values(outcome="declined"))
    await _sweep(settings, jobs.sweep_due, day3.due_at + timedelta(hours=1))
    await _sweep(settings, jobs.sweep_overdue, day3.due_at + settings.due_window + timedelta(hours=1))
    assert await _outbox(session) == []


async def test_a_checkin_already_overdue_when_first_seen_gets_only_the_overdue_reminder(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    later = day3.due_at + settings.due_window + timedelta(hours=3)  # the worker was off meanwhile
    assert await _sweep(settings, jobs.sweep_due, later) == 0
    assert await _sweep(settings, jobs.sweep_overdue, later) == 1
    assert [r.kind for r in await _outbox(session)] == ["checkin_overdue"]


async def test_a_checkin_nobody_is_assigned_reminds_the_lead(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    for who in ("peer", "other_peer"):
        await accounts.set_availability(session, actor=cast.actor(who), available=False, now=clock())
    await session.commit()
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    assert day3.peer_id is None
    await _sweep(settings, jobs.sweep_due, day3.due_at)
    (row,) = await _outbox(session)
    assert (row.to_address, row.subject, row.link) == (
        cast.lead.email,
        "A check-in is due with no peer assigned",
        f"/checkins/{day3.id}",
    )


async def test_a_peer_who_switched_due_reminders_off_gets_none(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    peer = "peer" if day3.peer_id == cast.peer.id else "other_peer"
    await notifications.set_preferences(session, actor=cast.actor(peer), choices={"checkin_due": "none"}, now=clock())
    await session.commit()
    assert await _sweep(settings, jobs.sweep_due, day3.due_at) == 1  # seen and settled ...
    assert await _outbox(session) == []  # ... but, as chosen, not emailed
    assert await _sweep(settings, jobs.sweep_due, day3.due_at + timedelta(minutes=1)) == 0


async def test_more_due_than_one_batch_carries_on_next_run_without_losing_any(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    people = [await make_person(session, station=cast.station_a) for _ in range(7)]
    await session.commit()
    await _log(session, cast, clock, settings, people)  # all seven due at the same moment
    due = (await checkins_of(session, people[0]))[0].due_at
    runs = [await _sweep(settings, jobs.sweep_due, due + timedelta(minutes=n)) for n in range(4)]
    assert runs == [3, 3, 1, 0]
    assert len(await _outbox(session)) == 7


async def test_the_sweep_reads_only_what_fell_due_since_its_last_run(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    await _sweep(settings, jobs.sweep_overdue, clock())  # sets the mark
    assert await sweeps.read_mark(session, "checkins.overdue") == clock() - settings.due_window

    # A check-in due well before the mark (as if the table were full of history; a first
    # run would have caught it) is not looked at again: the range starts just before the mark.
    history = clock() - settings.due_window - timedelta(days=3)
    await session.exec(update(CheckIn).where(col(CheckIn.id) == day3.id).values(due_at=history))
    assert await _sweep(settings, jobs.sweep_overdue, clock() + timedelta(minutes=1)) == 0

    # One that lands a little before the mark (a transaction that committed late) is.
    late = clock() - settings.due_window - timedelta(minutes=5)
    await session.exec(update(CheckIn).where(col(CheckIn.id) == day3.id).values(due_at=late))
    assert await _sweep(settings, jobs.sweep_overdue, clock() + timedelta(minutes=2)) == 1
    assert [r.kind for r in await _outbox(session)] == ["checkin_overdue"]


async def test_the_unique_reminder_keeps_a_second_sweeper_from_doubling(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    # Another worker got there first and recorded the reminder (its email already written).
    session.add(CheckinReminder(checkin_id=day3.id, stage="due", created_at=clock()))
    await session.commit()
    # Even reading it again (the overlap re-reads) never writes a second email.
    assert await _sweep(settings, jobs.sweep_due, day3.due_at) == 0
    assert await _outbox(session) == []


async def test_daily_summary_once_a_day_after_the_hour_with_counts_only(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    people = [cast.responder] + [await make_person(session, station=cast.station_a) for _ in range(3)]
    await session.commit()
    await _log(session, cast, clock, settings, people)
    checkins = [c for p in people for c in await checkins_of(session, p) if c.kind == "day3"]
    for who in ("peer", "other_peer"):
        await notifications.set_preferences(
            session, actor=cast.actor(who), choices={"checkin_due": "digest", "checkin_overdue": "digest"}, now=clock()
        )
    await session.commit()
    due_at = checkins[0].due_at
    # Individual reminders are not written for those who chose the summary.
    await _sweep(settings, jobs.sweep_due, due_at)
    assert await _outbox(session) == []

    morning = datetime(due_at.year, due_at.month, due_at.day, 6, 30, tzinfo=UTC) + timedelta(days=1)
    assert await _sweep(settings, jobs.sweep_digest, morning) == 0  # before 07:00 local
    at_seven = morning + timedelta(minutes=31)
    written = await _sweep(settings, jobs.sweep_digest, at_seven)
    assert await _sweep(settings, jobs.sweep_digest, at_seven + timedelta(hours=5)) == 0  # once a day
    rows = await _outbox(session)
    assert written == len(rows) == len({c.peer_id for c in checkins})
    by_peer = {r.person_id: r for r in rows}
    for peer_id, row in by_peer.items():
        count = sum(1 for c in checkins if c.peer_id == peer_id)
        assert row.kind == "checkin_digest" and row.link == "/checkins"
        assert row.body.startswith(f"You have {count} check-in{'' if count == 1 else 's'} due.")
    assert await _sweep(settings, jobs.sweep_digest, at_seven + timedelta(days=1)) == len(by_peer)  # next day


async def test_a_failing_sweep_is_rolled_back_and_the_others_still_run(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    async def broken(db: AsyncSession, *, now: datetime, settings: Settings) -> int:
        await notifications.enqueue(db, person_id=cast.peer.id, kind="flag", subject="s", body="b", now=now)
        raise RuntimeError("boom")

    async def fine(db: AsyncSession, *, now: datetime, settings: Settings) -> int:
        return int(
            await notifications.enqueue(db, person_id=cast.lead.id, kind="flag", subject="ok", body="b", now=now)
        )

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        done = await sweeps.run_sweeps(
            make_sessionmaker(engine),
            now=clock(),
            settings=settings,
            sweeps=[sweeps.RegisteredSweep("broken", broken), sweeps.RegisteredSweep("fine", fine)],
        )
    finally:
        await engine.dispose()
    assert done == {"broken": 0, "fine": 1}
    assert [r.to_address for r in await _outbox(session)] == [cast.lead.email]


def test_every_worker_runs_the_schedule_sweeps() -> None:
    names = [s.name for s in SWEEPS]
    assert {"checkins.due", "checkins.overdue", "checkins.digest", "outbox.sent"} <= set(names)
    assert len(names) == len(set(names))
