"""Periodic work of notifications: forget sent emails after the retention period (the
outbox holds addresses, which are personal data), and tell the programme lead once a
day when addresses refused our email outright.

The refusal note reads only messages given up since the last note (failed_at is
indexed): cheap at any size. It is idempotent: one note per lead per local day by its
dedupe key, and the mark only moves forward, so two workers at once send one note."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.notifications import service as notifications
from trim.notifications.models import OutboxMessage
from trim.notifications.sweeps import RegisteredSweep, advance_mark, read_mark

REFUSALS_MARK = "outbox.refusals"


async def sweep_sent(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Delete emails sent (or given up) longer ago than outbox_retention_days."""
    cutoff = now - timedelta(days=settings.outbox_retention_days)
    deleted = 0
    for column in (col(OutboxMessage.sent_at), col(OutboxMessage.failed_at)):  # each indexed
        result = await session.exec(delete(OutboxMessage).where(column < cutoff))
        deleted += int(result.rowcount or 0)
    return deleted


async def sweep_refusals(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Once a day, when email was given up since the last note (the server refused the
    address), email each lead how many addresses; the settings page says which. No
    subjects or bodies, no addresses in the email."""
    today = now.astimezone(settings.zone).date()
    last = await read_mark(session, REFUSALS_MARK)
    if last is not None and last.astimezone(settings.zone).date() == today:
        return 0
    since = last or now - timedelta(days=1)
    refused = await session.exec(
        select(func.count(func.distinct(OutboxMessage.to_address))).where(
            col(OutboxMessage.failed_at) > since, col(OutboxMessage.failed_at) <= now
        )
    )
    addresses = int(refused.one() or 0)
    if not addresses:
        return 0
    await advance_mark(session, REFUSALS_MARK, now, now=now)
    noun = "address" if addresses == 1 else "addresses"
    return await notifications.notify_role(
        session,
        role="lead",
        kind="delivery",
        subject="Some email addresses refuse our messages",
        body=(
            f"{addresses} email {noun} refused our messages since the last summary, so they"
            " will not be tried again. The settings page lists which, so they can be corrected."
        ),
        link="/admin/settings#refused-addresses",
        dedupe_key=f"delivery:{today.isoformat()}",
        now=now,
    )


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (RegisteredSweep("outbox.sent", sweep_sent), RegisteredSweep("outbox.refusals", sweep_refusals))
