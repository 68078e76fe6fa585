"""Recording check-ins: scores, flags, encryption, corrections, bad input (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from tests.cast import Cast, actor_for, make_person
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident, phase_answers
from trim.assessments import service
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.db import AsyncSession
from trim.errors import Conflict, InvalidInput, NotFound, NotYet
from trim.flags.models import Flag
from trim.followups.models import CheckIn


async def setup(
    session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, days_ago: int = 30
) -> list[CheckIn]:
    """The responder exposed `days_ago` days back; returns their check-ins (day3, day28)."""
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=days_ago),
        now=clock(),
        settings=settings,
    )
    return await checkins_of(session, cast.responder)


def peer_actor(cast: Cast, checkin: CheckIn):  # type: ignore[no-untyped-def]
    return cast.actor("peer") if checkin.peer_id == cast.peer.id else cast.actor("other_peer")


async def record(
    session: AsyncSession, cast: Cast, checkin: CheckIn, settings: Settings, clock: FakeClock, **kwargs: object
) -> service.Recorded:
    sub = service.Submission(**{"outcome": "completed", "answers": answers_for(checkin.kind), **kwargs})  # type: ignore[arg-type]
    recorded = await service.record_checkin(
        session, actor=peer_actor(cast, checkin), checkin_id=checkin.id, submission=sub, now=clock(), settings=settings
    )
    await session.commit()
    return recorded


async def test_completed_checkin_is_scored(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    recorded = await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=3))
    assert (recorded.risk.score, recorded.risk.band) == (3, "elevated")  # type: ignore[union-attr]
    assert recorded.flags == []  # one elevated check-in is not yet "repeated"
    stored = (await checkins_of(session, cast.responder))[0]
    assert stored.outcome == "completed"


async def test_two_elevated_in_a_row_raise_one_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=4))
    recorded = await record(db, cast, day28, settings, clock, answers=answers_for("day28", risk_yes=3))
    assert sorted(f.cause for f in recorded.flags) == ["consecutive_elevated", "elevated_last"]
    assert all(not f.urgent for f in recorded.flags)
    assert all(f.exposure_id == day3.exposure_id for f in recorded.flags)


async def test_tsq_positive_raises_a_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    _, day28 = await setup(db, cast, settings, clock)
    recorded = await record(db, cast, day28, settings, clock, answers=answers_for("day28", tsq_yes=6))
    assert [f.cause for f in recorded.flags] == ["tsq_positive"]


async def test_safety_concern_raises_an_urgent_flag_even_when_declined(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    recorded = await record(db, cast, day3, settings, clock, outcome="declined", answers={}, safety_concern=True)
    assert [(f.cause, f.urgent) for f in recorded.flags] == [("safety_concern", True)]


async def test_declining_and_opting_out_never_raise_a_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    first = await record(db, cast, day3, settings, clock, outcome="declined", answers={})
    second = await record(db, cast, day28, settings, clock, outcome="declined", answers={}, opt_out=True)
    assert first.flags == second.flags == []
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 0


async def test_opting_out_cancels_the_rest(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, opt_out=True)
    assert [c.outcome for c in await checkins_of(session, cast.responder)] == ["completed", "cancelled"]


async def test_notes_are_encrypted_at_rest_and_readable_by_the_author(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    secret = "Talked about the child on the stairs; sleeping badly."
    await record(db, cast, day3, settings, clock, notes=secret)
    raw = (await session.exec(text("SELECT notes_encrypted FROM assessments"))).one()[0]  # type: ignore[call-overload]
    assert raw and "stairs" not in raw and raw.startswith("gAAAA")
    view = await service.record_view(
        db, actor=peer_actor(cast, day3), checkin_id=day3.id, now=clock(), settings=settings
    )
    assert view is not None and view.notes == secret
    lead_view = await service.record_view(
        db, actor=cast.actor("lead"), checkin_id=day3.id, now=clock(), settings=settings
    )
    assert lead_view is not None and lead_view.notes is None and not lead_view.content_visible
    assert all(r.answers == {} for r in lead_view.results)
    assert lead_view.assessment.band == "low"  # the band, and no more


async def test_bad_submissions_change_nothing(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    full = answers_for("day3")
    missing = {"trim_risk": dict(list(full["trim_risk"].items())[1:])}
    cases = [
        (service.Submission("completed", answers=missing), "answers.trim_risk.prior_trauma"),
        (
            service.Submission("completed", answers={"trim_risk": {**full["trim_risk"], "made_up": True}}),
            "answers.trim_risk.made_up",
        ),
        (service.Submission("completed", answers={**full, "tsq": answers_for("day28")["tsq"]}), "answers.tsq"),
        (service.Submission("completed", answers={**full, "phq9": {}}), "answers.phq9"),
        (service.Submission("unreachable"), "reason"),
        (service.Submission("declined", answers=full), "answers"),
        (service.Submission("maybe"), "outcome"),
    ]
    for submission, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await service.record_checkin(
                db,
                actor=peer_actor(cast, day3),
                checkin_id=day3.id,
                submission=submission,
                now=clock(),
                settings=settings,
            )
        assert field in caught.value.field_messages(), (field, caught.value.errors)
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0
    assert [c.outcome for c in await checkins_of(session, cast.responder)] == [None, None]


async def test_only_the_assigned_peer_records_and_only_once(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, _ = await setup(db, cast, settings, clock)
    other = cast.actor("other_peer") if day3.peer_id == cast.peer.id else cast.actor("peer")
    sub = service.Submission("completed", answers=answers_for("day3"))
    for actor in (other, cast.actor("lead"), cast.actor("supervisor"), cast.actor("responder")):
        with pytest.raises(NotFound):
            await service.record_checkin(
                db, actor=actor, checkin_id=day3.id, submission=sub, now=clock(), settings=settings
            )
    await record(db, cast, day3, settings, clock)
    with pytest.raises(Conflict, match="already been recorded"):
        await service.record_checkin(
            db, actor=peer_actor(cast, day3), checkin_id=day3.id, submission=sub, now=clock(), settings=settings
        )


async def test_a_correction_is_a_new_version_and_the_old_is_kept(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=1))
    await record(db, cast, day28, settings, clock, answers=answers_for("day28", risk_yes=3))
    corrected = await service.correct_checkin(
        db,
        actor=peer_actor(cast, day3),
        checkin_id=day3.id,
        submission=service.Submission("completed", answers=answers_for("day3", risk_yes=5)),
        correction_reason="Ticked the wrong boxes on the phone",
        now=clock(),
        settings=settings,
    )
    await db.commit()
    assert corrected.assessment.version == 2
    versions = list(
        await session.exec(
            select(Assessment.version, Assessment.is_current, Assessment.score)
            .where(Assessment.checkin_id == day3.id)
            .order_by(Assessment.version)
        )
    )
    assert [tuple(v) for v in versions] == [(1, False, 1), (2, True, 5)]
    # Now day3 and day28 are both elevated: the consecutive flag follows.
    assert "consecutive_elevated" in [f.cause for f in corrected.flags]
    with pytest.raises(InvalidInput, match="Say what is being corrected"):
        await service.correct_checkin(
            db,
            actor=peer_actor(cast, day3),
            checkin_id=day3.id,
            submission=service.Submission("completed", answers=answers_for("day3")),
            correction_reason=" ",
            now=clock(),
            settings=settings,
        )


async def test_three_incidents_in_ninety_days_offer_a_check_in_once(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    for days_ago in (80, 40, 1, 0):
        await make_incident(
            db,
            actor=cast.actor("lead"),
            station=cast.station_a,
            people=[cast.responder],
            occurred_at=clock() - timedelta(days=days_ago),
            now=clock(),
            settings=settings,
        )
    flags = list(await session.exec(select(Flag).where(Flag.person_id == cast.responder.id)))
    assert [(f.cause, f.urgent, f.exposure_id) for f in flags] == [("cumulative_exposure", False, None)]


async def test_person_trend_shows_only_what_the_actor_may_see(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=answers_for("day3", risk_yes=2))
    await record(db, cast, day28, settings, clock, answers=answers_for("day28", risk_yes=4, tsq_yes=2))
    trend = await service.person_trend(db, actor=peer_actor(cast, day3), person_id=cast.responder.id, now=clock())
    assert [(p.kind, p.score, p.tsq_score) for p in trend] == [("day3", 2, None), ("day28", 4, 2)]
    own = await service.person_trend(db, actor=cast.actor("responder"), person_id=cast.responder.id, now=clock())
    assert len(own) == 2
    for who in ("lead", "supervisor", "clinician"):
        assert await service.person_trend(db, actor=cast.actor(who), person_id=cast.responder.id, now=clock()) == []
    await db.commit()
    newcomer = await make_person(session, roles=["responder", "peer"])
    assert (
        await service.person_trend(
            db, actor=actor_for(newcomer, ["responder", "peer"]), person_id=cast.responder.id, now=clock()
        )
        == []
    )


async def test_a_day3_record_an_hour_after_the_incident_is_refused_and_stores_nothing(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
    )
    day3, day28 = await checkins_of(session, cast.responder)
    for checkin in (day3, day28):
        with pytest.raises(NotYet) as refused:
            await record(db, cast, checkin, settings, clock, answers=answers_for(checkin.kind, tsq_yes=10))
        await db.rollback()
        assert refused.value.detail.startswith("Not yet: this check-in is due on ")
        assert refused.value.extra["due_at"] == checkin.due_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 0
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 0
    assert all(c.outcome is None for c in await checkins_of(session, cast.responder))


async def test_a_checkin_opens_the_early_window_before_it_is_due(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=3) + timedelta(hours=settings.early_record_hours),
        now=clock(),
        settings=settings,
    )
    day3, _ = await checkins_of(session, cast.responder)
    recorded = await record(db, cast, day3, settings, clock)
    assert recorded.assessment.outcome == "completed"


async def test_unchangeable_history_alone_never_makes_a_persistent_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    history = phase_answers("day3", yes_phases=("before", "during"))
    first = await record(db, cast, day3, settings, clock, answers=history)
    assert first.risk is not None and first.risk.band == "elevated"  # the band shown still counts them
    second = await record(
        db, cast, day28, settings, clock, answers=phase_answers("day28", yes_phases=("before", "during"))
    )
    assert first.flags == second.flags == []
    assert (await session.exec(select(func.count()).select_from(Flag))).one() == 0


async def test_two_after_items_at_both_checkins_raise_a_persistence_flag(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=phase_answers("day3", after_yes=2))
    second = await record(db, cast, day28, settings, clock, answers=phase_answers("day28", after_yes=2))
    assert "consecutive_elevated" in {f.cause for f in second.flags}
    consecutive = (await session.exec(select(Flag).where(Flag.cause == "consecutive_elevated"))).all()
    assert len(consecutive) == 1


async def test_one_after_item_is_below_the_persistence_score(
    session: AsyncSession, db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, day28 = await setup(db, cast, settings, clock)
    await record(db, cast, day3, settings, clock, answers=phase_answers("day3", yes_phases=("before",), after_yes=1))
    second = await record(db, cast, day28, settings, clock, answers=phase_answers("day28", after_yes=1))
    assert second.flags == []
