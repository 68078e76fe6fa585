"""The person answers their own check-in (design section 14): once, from the early window,
scored like a peer's recording; the peer completes it (a conversation, or "preferred not to
talk") and the flag rules judge it as any completed check-in (both databases)."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select

from tests.assessments.test_service import peer_actor, record, setup
from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of
from trim.assessments import self_report, service
from trim.assessments.models import Assessment, AssessmentResult, InstrumentSnapshot
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import Conflict, InvalidInput, NotFound, NotYet
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent


async def answer(
    db: AsyncSession,
    cast: Cast,
    checkin: CheckIn,
    settings: Settings,
    clock: FakeClock,
    *,
    answers: dict[str, dict[str, bool]] | None = None,
    safety_concern: bool = False,
) -> self_report.SelfAnswered:
    answered = await self_report.answer_self(
        db,
        actor=cast.actor("responder"),
        checkin_id=checkin.id,
        answers=answers if answers is not None else answers_for(checkin.kind),
        safety_concern=safety_concern,
        now=clock(),
        settings=settings,
    )
    await db.commit()
    return answered


async def test_own_answers_are_scored_and_banded_like_a_peers(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    _, day28 = await setup(db, cast, settings, clock)
    answered = await answer(db, cast, day28, settings, clock, answers=answers_for("day28", risk_yes=3, tsq_yes=6))
    bands = {r.instrument: (r.score, r.band) for r in answered.results}
    assert bands == {"trim_risk": (3, "elevated"), "tsq": (6, "positive")}
    stored = (await session.exec(select(Assessment))).one()
    assert stored.answered_by_person and not stored.is_current and stored.band == "elevated"
    # Not yet the check-in's record: still open for the peer, and no score flag before they record it.
    checkin = (await session.exec(select(CheckIn).where(CheckIn.id == day28.id))).one()
    assert checkin.outcome is None and checkin.self_answered_at is not None and not checkin.self_completed
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 0
    # The wording they read is kept with the instrument version they answered.
    # Their peer is told, with no name and no answers.
    (told,) = (await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "self_answered"))).all()
    assert told.person_id == day28.peer_id and "answered their check-in questions" in told.body
    assert cast.responder.name not in told.subject + told.body
    snapshot = (await session.exec(select(InstrumentSnapshot).where(InstrumentSnapshot.instrument_id == "tsq"))).one()
    assert snapshot.definition["items"][0]["self_text"].startswith("Unwanted thoughts or memories of the event")


async def test_a_safety_yes_raises_the_urgent_flag_at_once_and_only_once(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    answered = await answer(db, cast, day3, settings, clock, safety_concern=True)
    assert [(f.cause, f.urgent) for f in answered.flags] == [("safety_concern", True)]
    # The peer then records the conversation, also with a safety yes: still one urgent flag.
    await record(db, cast, day3, settings, clock, safety_concern=True)
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 1


async def test_only_the_person_answers_everyone_else_is_not_found(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    for who in ("peer", "other_peer", "lead", "supervisor", "clinician", "admin"):
        with pytest.raises(NotFound):
            await self_report.answer_self(
                db,
                actor=cast.actor(who),
                checkin_id=day3.id,
                answers=answers_for("day3"),
                safety_concern=False,
                now=clock(),
                settings=settings,
            )


async def test_answering_twice_is_a_conflict_and_keeps_the_first(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    await answer(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=1))
    with pytest.raises(Conflict, match="already answered"):
        await answer(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=5))
    await db.rollback()
    assert [a.score for a in await session.exec(select(Assessment))] == [1]


async def test_too_early_is_refused_with_the_date_and_a_closed_checkin_too(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock, days_ago=1)
    with pytest.raises(NotYet, match="due on"):
        await answer(db, cast, day28, settings, clock)
    await db.rollback()
    clock.advance(days=2)  # day 3 is now within the early window
    day3 = (await checkins_of(db, cast.responder))[0]
    await record(db, cast, day3, settings, clock)
    with pytest.raises(Conflict, match="closed"):
        await answer(db, cast, day3, settings, clock)
    await db.rollback()
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1


async def test_bad_answers_are_named_in_the_persons_words_and_nothing_is_saved(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    _, day28 = await setup(db, cast, settings, clock)
    day28_id = day28.id
    partial = answers_for("day28")
    del partial["tsq"]["nightmares"]
    with pytest.raises(InvalidInput) as refused:
        await answer(db, cast, day28, settings, clock, answers={**partial, "nope": {}})
    await db.rollback()
    fields = {e.field: e.message for e in refused.value.errors}
    assert "I have had upsetting dreams about the event" in fields["answers.tsq.nightmares"]
    assert "answers.nope" in fields
    assert refused.value.detail.startswith("Your answers were not saved")
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0
    assert (await session.exec(select(CheckIn.self_answered_at).where(CheckIn.id == day28_id))).one() is None


async def test_the_peer_sees_the_answers_and_the_lead_only_that_they_answered(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    await answer(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=4))
    seen = await self_report.own_answers_view(db, actor=peer_actor(cast, day3), checkin_id=day3.id, now=clock())
    assert seen is not None and [(r.instrument_id, r.band) for r in seen.results] == [("trim_risk", "elevated")]
    assert sum(seen.results[0].answers.values()) == 4
    assert await self_report.own_answers_view(db, actor=cast.actor("lead"), checkin_id=day3.id, now=clock()) is None
    with pytest.raises(NotFound):
        await self_report.own_answers_view(db, actor=cast.actor("supervisor"), checkin_id=day3.id, now=clock())
    reads = await db.exec(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "assessment.read"))
    assert reads.one() == 1


async def test_preferred_not_to_talk_completes_with_their_answers_and_is_not_a_conversation(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=4))
    await answer(db, cast, day28, settings, clock, answers=answers_for("day28", risk_yes=4))
    recorded = await record(db, cast, day28, settings, clock, answers={}, self_only=True)
    # Completed, so the flag rules count it: elevated twice in a row raises the flags.
    assert sorted(f.cause for f in recorded.flags) == ["consecutive_elevated", "elevated_last"]
    assert recorded.assessment.answered_by_person and recorded.risk.score == 4  # type: ignore[union-attr]
    stored = {c.kind: c for c in await checkins_of(session, cast.responder)}
    assert stored["day28"].outcome == "completed" and stored["day28"].self_completed
    assert stored["day28"].outcome_reason == service.SELF_ONLY_REASON
    assert not stored["day3"].self_completed
    # How the dashboard tells conversations apart: completed and not self_completed.
    talks = await session.exec(
        select(func.count())
        .select_from(CheckIn)
        .where(CheckIn.outcome == "completed", col(CheckIn.self_completed).is_(False))
    )
    assert talks.one() == 1


async def test_declined_after_answering_raises_nothing_and_keeps_their_answers(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    await answer(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=9))
    recorded = await record(db, cast, day3, settings, clock, outcome="declined", answers={})
    assert recorded.flags == []
    checkin = (await checkins_of(session, cast.responder))[0]
    assert checkin.outcome == "declined" and not checkin.self_completed


async def test_preferred_not_to_talk_needs_their_answers(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    with pytest.raises(InvalidInput, match="have not answered the questions themselves"):
        await record(db, cast, day3, settings, clock, answers={}, self_only=True)
    await db.rollback()
    day3 = (await checkins_of(db, cast.responder))[0]
    await answer(db, cast, day3, settings, clock)
    with pytest.raises(InvalidInput, match="send no answers"):
        await record(db, cast, day3, settings, clock, self_only=True)
    await db.rollback()
    assert (await checkins_of(session, cast.responder))[0].outcome is None


async def test_a_conversation_after_own_answers_is_the_record_and_keeps_them_apart(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    await answer(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=4))
    await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=1))
    view = await service.record_view(
        db, actor=peer_actor(cast, day3), checkin_id=day3.id, now=clock(), settings=settings
    )
    assert view is not None and view.assessment.score == 1 and not view.assessment.answered_by_person
    assert [h.version for h in view.history] == [1]  # their own answers are not an "earlier version"
    results = await session.exec(select(func.count()).select_from(AssessmentResult))
    assert results.one() == 2


async def test_a_periodic_checkin_answered_themselves_then_completed_without_a_talk(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    """A control-room dispatcher's periodic check-in (no incident): answered on their own
    phone with a safety "yes", then completed by their peer from those answers."""
    from trim.followups import periodic
    from trim.groups import service as groups

    lead = cast.actor("lead")
    group = await groups.define_group(db, actor=lead, name="Control room", cadence_days=180, now=clock())
    await groups.set_members(db, actor=lead, group_id=group.id, person_ids=[cast.responder.id], now=clock())
    await periodic.sweep_periodic(db, now=clock(), settings=settings)
    await db.commit()
    checkin = (await session.exec(select(CheckIn).where(CheckIn.kind == "periodic"))).one()
    answered = await answer(
        db, cast, checkin, settings, clock, answers=answers_for("periodic", risk_yes=2, tsq_yes=6), safety_concern=True
    )
    assert [(f.cause, f.urgent, f.exposure_id) for f in answered.flags] == [("safety_concern", True, None)]
    assert {r.instrument: r.band for r in answered.results} == {"trim_risk": "low", "tsq": "positive"}
    recorded = await record(db, cast, checkin, settings, clock, answers={}, self_only=True)
    assert [f.cause for f in recorded.flags] == ["tsq_positive"]  # the urgent one is not raised twice
    stored = (
        await session.exec(select(CheckIn).where(CheckIn.id == checkin.id).execution_options(populate_existing=True))
    ).one()
    assert (stored.outcome, stored.self_completed, stored.incident_id) == ("completed", True, None)
