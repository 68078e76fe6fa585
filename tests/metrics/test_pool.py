"""The pool figures when the pool runs dry: a request that finds every connection out is
counted as a wait, and connections in use go up and back down."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from sqlalchemy import text

from trim.db import create_engine
from trim.metrics.pool import release_pool, watch_pool


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_a_full_pool_counts_a_wait_and_connections_in_use(pg_only_url: str) -> None:
    engine = create_engine(pg_only_url, pool_size=1)  # one connection and one overflow: two at most
    ceiling = sample("trim_db_pool_connections_max")
    pool = watch_pool(engine)
    waits, in_use = sample("trim_db_pool_waits_total"), sample("trim_db_pool_connections_in_use")
    try:
        assert sample("trim_db_pool_connections_max") == ceiling + 2
        first, second = await engine.connect(), await engine.connect()
        assert sample("trim_db_pool_connections_in_use") == in_use + 2
        assert sample("trim_db_pool_waits_total") == waits  # there was room both times

        async def third() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        waiting = asyncio.create_task(third())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it is waiting for a connection
        await first.close()
        await asyncio.wait_for(waiting, timeout=10)
        await second.close()
        assert sample("trim_db_pool_waits_total") == waits + 1
        assert sample("trim_db_pool_connections_in_use") == in_use
        assert sample("trim_db_pool_wait_seconds_count") > 0
    finally:
        release_pool(pool)
        await engine.dispose()
    assert sample("trim_db_pool_connections_max") == ceiling
