"""Periodic work of the dashboard: bring the check-in rollups up to date.

Each run reads only the incidents marked since the last (a trigger marks an incident in
the transaction of any change that moves its figures) and rebuilds those from their
check-ins, then their days and months: its cost follows the changes, not the tables.
Rebuilding is idempotent; the state row is locked for the run (SKIP LOCKED), so a
second worker at the same moment does nothing, and a mark made during the run is left
for the next. On PostgreSQL the marks are moved into claims and committed before the
rebuild starts (rollups._take_marks), so a recording that marks an incident being rebuilt
waits for that short move, never for the rebuild. Run at most every TRIM_DASHBOARD_REFRESH_SECONDS (default 30): under a
stream of recordings the marks coalesce, so each incident, day and month touched is rebuilt
once a round instead of once a tick, and the figures stay well within a minute behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.dashboard import rollups
from trim.notifications.sweeps import RegisteredSweep


async def sweep_rollups(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    if await rollups.refreshed_lately(session, now=now, settings=settings):
        return 0
    return await rollups.refresh(session, now=now, settings=settings)


SWEEPS = (RegisteredSweep("dashboard.rollups", sweep_rollups),)
