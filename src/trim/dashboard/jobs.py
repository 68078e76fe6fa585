"""Periodic work of the dashboard: bring the check-in rollups up to date.

Each run reads only the incidents marked since the last (a trigger marks an incident in
the transaction of any change that moves its figures) and rebuilds those from their
check-ins, then their days and months: its cost follows the changes, not the tables.
Rebuilding is idempotent; the state row is locked for the run (SKIP LOCKED), so a
second worker at the same moment does nothing, and a mark made during the run is left
for the next. Run every worker tick, so the figures are at most a tick behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.dashboard import rollups
from trim.notifications.sweeps import RegisteredSweep


async def sweep_rollups(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    return await rollups.refresh(session, now=now, settings=settings)


SWEEPS = (RegisteredSweep("dashboard.rollups", sweep_rollups),)
