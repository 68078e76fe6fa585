"""Two people acting on one flag at the same moment, on PostgreSQL: a peer offering a
referral while another offers one too, or while the lead closes the flag. The flag is
resolved once, holds at most one referral, and the other is told it was resolved."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlmodel import func, select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident
from trim.accounts.actor import Actor
from trim.assessments import service as assessments
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import Conflict
from trim.flags import service as flags
from trim.flags.models import Flag
from trim.referrals import service as referrals
from trim.referrals.models import Referral


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # row locks and real concurrency: PostgreSQL only


async def _flagged(db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock) -> tuple[Flag, Actor]:
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
    peer = cast.actor("peer") if day3.peer_id == cast.peer.id else cast.actor("other_peer")
    await assessments.record_checkin(
        db,
        actor=peer,
        checkin_id=day3.id,
        now=clock(),
        settings=settings,
        submission=assessments.Submission("completed", answers=answers_for("day3"), safety_concern=True),
    )
    await db.commit()
    (flag,) = list(await db.exec(select(Flag)))
    return flag, peer


async def _race(settings: Settings, *acts: Callable[[AsyncSession], Awaitable[object]]) -> list[str]:
    engine = create_engine(settings.database_url, pool_size=len(acts))
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def run(act: Callable[[AsyncSession], Awaitable[object]]) -> str:
        async with maker() as tx:
            await start.wait()
            try:
                await act(tx)
                await asyncio.sleep(0.05)  # hold the transaction open: the other must wait, not slip past
                await tx.commit()
                return "done"
            except Conflict:
                await tx.rollback()
                return "conflict"

    tasks = [asyncio.create_task(run(act)) for act in acts]
    await asyncio.sleep(0.05)
    start.set()
    results = await asyncio.gather(*tasks)
    await engine.dispose()
    return sorted(results)


async def test_two_simultaneous_referral_offers_make_one_referral(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag, peer = await _flagged(db, cast, settings, clock)

    def offer(tx: AsyncSession) -> Awaitable[object]:
        return referrals.offer_referral(
            tx,
            actor=peer,
            flag_id=flag.id,
            consent=True,
            share_assessment=False,
            clinician_id=cast.clinician.id,
            now=clock(),
        )

    assert await _race(settings, offer, offer, offer) == ["conflict", "conflict", "done"]
    assert (await session.exec(select(func.count()).select_from(Referral))).one() == 1
    (stored,) = list(await session.exec(select(Flag)))
    assert stored.status == "referred"


async def test_a_referral_offered_while_the_lead_closes_the_flag_is_one_or_the_other(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    flag, peer = await _flagged(db, cast, settings, clock)

    def offer(tx: AsyncSession) -> Awaitable[object]:
        return referrals.offer_referral(
            tx, actor=peer, flag_id=flag.id, consent=False, share_assessment=False, now=clock()
        )

    def close(tx: AsyncSession) -> Awaitable[object]:
        return flags.close_flag(tx, actor=cast.actor("lead"), flag_id=flag.id, reason="Seeing their GP.", now=clock())

    assert await _race(settings, offer, close) == ["conflict", "done"]
    (stored,) = list(await session.exec(select(Flag)))
    referral_count = (await session.exec(select(func.count()).select_from(Referral))).one()
    # Whichever came first stands alone: declined with its referral row, or closed without one.
    assert (stored.status, referral_count) in {("declined", 1), ("closed", 0)}
