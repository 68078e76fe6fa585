"""Periodic check-ins of high-exposure groups on both databases (design section 14): the
first at joining, then one every cadence with no incident, assigned by the usual rules;
the same instruments and flag rules, except that declining never counts; leaving or
opting out stops the cadence and re-joining starts it again, never twice."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, make_incident
from trim.assessments import service as assessments
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.dashboard import service as dashboard
from trim.db import AsyncSession
from trim.flags.models import Flag
from trim.followups import jobs as followup_jobs
from trim.followups import periodic
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.followups.rules import scheduled_time
from trim.groups import rules as group_rules
from trim.groups import service as groups
from trim.notifications.models import OutboxMessage
from trim.peers import service as peers
from trim.privacy import policy
from trim.records import keep_less
from trim.records.retention import purge


async def _periodic_of(session: AsyncSession, person_id: uuid.UUID) -> list[CheckIn]:
    stmt = select(CheckIn).where(CheckIn.person_id == person_id, CheckIn.kind == "periodic")
    return list(await session.exec(stmt.order_by(col(CheckIn.scheduled_for)).execution_options(populate_existing=True)))


async def _control_room(db: AsyncSession, cast: Cast, clock: FakeClock, *, cadence: int = 180) -> uuid.UUID:
    lead = cast.actor("lead")
    group = await groups.define_group(db, actor=lead, name="Control room", cadence_days=cadence, now=clock())
    await groups.set_members(db, actor=lead, group_id=group.id, person_ids=[cast.responder.id], now=clock())
    await db.commit()
    return group.id


async def _sweep(db: AsyncSession, settings: Settings, clock: FakeClock) -> int:
    made = await periodic.sweep_periodic(db, now=clock(), settings=settings)
    await db.commit()
    return made


async def _record(
    db: AsyncSession, cast: Cast, checkin: CheckIn, settings: Settings, clock: FakeClock, **kwargs: object
) -> assessments.Recorded:
    peer = cast.actor("peer") if checkin.peer_id == cast.peer.id else cast.actor("other_peer")
    sub = assessments.Submission(**{"outcome": "completed", "answers": answers_for("periodic"), **kwargs})  # type: ignore[arg-type]
    recorded = await assessments.record_checkin(
        db, actor=peer, checkin_id=checkin.id, submission=sub, now=clock(), settings=settings
    )
    await db.commit()
    return recorded


async def test_a_180_day_cadence_gives_a_checkin_at_joining_and_at_day_180_with_no_incident(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    joined = clock()
    await _control_room(db, cast, clock)
    assert await _sweep(db, settings, clock) == 1
    assert await _sweep(db, settings, clock) == 0  # idempotent
    [first] = await _periodic_of(session, cast.responder.id)
    assert (first.incident_id, first.exposure_id, first.scheduled_for) == (None, None, joined)
    assert first.peer_id in (cast.peer.id, cast.other_peer.id)  # the usual rules, never the person
    await _record(db, cast, first, settings, clock)
    clock.set(joined + timedelta(days=179))
    assert await _sweep(db, settings, clock) == 0
    clock.set(joined + timedelta(days=180))
    assert await _sweep(db, settings, clock) == 1
    _, second = await _periodic_of(session, cast.responder.id)
    # The same local time 180 days on (summer time by then: an hour earlier in UTC).
    assert second.scheduled_for == scheduled_time(joined, 180, settings.zone) and second.incident_id is None
    assert second.offset_days == 180
    # The person and the peer see it in their lists, with no incident, named by the group.
    mine = await followups.list_checkins(
        db, actor=cast.actor("responder"), statuses=["due"], now=clock(), settings=settings, mine_as="person"
    )
    assert [(v.id, v.as_api()["incident_id"], v.periodic_label) for v in mine] == [
        (second.id, None, "Periodic check-in (Control room)")
    ]
    peer = cast.actor("peer") if second.peer_id == cast.peer.id else cast.actor("other_peer")
    theirs = await followups.list_checkins(
        db, actor=peer, statuses=["due"], now=clock(), settings=settings, mine_as="peer"
    )
    assert [v.id for v in theirs] == [second.id]


async def test_the_shortest_cadence_wins_for_someone_in_two_groups(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    joined = clock()
    await _control_room(db, cast, clock, cadence=180)
    other = await groups.define_group(db, actor=cast.actor("lead"), name="Image review", cadence_days=30, now=clock())
    await groups.set_members(
        db, actor=cast.actor("lead"), group_id=other.id, person_ids=[cast.responder.id], now=clock()
    )
    await db.commit()
    await _sweep(db, settings, clock)
    [first] = await _periodic_of(session, cast.responder.id)
    await _record(db, cast, first, settings, clock)
    clock.set(joined + timedelta(days=30))
    assert await _sweep(db, settings, clock) == 1
    assert (await _periodic_of(session, cast.responder.id))[-1].scheduled_for == scheduled_time(
        joined, 30, settings.zone
    )


async def test_two_declines_in_a_row_raise_no_flag_but_two_persistent_answers_do(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    joined = clock()
    await _control_room(db, cast, clock, cadence=30)
    for n in (1, 2):
        clock.set(joined + timedelta(days=30 * (n - 1)))
        await _sweep(db, settings, clock)
        checkin = (await _periodic_of(session, cast.responder.id))[-1]
        recorded = await _record(db, cast, checkin, settings, clock, outcome="declined", answers={})
        assert recorded.flags == []
    assert list(await session.exec(select(Flag).where(Flag.person_id == cast.responder.id))) == []
    for n in (3, 4):
        clock.set(joined + timedelta(days=30 * (n - 1)))
        await _sweep(db, settings, clock)
        checkin = (await _periodic_of(session, cast.responder.id))[-1]
        recorded = await _record(
            db,
            cast,
            checkin,
            settings,
            clock,
            answers=answers_for("periodic", risk_yes=settings.persistent_after_score),
        )
    # The declines in between neither broke nor made the run; no "last scheduled" for a cadence.
    assert [(f.cause, f.exposure_id) for f in recorded.flags] == [("consecutive_elevated", None)]


async def test_leaving_cancels_the_open_one_and_rejoining_starts_again_without_duplicates(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    group_id = await _control_room(db, cast, clock)
    await _sweep(db, settings, clock)
    lead = cast.actor("lead")
    await groups.set_members(db, actor=lead, group_id=group_id, person_ids=[], now=clock())
    await db.commit()
    [left] = await _periodic_of(session, cast.responder.id)
    assert (left.outcome, left.outcome_reason) == ("cancelled", group_rules.LEFT_GROUPS_REASON)
    clock.advance(days=200)
    assert await _sweep(db, settings, clock) == 0  # the cadence has stopped
    await groups.set_members(db, actor=lead, group_id=group_id, person_ids=[cast.responder.id], now=clock())
    await db.commit()
    assert await _sweep(db, settings, clock) == 1
    assert await _sweep(db, settings, clock) == 0
    rows = await _periodic_of(session, cast.responder.id)
    assert [(c.outcome, c.scheduled_for) for c in rows] == [("cancelled", left.scheduled_for), (None, clock())]


async def test_opting_out_cancels_and_stops_the_cadence(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await _control_room(db, cast, clock, cadence=30)
    await _sweep(db, settings, clock)
    await groups.set_opt_out(db, actor=cast.actor("responder"), opted_out=True, now=clock())
    await db.commit()
    [stopped] = await _periodic_of(session, cast.responder.id)
    assert (stopped.outcome, stopped.outcome_reason) == ("cancelled", group_rules.OPTED_OUT_REASON)
    clock.advance(days=90)
    assert await _sweep(db, settings, clock) == 0
    await groups.set_opt_out(db, actor=cast.actor("responder"), opted_out=False, now=clock())
    await db.commit()
    assert await _sweep(db, settings, clock) == 1  # back in: one now, not a backlog


async def test_the_dashboard_figures_are_unchanged_by_periodic_checkins(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    lead = cast.actor("lead")
    await make_incident(
        db,
        actor=lead,
        station=cast.station_a,
        people=[cast.responder, cast.supervisor],
        occurred_at=clock() - timedelta(days=40),
        now=clock(),
        settings=settings,
    )
    filters = await dashboard.read_filters(
        db, from_text=None, to_text=None, station_text=None, kind_text=None, now=clock(), settings=settings
    )
    before = (await dashboard.dashboard(db, actor=lead, filters=filters, now=clock(), settings=settings)).ledger
    await _control_room(db, cast, clock, cadence=30)
    await _sweep(db, settings, clock)
    [checkin] = await _periodic_of(session, cast.responder.id)
    await _record(db, cast, checkin, settings, clock, answers=answers_for("periodic", risk_yes=4))
    after = (await dashboard.dashboard(db, actor=lead, filters=filters, now=clock(), settings=settings)).ledger

    def incident_figures(cells: dict[Any, Any]) -> dict[Any, Any]:
        return {key: value for key, value in cells.items() if key[0] != "periodic_checkins"}

    # The incident figures are untouched; the periodic check-in is counted apart, once.
    assert incident_figures(after.cells) == incident_figures(before.cells)
    assert incident_figures(after.shown) == incident_figures(before.shown)
    periodic_total = [v for k, v in after.cells.items() if k[0] == "periodic_checkins" and k[1] == ("all", "all")]
    assert [c.value for c in periodic_total] == [1]


async def test_the_purge_deidentifies_periodic_checkins_recorded_before_the_cutoff(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await _control_room(db, cast, clock, cadence=30)
    await _sweep(db, settings, clock)
    [old] = await _periodic_of(session, cast.responder.id)
    await _record(db, cast, old, settings, clock, answers=answers_for("periodic", risk_yes=2), notes="Private words.")
    await groups.set_opt_out(db, actor=cast.actor("responder"), opted_out=True, now=clock())
    await db.commit()
    clock.advance(days=settings.retention_days - 1)
    assert (await purge(db, now=clock(), settings=settings)).periodic_checkins == 0  # not yet
    await db.commit()
    clock.advance(days=2)
    report = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert report.periodic_checkins == 1
    assert await _periodic_of(session, cast.responder.id) == []  # nothing of it points at them now
    stored = (await session.exec(select(Assessment).where(Assessment.checkin_id == old.id))).one()
    assert stored.person_id != cast.responder.id and stored.notes_encrypted is None
    assert (await purge(db, now=clock(), settings=settings)).periodic_checkins == 0  # once


async def test_the_peer_of_a_periodic_checkin_sees_the_flag_it_raised_and_no_one_else_does(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await _control_room(db, cast, clock, cadence=30)
    await _sweep(db, settings, clock)
    [checkin] = await _periodic_of(session, cast.responder.id)
    recorded = await _record(db, cast, checkin, settings, clock, safety_concern=True)
    [flag] = recorded.flags
    assert (flag.cause, flag.urgent, flag.exposure_id) == ("safety_concern", True, None)
    peer = "peer" if checkin.peer_id == cast.peer.id else "other_peer"
    other = "other_peer" if peer == "peer" else "peer"
    peers = [checkin.peer_id] if checkin.peer_id else []
    facts = policy.FlagFacts(flag=flag, periodic_peers=peers)
    for who, sees in {peer: True, "lead": True, "responder": True, other: False, "supervisor": False}.items():
        actor = cast.actor(who)
        in_scope = flag.id in set(await session.exec(select(Flag.id).where(policy.flag_scope(actor))))
        assert in_scope == policy.can_view_flag(actor, facts) == sees, who
    # The peer was told at once, as for any urgent flag.
    told = select(OutboxMessage.person_id).where(OutboxMessage.kind == "urgent_flag")
    assert checkin.peer_id in set(await session.exec(told))


async def test_a_peer_going_unavailable_hands_their_periodic_checkin_on_by_the_usual_rules(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await _control_room(db, cast, clock)
    await _sweep(db, settings, clock)
    [checkin] = await _periodic_of(session, cast.responder.id)
    first = cast.peer if checkin.peer_id == cast.peer.id else cast.other_peer
    second = cast.other_peer if first is cast.peer else cast.peer
    handover = await peers.set_own_profile(
        db,
        actor=cast.actor("peer" if first is cast.peer else "other_peer"),
        now=clock(),
        settings=settings,
        available=False,
    )
    await db.commit()
    assert (handover.moved, handover.unassigned) == (1, 0)
    [moved] = await _periodic_of(session, cast.responder.id)
    assert moved.peer_id == second.id and moved.outcome is None


async def test_answers_of_an_older_periodic_checkin_go_after_the_setting_but_the_latest_held_stays(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    joined = clock()
    await _control_room(db, cast, clock, cadence=30)
    await _sweep(db, settings, clock)
    [first] = await _periodic_of(session, cast.responder.id)
    await _record(db, cast, first, settings, clock, answers=answers_for("periodic", risk_yes=1), notes="First.")
    clock.set(joined + timedelta(days=30))
    await _sweep(db, settings, clock)
    second = (await _periodic_of(session, cast.responder.id))[-1]
    await _record(db, cast, second, settings, clock, answers=answers_for("periodic", risk_yes=1), notes="Second.")
    await groups.set_opt_out(db, actor=cast.actor("responder"), opted_out=True, now=clock())
    await db.commit()

    async def kept() -> dict[uuid.UUID, bool]:
        rows = await session.exec(
            select(Assessment)
            .where(Assessment.person_id == cast.responder.id)
            .execution_options(populate_existing=True)
        )
        return {a.checkin_id: a.answers_deleted_at is None and a.notes_encrypted is not None for a in rows}

    clock.set(joined + timedelta(days=settings.answer_retention_days - 1))
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0
    await db.commit()
    clock.set(joined + timedelta(days=settings.answer_retention_days + 31))
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 1
    await db.commit()
    assert await kept() == {first.id: False, second.id: True}  # scores and bands stay; the latest is kept
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0  # once


async def test_after_0632_both_unique_rules_of_checkins_keep_their_where(session: AsyncSession) -> None:
    # SQLite's batch copy of the table must not lose the partial index of exposure check-ins.
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        found = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'checkins'"
    else:
        found = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'checkins'"
    indexes = {name: (sql or "").lower() for name, sql in (await session.exec(text(found))).all()}  # type: ignore[call-overload]
    assert "unique" in indexes["uq_checkins_exposure_id_kind"] and "monitor" in indexes["uq_checkins_exposure_id_kind"]
    periodic_rule = indexes["uq_checkins_periodic_person_id_scheduled_for"]
    assert "unique" in periodic_rule and "periodic" in periodic_rule and "cancelled" in periodic_rule


async def test_the_worker_round_reminds_the_peer_of_a_periodic_checkin_as_it_falls_due(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await _control_room(db, cast, clock)
    for sweep in followup_jobs.SWEEPS:  # in the order every worker runs them
        await sweep.run(db, now=clock(), settings=settings)
        await db.commit()
    [checkin] = await _periodic_of(session, cast.responder.id)
    reminded = select(OutboxMessage.person_id, OutboxMessage.link).where(OutboxMessage.kind == "checkin_due")
    assert list(await session.exec(reminded)) == [(checkin.peer_id, f"/checkins/{checkin.id}")]


async def test_a_periodic_checkin_made_with_no_peer_free_is_assigned_when_one_is(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    for who in ("peer", "other_peer"):
        await peers.set_own_profile(db, actor=cast.actor(who), now=clock(), settings=settings, available=False)
    await db.commit()
    await _control_room(db, cast, clock)
    await _sweep(db, settings, clock)
    [waiting] = await _periodic_of(session, cast.responder.id)
    assert waiting.peer_id is None
    await peers.set_own_profile(db, actor=cast.actor("other_peer"), now=clock(), settings=settings, available=True)
    await db.commit()
    assert await _sweep(db, settings, clock) == 0  # nothing new made ...
    [assigned] = await _periodic_of(session, cast.responder.id)
    assert assigned.id == waiting.id and assigned.peer_id == cast.other_peer.id  # ... the waiting one has a peer


async def test_a_changed_cadence_sets_when_the_next_one_falls_due(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    joined = clock()
    group_id = await _control_room(db, cast, clock, cadence=180)
    await _sweep(db, settings, clock)
    [first] = await _periodic_of(session, cast.responder.id)
    await _record(db, cast, first, settings, clock)
    await groups.change_group(
        db, actor=cast.actor("lead"), group_id=group_id, name="Control room", cadence_days=60, now=clock()
    )
    await db.commit()
    clock.set(joined + timedelta(days=59))
    assert await _sweep(db, settings, clock) == 0
    clock.set(joined + timedelta(days=60))
    assert await _sweep(db, settings, clock) == 1
    assert (await _periodic_of(session, cast.responder.id))[-1].scheduled_for == scheduled_time(
        joined, 60, settings.zone
    )


async def test_the_questions_of_a_periodic_checkin_say_there_is_no_single_incident(
    client: Any, db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    """The risk questions speak of "the incident"; a periodic check-in has none, so the person
    answering themselves, and the peer asking, are told what to think of instead."""
    from tests.cast import signed_in

    await _control_room(db, cast, clock)
    await _sweep(db, settings, clock)
    [checkin] = await _periodic_of(session, cast.responder.id)
    async with signed_in(client, cast.responder) as me:
        own = (await me.get(f"/checkins/{checkin.id}/self")).text
    assert "at your periodic check-in" in own
    assert "think of the hardest things your work has put you through since your last check-in" in own
    peer = cast.peer if checkin.peer_id == cast.peer.id else cast.other_peer
    async with signed_in(client, peer) as theirs:
        form = (await theirs.get(f"/checkins/{checkin.id}")).text
    assert "ask about the hardest things their work has put them through since the last check-in" in form
