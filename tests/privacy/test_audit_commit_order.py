"""Commit order under real concurrency (PostgreSQL: SQLite has one writer, so there
insertion order is commit order by construction)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from tests.conftest import FakeClock
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.privacy import audit, sealing
from trim.privacy.models import AuditEvent


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # transactions open side by side: PostgreSQL only


async def test_an_event_is_never_sealed_behind_one_whose_transaction_is_still_open(
    settings: Settings, clock: FakeClock, session: AsyncSession
) -> None:
    engine = create_engine(settings.database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    try:
        async with maker() as early, maker() as late:
            audit.record(early, actor="system", action="checkin.viewed", target_type="checkin", target_id="early")
            await early.flush()  # its transaction now has an id, and an event not yet committed
            audit.record(late, actor="system", action="checkin.viewed", target_type="checkin", target_id="late")
            await late.commit()  # began later, committed first
            # While the earlier transaction is open nothing after its horizon is sealed, so
            # "late" cannot take a place that "early" would then have to come before.
            assert await sealing.seal_all(maker, settings=settings, now=clock()) == 0
            await early.commit()
        assert await sealing.seal_all(maker, settings=settings, now=clock()) == 2
        # A transaction that commits after the head was sealed goes after it.
        async with maker() as slow:
            audit.record(slow, actor="system", action="checkin.viewed", target_type="checkin", target_id="slow")
            await slow.flush()
            async with maker() as quick:
                audit.record(quick, actor="system", action="checkin.viewed", target_type="checkin", target_id="quick")
                await quick.commit()
            await slow.commit()
        assert await sealing.seal_all(maker, settings=settings, now=clock()) == 2
    finally:
        await engine.dispose()
    order = list(await session.exec(select(AuditEvent.target_id).order_by(col(AuditEvent.seq))))
    assert order == ["early", "late", "slow", "quick"]
    assert (await audit.verify_chain(session, keys=audit.keyring(settings))).ok
