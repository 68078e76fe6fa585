"""Watching a process's database pool: connections in use, the pool's ceiling, and every
time a request had to wait for a connection because all of them were out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

from trim.metrics.registry import POOL_CAPACITY, POOL_IN_USE, POOL_WAIT_SECONDS, POOL_WAITS

_WATCHED = "_trim_metrics_watched"


def capacity(pool: Pool) -> int | None:
    """Connections the pool may hand out at once; None when it has no ceiling (SQLite's)."""
    if not isinstance(pool, QueuePool):
        return None
    overflow = int(getattr(pool, "_max_overflow", 0))
    return None if overflow < 0 else pool.size() + overflow


def watch_pool(engine: AsyncEngine) -> Pool:
    """Count this engine's checkouts and waits into the process's metrics (once per pool);
    returns the pool watched (disposing the engine replaces it)."""
    pool = engine.sync_engine.pool
    if getattr(pool, _WATCHED, False):
        return pool
    setattr(pool, _WATCHED, True)
    ceiling = capacity(pool)
    if ceiling is not None:
        POOL_CAPACITY.inc(ceiling)
    queue = pool if isinstance(pool, QueuePool) else None

    @event.listens_for(pool, "checkout")
    def _out(*_args: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def _back(*_args: Any) -> None:
        POOL_IN_USE.dec()

    # SQLAlchemy has no event before a checkout, so the pool's own "get" is timed: the one
    # place a request blocks when every connection is out.
    get: Callable[[], Any] = pool._do_get

    def timed_get() -> Any:
        full = queue is not None and ceiling is not None and queue.checkedout() >= ceiling
        started = time.perf_counter()
        try:
            return get()
        finally:
            POOL_WAIT_SECONDS.observe(time.perf_counter() - started)
            if full:
                POOL_WAITS.inc()

    pool._do_get = timed_get  # type: ignore[method-assign]
    return pool


def release_pool(pool: Pool) -> None:
    """Take a watched pool's ceiling out of the process's sum (the engine is going away)."""
    ceiling = capacity(pool)
    if getattr(pool, _WATCHED, False) and ceiling is not None:
        POOL_CAPACITY.dec(ceiling)
        setattr(pool, _WATCHED, False)
