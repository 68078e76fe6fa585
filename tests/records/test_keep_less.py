"""Keep less (design section 4): item-level answers and notes of an exposure are deleted
TRIM_ANSWER_RETENTION_DAYS after its last check-in is done and its flags resolved; bands,
outcomes and dates stay, and the person's own record says when (both databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import checkins_of, make_incident, phase_answers
from trim.assessments import service as assessments
from trim.assessments.models import Assessment, AssessmentResult
from trim.config import Settings
from trim.db import AsyncSession
from trim.flags import service as flags
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.jobs import SWEEPS
from trim.privacy.models import AuditEvent
from trim.records import keep_less
from trim.records import service as records


async def held_support(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock) -> list[CheckIn]:
    """Day 3 and day 28 held, with difficulties now and notes; the persistence flag closed."""
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=30),
        now=clock(),
        settings=settings,
    )
    checkins = await checkins_of(db, cast.responder)
    peer = cast.actor("peer") if checkins[0].peer_id == cast.peer.id else cast.actor("other_peer")
    for checkin in checkins:
        sub = assessments.Submission(
            outcome="completed", answers=phase_answers(checkin.kind, after_yes=2), notes="Talked about sleep."
        )
        await assessments.record_checkin(
            db, actor=peer, checkin_id=checkin.id, submission=sub, now=clock(), settings=settings
        )
        await db.commit()
    for flag in (await db.exec(select(Flag))).all():
        await flags.close_flag(db, actor=peer, flag_id=flag.id, reason="Seeing their GP", now=clock())
    await db.commit()
    return checkins


async def own_exposure(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock) -> dict[str, object]:
    record = await records.own_record(db, actor=cast.actor("responder"), settings=settings, now=clock())
    await db.rollback()
    (exposure,) = record["exposures"]
    return dict(exposure)


async def test_answers_and_notes_go_after_the_retention_days_and_bands_stay(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await held_support(db, cast, settings, clock)
    closed = clock()
    promised = await own_exposure(db, cast, settings, clock)
    assert promised["answers_deleted_on"] == closed + timedelta(days=settings.answer_retention_days)
    assert promised["answers_deleted_at"] is None

    clock.advance(days=settings.answer_retention_days - 1)
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0
    await db.commit()
    assert all(r.answers for r in (await session.exec(select(AssessmentResult))).all())

    clock.advance(days=1)
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 2
    await db.commit()
    kept = (await session.exec(select(Assessment).execution_options(populate_existing=True))).all()
    assert [(a.outcome, a.band, a.score, a.notes_encrypted) for a in kept] == [("completed", "low", 2, None)] * 2
    assert all(a.answers_deleted_at == clock() for a in kept)
    results = (await session.exec(select(AssessmentResult).execution_options(populate_existing=True))).all()
    assert results and all(r.answers == {} for r in results)
    assert all(r.band for r in results)  # the band each instrument gave stays
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0  # twice is harmless
    events = (await session.exec(select(AuditEvent.action).where(AuditEvent.action == "answers.deleted"))).all()
    assert events == ["answers.deleted"]

    told = await own_exposure(db, cast, settings, clock)
    assert told["answers_deleted_at"] == clock()


async def test_an_open_flag_or_a_checkin_still_to_come_keeps_the_answers(
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
    peer = cast.actor("peer") if day3.peer_id == cast.peer.id else cast.actor("other_peer")
    sub = assessments.Submission(outcome="completed", answers=phase_answers("day3", after_yes=2), notes="n")
    await assessments.record_checkin(db, actor=peer, checkin_id=day3.id, submission=sub, now=clock(), settings=settings)
    await db.commit()
    clock.advance(days=settings.answer_retention_days * 3)
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0  # day 28 is still open
    await db.commit()
    exposure = await own_exposure(db, cast, settings, clock)
    assert exposure["answers_deleted_on"] is None and exposure["answers_deleted_at"] is None
    assert (await session.exec(select(AssessmentResult))).first().answers  # type: ignore[union-attr]


async def test_a_monitored_flag_keeps_the_answers_until_it_is_settled(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    checkins = await held_support(db, cast, settings, clock)
    flag = (await db.exec(select(Flag))).first()
    assert flag is not None
    flag.status, flag.resolved_at = "monitoring", None
    db.add(flag)
    await db.commit()
    clock.advance(days=settings.answer_retention_days + 5)
    assert await keep_less.sweep_answers(db, now=clock(), settings=settings) == 0
    assert len(checkins) == 2


async def test_the_keep_less_sweep_runs_on_every_worker() -> None:
    assert keep_less.sweep_answers in [s.run for s in SWEEPS]
