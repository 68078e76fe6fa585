"""Watchful waiting (design section 4): a flag put on monitor books an extra check-in with
the same peer, and that check-in's answers close the flag or open it again (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident, phase_answers
from trim.assessments import service as assessments
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import Conflict, InvalidInput, NotFound, NotYet
from trim.flags import rules, service
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent


async def persistent_flag(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock) -> Flag:
    """Difficulties now at day 3 and day 28 of an incident 30 days ago: the persistence flag."""
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=30),
        now=clock(),
        settings=settings,
    )
    day3, day28 = await checkins_of(db, cast.responder)
    await record(db, cast, day3, settings, clock, answers=phase_answers("day3", after_yes=2))
    recorded = await record(db, cast, day28, settings, clock, answers=phase_answers("day28", after_yes=2))
    return next(f for f in recorded.flags if f.cause == "consecutive_elevated")


def peer_of(cast: Cast, checkin: CheckIn):  # type: ignore[no-untyped-def]
    return cast.actor("peer") if checkin.peer_id == cast.peer.id else cast.actor("other_peer")


async def record(
    db: AsyncSession,
    cast: Cast,
    checkin: CheckIn,
    settings: Settings,
    clock: FakeClock,
    correction: str | None = None,
    **kwargs: object,
) -> assessments.Recorded:
    """The check-in recorded by its peer (with `correction`, a correction of their record)."""
    sub = assessments.Submission(**{"outcome": "completed", "answers": answers_for("day28"), **kwargs})  # type: ignore[arg-type]
    actor = peer_of(cast, checkin)
    if correction is None:
        recorded = await assessments.record_checkin(
            db, actor=actor, checkin_id=checkin.id, submission=sub, now=clock(), settings=settings
        )
    else:
        recorded = await assessments.correct_checkin(
            db,
            actor=actor,
            checkin_id=checkin.id,
            submission=sub,
            correction_reason=correction,
            now=clock(),
            settings=settings,
        )
    await db.commit()
    return recorded


async def monitor(
    db: AsyncSession, cast: Cast, flag: Flag, settings: Settings, clock: FakeClock, days: int | None = None
) -> service.Monitored:
    exposure_peer = (await checkins_of(db, cast.responder))[0]
    watched = await service.monitor_flag(
        db, actor=peer_of(cast, exposure_peer), flag_id=flag.id, days=days, now=clock(), settings=settings
    )
    await db.commit()
    return watched


async def test_monitor_books_a_checkin_with_the_same_peer_in_fourteen_days_by_default(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    watched = await monitor(db, cast, flag, settings, clock)
    day3, day28, extra = await checkins_of(session, cast.responder)
    assert (extra.id, extra.kind, extra.offset_days) == (watched.checkin.id, "monitor", 30 + 14)
    assert extra.peer_id == day28.peer_id and extra.outcome is None
    assert extra.due_at.astimezone(settings.zone).time() == day3.scheduled_for.astimezone(settings.zone).time()
    assert timedelta(days=13) < extra.due_at - clock() <= timedelta(days=15)
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and (stored.status, stored.monitor_checkin_id) == ("monitoring", extra.id)
    events = (await session.exec(select(AuditEvent.action).where(AuditEvent.target_id == str(flag.id)))).all()
    assert "flag.monitoring" in events


@pytest.mark.parametrize("days", [6, 29, 0])
async def test_monitor_days_outside_seven_to_twenty_eight_are_refused_and_nothing_is_booked(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, days: int
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    with pytest.raises(InvalidInput) as refused:
        await monitor(db, cast, flag, settings, clock, days=days)
    assert refused.value.field_messages()["days"] == "Choose between 7 and 28 days."
    await db.rollback()
    assert len(await checkins_of(session, cast.responder)) == 2


async def test_a_settled_monitor_checkin_closes_the_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    watched = await monitor(db, cast, flag, settings, clock, days=7)
    watched_id = watched.checkin.id
    with pytest.raises(NotYet):  # the early window holds for the extra check-in too
        await record(db, cast, watched.checkin, settings, clock)
    await db.rollback()
    clock.advance(days=7)
    extra = (await checkins_of(db, cast.responder))[-1]
    assert extra.id == watched_id
    recorded = await record(db, cast, extra, settings, clock, answers=phase_answers("day28"))
    assert recorded.flags == []
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None
    assert (stored.status, stored.resolution_reason) == ("closed", rules.MONITOR_SETTLED_REASON)
    assert stored.resolved_at == clock()


async def test_difficulties_at_the_monitor_checkin_reopen_the_flag_and_it_can_be_watched_again(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    first = await monitor(db, cast, flag, settings, clock, days=7)
    clock.advance(days=7)
    recorded = await record(db, cast, first.checkin, settings, clock, answers=phase_answers("day28", after_yes=3))
    assert "consecutive_elevated" not in {f.cause for f in recorded.flags}  # the same flag, reopened, no twin
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and (stored.status, stored.resolved_at) == ("open", None)
    second = await monitor(db, cast, flag, settings, clock, days=28)  # a second monitor check-in on the exposure
    kinds = [c.kind for c in await checkins_of(session, cast.responder)]
    assert kinds == ["day3", "day28", "monitor", "monitor"]
    assert second.checkin.offset_days == 37 + 28


async def test_a_declined_monitor_checkin_reopens_the_flag_for_a_person_to_decide(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    watched = await monitor(db, cast, flag, settings, clock, days=7)
    clock.advance(days=7)
    await record(db, cast, watched.checkin, settings, clock, outcome="declined", answers={})
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and stored.status == "open"


async def test_a_monitored_flag_cannot_be_closed_or_monitored_twice_meanwhile(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    await monitor(db, cast, flag, settings, clock)
    with pytest.raises(Conflict):
        await monitor(db, cast, flag, settings, clock)
    await db.rollback()
    assert [c.kind for c in await checkins_of(session, cast.responder)] == ["day3", "day28", "monitor"]


async def test_another_peer_cannot_monitor_a_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    day3 = (await checkins_of(db, cast.responder))[0]
    stranger = cast.actor("other_peer") if day3.peer_id == cast.peer.id else cast.actor("peer")
    with pytest.raises(NotFound):
        await service.monitor_flag(db, actor=stranger, flag_id=flag.id, days=14, now=clock(), settings=settings)


async def test_an_urgent_flag_is_acknowledged_before_watchful_waiting(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=3),
        now=clock(),
        settings=settings,
    )
    day3, _ = await checkins_of(db, cast.responder)
    recorded = await record(db, cast, day3, settings, clock, answers=answers_for("day3"), safety_concern=True)
    urgent = next(f for f in recorded.flags if f.urgent)
    peer, urgent_id = peer_of(cast, day3), urgent.id
    with pytest.raises(Conflict):
        await monitor(db, cast, urgent, settings, clock)
    await db.rollback()
    urgent = await service.acknowledge_flag(db, actor=peer, flag_id=urgent_id, action="stayed_with_them", now=clock())
    await db.commit()
    watched = await monitor(db, cast, urgent, settings, clock, days=7)
    # Day 10: the extra check-in asks what day 3 asks (the TSQ is never before four weeks).
    asked = assessments.questions_for(watched.checkin.kind, watched.checkin.offset_days, settings=settings)
    assert [i.id for i in asked] == ["trim_risk"]


async def test_a_flag_with_no_incident_cannot_be_watched(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await service.raise_flag(
        db, person_id=cast.responder.id, cause="cumulative_exposure", cause_key="cumulative:test", now=clock()
    )
    await db.commit()
    assert flag is not None
    with pytest.raises(InvalidInput):
        await service.monitor_flag(
            db, actor=cast.actor("lead"), flag_id=flag.id, days=14, now=clock(), settings=settings
        )


async def test_opting_out_before_the_monitor_checkin_reopens_the_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag = await persistent_flag(db, cast, settings, clock)
    watched = await monitor(db, cast, flag, settings, clock)
    await assessments.person_opts_out(db, actor=cast.actor("responder"), checkin_id=watched.checkin.id, now=clock())
    await db.commit()
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and stored.status == "open"  # a person decides, not a check-in that never comes
    extra = (await checkins_of(session, cast.responder))[-1]
    assert extra.outcome == "cancelled"


WRONG = "Entered the wrong answers"


async def watched_and_recorded(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, **answers: object
) -> tuple[Flag, service.Monitored]:
    """The persistence flag put on monitor for 7 days, and that check-in recorded with these answers."""
    flag = await persistent_flag(db, cast, settings, clock)
    watched = await monitor(db, cast, flag, settings, clock, days=7)
    clock.advance(days=7)
    await record(db, cast, watched.checkin, settings, clock, **answers)
    return flag, watched


async def test_a_correction_showing_difficulties_reopens_the_flag_its_first_record_closed(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag, watched = await watched_and_recorded(db, cast, settings, clock, answers=phase_answers("day28"))
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and stored.status == "closed"
    sent_before = {m.id for m in await session.exec(select(OutboxMessage))}
    # The peer entered the wrong answers: the difficulties persist after all.
    clock.advance(hours=2)
    recorded = await record(
        db, cast, watched.checkin, settings, clock, WRONG, answers=phase_answers("day28", after_yes=3)
    )
    assert "consecutive_elevated" not in {f.cause for f in recorded.flags}  # the same flag, no twin
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None
    assert (stored.status, stored.resolved_at, stored.resolution_reason) == ("open", None, None)
    reopened = (
        await session.exec(
            select(AuditEvent).where(AuditEvent.target_id == str(flag.id), AuditEvent.action == "flag.reopened")
        )
    ).all()
    assert [e.details for e in reopened] == [{"by": "correction"}]
    sent = {m.id: m.subject for m in await session.exec(select(OutboxMessage))}
    told = [subject for id_, subject in sent.items() if id_ not in sent_before]
    assert told and set(told) == {"A flag under watchful waiting needs your attention again"}
    # A second correction that says the same changes nothing more, and tells nobody again.
    await record(db, cast, watched.checkin, settings, clock, WRONG, answers=phase_answers("day28", after_yes=3))
    assert len(list(await session.exec(select(OutboxMessage)))) == len(sent)


async def test_a_correction_never_closes_a_flag_its_first_record_reopened(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag, watched = await watched_and_recorded(db, cast, settings, clock, answers=phase_answers("day28", after_yes=3))
    clock.advance(hours=2)
    await record(db, cast, watched.checkin, settings, clock, WRONG, answers=phase_answers("day28"))
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and stored.status == "open"  # its peer and the lead were told: a person decides


async def test_a_correction_leaves_a_flag_closed_by_a_person_alone(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    """Only a flag this check-in closed is opened again: one a person closed (after it was
    reopened, say) is theirs."""
    flag, watched = await watched_and_recorded(db, cast, settings, clock, answers=phase_answers("day28", after_yes=3))
    peer = peer_of(cast, watched.checkin)
    await service.close_flag(db, actor=peer, flag_id=flag.id, reason="Spoke at length; support in place", now=clock())
    await db.commit()
    await record(db, cast, watched.checkin, settings, clock, WRONG, answers=phase_answers("day28", after_yes=4))
    stored = await session.get(Flag, flag.id, populate_existing=True)
    assert stored is not None and stored.status == "closed"
