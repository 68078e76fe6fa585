"""Periodic work for flags: an urgent flag nobody has picked up goes to the on-call contacts.

The set read is the handful of open urgent flags past the cut-off, never the whole table;
each email carries a dedupe key per flag and address, so a second run (or a second
worker) sends nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.flags.models import Flag, FlagStatus
from trim.notifications import service as notifications
from trim.notifications.sweeps import RegisteredSweep
from trim.privacy import audit


async def sweep_unacknowledged_urgent(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Urgent flags still open and not acknowledged after TRIM_URGENT_ACK_MINUTES: email the
    on-call contacts named in settings, and the lead again, once per flag (dedupe keys)."""
    cutoff = now - timedelta(minutes=settings.urgent_ack_minutes)
    flags = list(
        await session.exec(
            select(Flag).where(
                col(Flag.urgent).is_(True),
                Flag.status == FlagStatus.open,
                col(Flag.acknowledged_at).is_(None),
                col(Flag.raised_at) <= cutoff,
            )
        )
    )
    sent = 0
    for flag in flags:
        subject = "Urgent: a safety concern has not been picked up"
        body = (
            f"An urgent flag raised {settings.urgent_ack_minutes} minutes ago has not been acknowledged. "
            "Please act on it now."
        )
        messages = [
            notifications.Message(
                "urgent_flag",
                subject,
                body,
                email=address,
                link=f"/flags/{flag.id}",
                urgent=True,
                dedupe_key=f"oncall:{flag.id}:{address}",
            )
            for address in settings.oncall_emails
        ]
        written = await notifications.enqueue_many(session, messages, now=now)
        written += await notifications.notify_role(
            session,
            role="lead",
            kind="urgent_flag",
            subject=subject,
            body=body,
            link=f"/flags/{flag.id}",
            urgent=True,
            dedupe_key=f"oncall-lead:{flag.id}",
            now=now,
        )
        if written:
            audit.record(
                session, actor="system", action="flag.escalated", target_type="flag", target_id=flag.id, at=now
            )
        sent += written
    return sent


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (RegisteredSweep("flags.urgent_unacknowledged", sweep_unacknowledged_urgent),)
