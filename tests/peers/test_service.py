"""Peer care on both databases: a lapsed, resting or full peer is skipped for check-ins and
requests; their open check-ins move (the person told only that their peer changed); the
lead is told of refreshers 60 days ahead and on the day; quiet peers' check-ins move, once,
even with two workers; a debrief holds the peer and the date, nothing else."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from tests.cast import Cast, make_person
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import Conflict, NotFound
from trim.followups import eligibility
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.notifications.models import OutboxMessage
from trim.peers import jobs, service
from trim.peers.models import SupervisionTask
from trim.peers.rules import day_words as rules_day_words
from trim.privacy.models import AuditEvent
from trim.requests import service as requests


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


def _today(clock: FakeClock, settings: Settings) -> date:
    return clock().astimezone(settings.zone).date()


async def _lapse(db: AsyncSession, cast: Cast, who: str, on: date, clock: FakeClock) -> None:
    await service.set_courses(
        db,
        actor=cast.actor("lead"),
        person_id=cast.person(who).id,
        courses=[service.CourseInput("TRiM practitioner", on - timedelta(days=700), on)],
        now=clock(),
    )
    await db.commit()


async def test_a_lapsed_peer_is_skipped_and_choosing_them_by_hand_is_409_naming_the_date(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _lapse(db, cast, "peer", _today(clock, settings) - timedelta(days=1), clock)
    await _log(session, cast, clock, settings, [cast.responder])
    checkins = await checkins_of(session, cast.responder)
    assert {c.peer_id for c in checkins} == {cast.other_peer.id}
    exposure_id = await incidents.exposure_id_for(
        db, actor=cast.actor("lead"), incident_id=checkins[0].incident_id, person_id=cast.responder.id
    )
    lapsed_on = (_today(clock, settings) - timedelta(days=1)).strftime("%B %Y")
    with pytest.raises(Conflict, match=f"lapsed on .*{lapsed_on}"):
        await followups.reassign_exposure(
            db, actor=cast.actor("lead"), exposure_id=exposure_id, peer_id=cast.peer.id, now=clock(), settings=settings
        )


async def test_the_lead_is_told_sixty_days_ahead_and_on_the_day_when_the_checkins_move(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    first = (await checkins_of(session, cast.responder))[0].peer_id
    who = "peer" if first == cast.peer.id else "other_peer"
    other = cast.other_peer if who == "peer" else cast.peer
    due = _today(clock, settings) + timedelta(days=60)
    await _lapse(db, cast, who, due, clock)

    assert await jobs.sweep_training(db, now=clock(), settings=settings) == 1
    await db.commit()
    assert await jobs.sweep_training(db, now=clock() + timedelta(hours=1), settings=settings) == 0
    await db.commit()
    assert [(m.to_address, m.subject) for m in await _outbox(session)] == [
        (cast.lead.email, "A peer supporter's refresher is coming due")
    ]
    assert {c.peer_id for c in await checkins_of(session, cast.responder)} == {first}

    clock.advance(days=60)
    assert await jobs.sweep_training(db, now=clock(), settings=settings) == 1
    await db.commit()
    assert await jobs.sweep_training(db, now=clock(), settings=settings) == 0
    await db.commit()
    open_ones = [c for c in await checkins_of(session, cast.responder) if c.outcome is None]
    assert {c.peer_id for c in open_ones} == {other.id}
    subjects = [(m.to_address, m.subject) for m in await _outbox(session)]
    assert (cast.lead.email, "A peer supporter's training has lapsed") in subjects
    told = [m for m in await _outbox(session) if m.to_address == cast.responder.email]
    assert [m.subject for m in told] == ["Your peer supporter has changed"]
    assert cast.person(who).name not in told[0].body and other.name not in told[0].body

    # Renewed: they are assigned again.
    await service.set_courses(
        db,
        actor=cast.actor("lead"),
        person_id=cast.person(who).id,
        courses=[
            service.CourseInput(
                "TRiM practitioner", _today(clock, settings), _today(clock, settings) + timedelta(days=730)
            )
        ],
        now=clock(),
    )
    await db.commit()
    profile = await service.peer_roster(db, actor=cast.actor("lead"), now=clock(), settings=settings)
    assert {p.name: p.unfit for p in profile}[cast.person(who).name] is None


async def test_a_resting_peer_hands_on_and_the_person_is_told_only_that_their_peer_changed(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await _log(session, cast, clock, settings, [cast.responder])
    first = (await checkins_of(session, cast.responder))[0].peer_id
    who = "peer" if first == cast.peer.id else "other_peer"
    other = cast.other_peer if who == "peer" else cast.peer
    handed = await service.set_own_profile(
        db,
        actor=cast.actor(who),
        now=clock(),
        settings=settings,
        resting_until=_today(clock, settings) + timedelta(days=14),
        change_rest=True,
    )
    await db.commit()
    assert (handed.moved, handed.unassigned) == (1, 0)
    assert {c.peer_id for c in await checkins_of(session, cast.responder)} == {other.id}
    (told,) = [m for m in await _outbox(session) if m.to_address == cast.responder.email]
    assert told.subject == "Your peer supporter has changed"
    assert "rest" not in told.body.lower()

    # While resting, nobody new: the next person goes to the other peer.
    someone = await make_person(session, station=cast.station_a)
    await session.commit()
    await _log(session, cast, clock, settings, [someone])
    assert {c.peer_id for c in await checkins_of(session, someone)} == {other.id}
    profile = await service.own_profile(db, actor=cast.actor(who), now=clock(), settings=settings)
    assert profile.resting and profile.unfit_words == "resting"


async def test_a_peer_is_told_once_when_their_rest_is_over_and_nobody_else_is(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    last_day = _today(clock, settings) + timedelta(days=2)
    await service.set_own_profile(
        db, actor=cast.actor("peer"), now=clock(), settings=settings, resting_until=last_day, change_rest=True
    )
    await db.commit()
    on_last_day = clock() + timedelta(days=2)
    assert await jobs.sweep_rest_over(db, now=on_last_day, settings=settings) == 0
    next_day = clock() + timedelta(days=3)
    assert await jobs.sweep_rest_over(db, now=next_day, settings=settings) == 1
    await db.commit()
    assert await jobs.sweep_rest_over(db, now=next_day + timedelta(hours=3), settings=settings) == 0
    await db.commit()
    told = [m for m in await _outbox(session) if m.kind == "rest_over"]
    assert [(m.to_address, m.subject) for m in told] == [(cast.peer.email, "Your rest as a peer supporter has ended")]
    assert rules_day_words(last_day) in told[0].body
    profile = await service.own_profile(db, actor=cast.actor("peer"), now=next_day, settings=settings)
    assert not profile.resting


async def test_a_rest_date_in_the_past_is_refused(
    db: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    from trim.errors import InvalidInput

    with pytest.raises(InvalidInput, match="passed"):
        await service.set_own_profile(
            db,
            actor=cast.actor("peer"),
            now=clock(),
            settings=settings,
            resting_until=_today(clock, settings) - timedelta(days=1),
            change_rest=True,
        )


async def test_peers_at_their_cap_are_skipped_and_the_lead_reads_why(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    for who in ("peer", "other_peer"):
        await service.set_caseload_cap(db, actor=cast.actor("lead"), person_id=cast.person(who).id, cap=1, now=clock())
    await db.commit()
    people = [await make_person(session, station=cast.station_a) for _ in range(3)]
    await session.commit()
    await _log(session, cast, clock, settings, people)
    peers = [(await checkins_of(session, p))[0].peer_id for p in people]
    assert sorted(str(p) for p in peers if p) == sorted([str(cast.peer.id), str(cast.other_peer.id)])
    (left,) = [p for p, peer in zip(people, peers, strict=True) if peer is None]
    views = await followups.list_checkins(
        db,
        actor=cast.actor("lead"),
        statuses=["upcoming", "due", "overdue"],
        now=clock(),
        settings=settings,
        filters=followups.CheckinFilter(unassigned=True),
    )
    exposure_ids = list({v.exposure_id for v in views if v.person_id == left.id})
    reasons = await eligibility.unassigned_reasons(
        db, actor=cast.actor("lead"), exposure_ids=exposure_ids, now=clock(), settings=settings
    )
    assert list(reasons.values()) == [
        "every peer at Station B is at their cap; every peer at Station C is at their cap"
    ]
    assert (
        await eligibility.unassigned_reasons(
            db, actor=cast.actor("peer"), exposure_ids=exposure_ids, now=clock(), settings=settings
        )
        == {}
    )


async def test_requests_are_not_offered_to_a_resting_lapsed_or_full_peer(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    await service.set_own_profile(
        db,
        actor=cast.actor("peer"),
        now=clock(),
        settings=settings,
        resting_until=_today(clock, settings),
        change_rest=True,
    )
    await db.commit()
    data = requests.RequestInput(urgency="today", contact_method="in_person", contact=None, safety_concern=False)
    created = await requests.submit(db, actor=cast.actor("responder"), data=data, now=clock(), settings=settings)
    await db.commit()
    assert await requests.matching_peers(db, request=created, now=clock(), settings=settings) == [cast.other_peer.id]
    assert [m.to_address for m in await _outbox(session) if m.kind == "request_new"] == [cast.other_peer.email]
    assert await requests.list_requests(db, actor=cast.actor("peer"), settings=settings, now=clock()) == []
    with pytest.raises(NotFound):
        await requests.accept(db, actor=cast.actor("peer"), request_id=created.id, now=clock(), settings=settings)

    await _lapse(db, cast, "other_peer", _today(clock, settings), clock)
    assert await requests.matching_peers(db, request=created, now=clock(), settings=settings) == []

    # Rest over, but at their cap: still not offered.
    await service.set_own_profile(db, actor=cast.actor("peer"), now=clock(), settings=settings, change_rest=True)
    await service.set_caseload_cap(db, actor=cast.actor("lead"), person_id=cast.peer.id, cap=1, now=clock())
    await db.commit()
    assert await requests.matching_peers(db, request=created, now=clock(), settings=settings) == [cast.peer.id]
    await db.commit()
    await _log(session, cast, clock, settings, [await make_person(session, station=cast.station_a)])
    assert await requests.matching_peers(db, request=created, now=clock(), settings=settings) == []


async def test_a_request_the_peer_took_counts_against_their_cap_until_closed(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    """A peer supporting someone who asked is supporting a person: that person counts
    toward the cap like one with an open check-in, once even if they have both."""
    await service.set_caseload_cap(db, actor=cast.actor("lead"), person_id=cast.peer.id, cap=1, now=clock())
    await _lapse(db, cast, "other_peer", _today(clock, settings), clock)
    await db.commit()
    data = requests.RequestInput(urgency="today", contact_method="in_person", contact=None, safety_concern=False)
    created = await requests.submit(db, actor=cast.actor("responder"), data=data, now=clock(), settings=settings)
    await requests.accept(db, actor=cast.actor("peer"), request_id=created.id, now=clock(), settings=settings)
    await db.commit()
    standing = (await eligibility.standings(db, [cast.peer.id], settings=settings))[cast.peer.id]
    assert standing.open_people == 1
    assert not await eligibility.takes_new_work(db, cast.peer.id, now=clock(), settings=settings)
    await db.commit()
    # Someone exposed is not given to a peer already at their cap through a request.
    newcomer = await make_person(session, station=cast.station_a)
    await session.commit()
    await _log(session, cast, clock, settings, [newcomer])
    assert {c.peer_id for c in await checkins_of(session, newcomer)} == {None}

    # The same person with a check-in too is still one person.
    await service.set_caseload_cap(db, actor=cast.actor("lead"), person_id=cast.peer.id, cap=5, now=clock())
    await db.commit()
    await _log(session, cast, clock, settings, [cast.responder])
    assert {c.peer_id for c in await checkins_of(session, cast.responder)} == {cast.peer.id}
    standing = (await eligibility.standings(db, [cast.peer.id], settings=settings))[cast.peer.id]
    assert standing.open_people == 1

    # Closed: the request no longer counts (the check-ins still do).
    await requests.close(
        db, actor=cast.actor("peer"), request_id=created.id, outcome="supported", now=clock(), settings=settings
    )
    await db.commit()
    standing = (await eligibility.standings(db, [cast.peer.id], settings=settings))[cast.peer.id]
    assert standing.open_people == 1
    await db.commit()
    await session.exec(
        sa.update(CheckIn).where(col(CheckIn.person_id) == cast.responder.id).values(outcome="cancelled")
    )
    await session.commit()
    standing = (await eligibility.standings(db, [cast.peer.id], settings=settings))[cast.peer.id]
    assert standing.open_people == 0


async def _quiet_setup(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings) -> tuple[CheckIn, str]:
    await _log(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    return day3, ("peer" if day3.peer_id == cast.peer.id else "other_peer")


async def test_a_quiet_peers_checkin_moves_once_and_both_are_told(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    day3, who = await _quiet_setup(session, cast, clock, settings)
    other = cast.other_peer if who == "peer" else cast.peer
    quiet_at = day3.due_at + settings.due_window + timedelta(days=settings.quiet_peer_days)
    assert await jobs.sweep_quiet(db, now=quiet_at - timedelta(minutes=1), settings=settings) == 0
    assert await jobs.sweep_quiet(db, now=quiet_at, settings=settings) == 1
    await db.commit()
    assert await jobs.sweep_quiet(db, now=quiet_at + timedelta(hours=1), settings=settings) == 0
    await db.commit()
    assert {c.peer_id for c in await checkins_of(session, cast.responder) if c.outcome is None} == {other.id}
    told = {(m.to_address, m.subject) for m in await _outbox(session)}
    assert (cast.person(who).email, "A check-in has moved to another peer") in told
    assert (cast.lead.email, "An overdue check-in has moved to another peer") in told
    # The new peer has their own clock: not moved again until they too are quiet.
    assert await jobs.sweep_quiet(db, now=quiet_at + timedelta(days=settings.quiet_peer_days), settings=settings) == 1


async def test_tried_to_reach_them_resets_the_clock_once(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    day3, who = await _quiet_setup(session, cast, clock, settings)
    overdue_at = day3.due_at + settings.due_window
    quiet = timedelta(days=settings.quiet_peer_days)
    tried = overdue_at + timedelta(days=2)
    other = "other_peer" if who == "peer" else "peer"
    with pytest.raises(NotFound):  # only the assigned peer logs a try
        await service.log_contact_attempt(db, actor=cast.actor(other), checkin_id=day3.id, now=tried)
    assert await service.log_contact_attempt(db, actor=cast.actor(who), checkin_id=day3.id, now=tried)
    assert not await service.log_contact_attempt(
        db, actor=cast.actor(who), checkin_id=day3.id, now=tried + timedelta(days=1)
    )
    await db.commit()
    assert await jobs.sweep_quiet(db, now=overdue_at + quiet, settings=settings) == 0
    assert await jobs.sweep_quiet(db, now=tried + quiet - timedelta(minutes=1), settings=settings) == 0
    assert await jobs.sweep_quiet(db, now=tried + quiet, settings=settings) == 1
    await db.commit()


async def test_two_workers_sweeping_quiet_peers_at_once_move_it_once(
    postgres_url: str, db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the race is proven on PostgreSQL (SQLite serialises writers)")
    day3, _ = await _quiet_setup(session, cast, clock, settings)
    quiet_at = day3.due_at + settings.due_window + timedelta(days=settings.quiet_peer_days)
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def sweep() -> int:
        async with maker() as tx:
            await start.wait()
            moved = await jobs.sweep_quiet(tx, now=quiet_at, settings=settings)
            await tx.commit()
            return moved

    tasks = [asyncio.create_task(sweep()) for _ in range(2)]
    await asyncio.sleep(0.05)
    start.set()
    results = sorted(await asyncio.gather(*tasks))
    await engine.dispose()
    assert results == [0, 1]
    moves = list(await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "exposure.reassigned")))
    assert [e.details.get("why") for e in moves] == ["quiet_peer"]
    lead_told = [m for m in await _outbox(session) if m.to_address == cast.lead.email]
    assert len(lead_told) == 1


async def test_a_debrief_is_a_task_for_supervisors_holding_the_peer_and_the_date_only(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    day3, who = await _quiet_setup(session, cast, clock, settings)
    other = "other_peer" if who == "peer" else "peer"
    with pytest.raises(NotFound):
        await service.ask_debrief(db, actor=cast.actor(other), checkin_id=day3.id, now=clock(), settings=settings)
    task = await service.ask_debrief(db, actor=cast.actor(who), checkin_id=day3.id, now=clock(), settings=settings)
    await db.commit()
    assert task.peer_id == cast.person(who).id
    assert task.due == _today(clock, settings) + timedelta(days=settings.peer_debrief_days)
    (view,) = await service.supervision_tasks(db, actor=cast.actor("lead"))
    assert view.task.id == task.id
    for nobody in ("responder", other):
        with pytest.raises(NotFound):
            await service.supervision_tasks(db, actor=cast.actor(nobody))
    done = await service.record_supervision_outcome(
        db, actor=cast.actor("lead"), task_id=task.id, outcome="held", now=clock()
    )
    await db.commit()
    assert done.outcome == "held"
    with pytest.raises(Conflict):
        await service.record_supervision_outcome(
            db, actor=cast.actor("lead"), task_id=task.id, outcome="held", now=clock()
        )
    profile = await service.own_profile(db, actor=cast.actor(who), now=clock(), settings=settings)
    assert profile.supervision_due == _today(clock, settings) + timedelta(days=settings.peer_supervision_days)
    assert [m.subject for m in await _outbox(session) if m.to_address == cast.lead.email] == [
        "A peer supporter would like to talk a check-in over"
    ]
    # Nothing of the person or the check-in in the audit of it either.
    (event,) = list(await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "supervision.requested")))
    assert event.subject_id is None and str(day3.id) not in str(event.details)


async def test_asking_again_before_the_debrief_is_held_is_the_same_task_and_tells_nobody_twice(
    db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    day3, who = await _quiet_setup(session, cast, clock, settings)
    first = await service.ask_debrief(db, actor=cast.actor(who), checkin_id=day3.id, now=clock(), settings=settings)
    await db.commit()
    again = await service.ask_debrief(
        db, actor=cast.actor(who), checkin_id=day3.id, now=clock() + timedelta(hours=2), settings=settings
    )
    await db.commit()
    assert again.id == first.id
    assert len(await service.supervision_tasks(db, actor=cast.actor("lead"))) == 1
    told = [m for m in await _outbox(session) if m.kind == "supervision" and m.to_address == cast.lead.email]
    assert len(told) == 1
    # Once held, a new ask is a new task.
    await service.record_supervision_outcome(
        db, actor=cast.actor("lead"), task_id=first.id, outcome="held", now=clock()
    )
    await db.commit()
    later = await service.ask_debrief(
        db, actor=cast.actor(who), checkin_id=day3.id, now=clock() + timedelta(days=1), settings=settings
    )
    await db.commit()
    assert later.id != first.id


async def test_two_asks_at_once_make_one_debrief(
    postgres_url: str, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the race is proven on PostgreSQL (SQLite serialises writers)")
    day3, who = await _quiet_setup(session, cast, clock, settings)
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def ask() -> Any:
        async with maker() as tx:
            await start.wait()
            task = await service.ask_debrief(
                tx, actor=cast.actor(who), checkin_id=day3.id, now=clock(), settings=settings
            )
            await tx.commit()
            return task.id

    tasks = [asyncio.create_task(ask()) for _ in range(2)]
    await asyncio.sleep(0.05)
    start.set()
    ids = await asyncio.gather(*tasks)
    await engine.dispose()
    assert ids[0] == ids[1]
    stored = list(await session.exec(select(SupervisionTask).execution_options(populate_existing=True)))
    assert len(stored) == 1


def test_the_supervision_task_holds_no_person_or_incident() -> None:
    table = SupervisionTask.__table__  # type: ignore[attr-defined]
    assert set(table.columns.keys()) == {"id", "peer_id", "created_at", "due", "outcome", "outcome_at", "outcome_by_id"}
    targets = {fk.column.table.name for fk in table.foreign_keys}
    assert targets == {"people"}
    assert {fk.parent.name for fk in table.foreign_keys} == {"peer_id", "outcome_by_id"}


async def test_the_migrated_supervision_table_has_the_same_columns(session: AsyncSession) -> None:
    conn = await session.connection()
    columns = await conn.run_sync(lambda c: {col["name"] for col in sa.inspect(c).get_columns("supervision_tasks")})
    assert columns == {"id", "peer_id", "created_at", "due", "outcome", "outcome_at", "outcome_by_id"}


async def test_two_workers_on_the_lapse_day_tell_the_lead_once_and_hand_on_once(
    postgres_url: str, db: AsyncSession, session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings
) -> None:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the race is proven on PostgreSQL (SQLite serialises writers)")
    await _log(session, cast, clock, settings, [cast.responder])
    first = (await checkins_of(session, cast.responder))[0].peer_id
    who = "peer" if first == cast.peer.id else "other_peer"
    await _lapse(db, cast, who, _today(clock, settings), clock)
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def sweep() -> int:
        async with maker() as tx:
            await start.wait()
            done = await jobs.sweep_training(tx, now=clock(), settings=settings)
            await tx.commit()
            return done

    tasks = [asyncio.create_task(sweep()) for _ in range(2)]
    await asyncio.sleep(0.05)
    start.set()
    results = sorted(await asyncio.gather(*tasks))
    await engine.dispose()
    assert results == [0, 1]
    lapsed = [m for m in await _outbox(session) if m.subject == "A peer supporter's training has lapsed"]
    assert len(lapsed) == 1
    moves = list(await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "exposure.reassigned")))
    assert [e.details.get("why") for e in moves] == ["peer_lapsed"]
