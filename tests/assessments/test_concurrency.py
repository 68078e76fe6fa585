"""Twenty peers' phones submitting the same check-in at the same moment, on PostgreSQL:
one assessment, one flag, and every other submission told plainly."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import func, select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident
from trim.assessments import service
from trim.assessments.models import Assessment
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import Conflict
from trim.flags.models import Flag
from trim.idempotency import Replay, claim, complete, request_hash


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # row locks and real concurrency: PostgreSQL only


async def _arrange(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock):  # type: ignore[no-untyped-def]
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
    )
    day3 = (await checkins_of(db, cast.responder))[0]
    actor = cast.actor("peer") if day3.peer_id == cast.peer.id else cast.actor("other_peer")
    return day3, actor


async def test_twenty_simultaneous_submissions_give_one_assessment_and_one_flag(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, actor = await _arrange(db, cast, settings, clock)
    engine = create_engine(settings.database_url, pool_size=20)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def submit() -> str:
        async with maker() as tx:
            await start.wait()
            try:
                await service.record_checkin(
                    tx,
                    actor=actor,
                    checkin_id=day3.id,
                    now=clock(),
                    settings=settings,
                    submission=service.Submission("completed", answers=answers_for("day3"), safety_concern=True),
                )
                await tx.commit()
                return "recorded"
            except Conflict:
                await tx.rollback()
                return "conflict"

    tasks = [asyncio.create_task(submit()) for _ in range(20)]
    await asyncio.sleep(0.05)
    start.set()
    results = await asyncio.gather(*tasks)
    await engine.dispose()
    assert sorted(results) == ["conflict"] * 19 + ["recorded"]
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1
    flags = list(await session.exec(select(Flag)))
    assert [(f.cause, f.urgent) for f in flags] == [("safety_concern", True)]


async def test_twenty_retries_with_one_key_replay_one_answer(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    day3, actor = await _arrange(db, cast, settings, clock)
    engine = create_engine(settings.database_url, pool_size=20)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()
    body = {"outcome": "completed", "answers": answers_for("day3", risk_yes=4), "safety_concern": False}

    async def submit() -> str:
        async with maker() as tx:
            await start.wait()
            outcome = await claim(
                tx,
                scope=f"{actor.audit_id}:checkin.record:{day3.id}",
                key="phone-retry-1",
                body_hash=request_hash(body),
                now=clock(),
                settings=settings,
                safe_to_forget=True,
            )
            if isinstance(outcome, Replay):
                await tx.rollback()
                return str(outcome.body["assessment_id"])
            recorded = await service.record_checkin(
                tx,
                actor=actor,
                checkin_id=day3.id,
                now=clock(),
                settings=settings,
                submission=service.Submission("completed", answers=body["answers"]),
            )  # type: ignore[arg-type]
            complete(tx, outcome, status_code=201, body={"assessment_id": str(recorded.assessment.id)})
            await tx.commit()
            return str(recorded.assessment.id)

    tasks = [asyncio.create_task(submit()) for _ in range(20)]
    await asyncio.sleep(0.05)
    start.set()
    answers = await asyncio.gather(*tasks)
    await engine.dispose()
    assert len(set(answers)) == 1
    assert (await session.exec(select(func.count()).select_from(Assessment))).one() == 1
