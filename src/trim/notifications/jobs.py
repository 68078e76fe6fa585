"""Periodic work of notifications: forget sent emails after the retention period (the
outbox holds addresses, which are personal data)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.notifications.models import OutboxMessage
from trim.notifications.sweeps import RegisteredSweep


async def sweep_sent(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Delete emails sent (or given up) longer ago than outbox_retention_days."""
    cutoff = now - timedelta(days=settings.outbox_retention_days)
    deleted = 0
    for column in (col(OutboxMessage.sent_at), col(OutboxMessage.failed_at)):  # each indexed
        result = await session.exec(delete(OutboxMessage).where(column < cutoff))
        deleted += int(result.rowcount or 0)
    return deleted


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (RegisteredSweep("outbox.sent", sweep_sent),)
