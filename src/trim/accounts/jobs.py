"""Periodic work of getting in: send the links people asked for on "Forgotten your
password?", and forget sign-in counters whose window has passed.

A queued request is claimed by deleting it (on PostgreSQL its rows are locked first,
skipping those another worker holds), so two workers never send the same link; if
sending fails the sweep's transaction rolls back and the request is there again for the
next round. A request older than a reset link would last is dropped unsent: the person
has asked again or gone. Both sweeps read an index on their time column, so their cost
follows what is waiting, not the size of anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import links, signin
from trim.accounts.models import LinkRequest
from trim.config import Settings
from trim.notifications.sweeps import RegisteredSweep


async def sweep_link_requests(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Make the link and the email for each queued "forgotten password" request (up to a
    batch); returns how many requests were handled, sent or not."""
    stale = now - settings.password_reset_valid
    await session.exec(delete(LinkRequest).where(col(LinkRequest.requested_at) < stale))
    waiting = (
        select(LinkRequest.id)
        .where(col(LinkRequest.requested_at) <= now)
        .order_by(col(LinkRequest.requested_at))
        .limit(settings.sweep_batch_size)
    )
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        ids = list(await session.exec(waiting.with_for_update(skip_locked=True)))
        if not ids:
            return 0
        chosen = col(LinkRequest.id).in_(ids)
    else:
        chosen = col(LinkRequest.id).in_(waiting)  # SQLite: one writer; the DELETE is the claim
    claimed = (
        await session.exec(
            delete(LinkRequest)
            .where(chosen)
            .returning(col(LinkRequest.email), col(LinkRequest.requested_at), col(LinkRequest.asked_by))
            .execution_options(synchronize_session=False)
        )
    ).all()
    for email, requested_at, asked_by in sorted(claimed, key=lambda row: row[1]):
        await links.send_requested_link(
            session, email=email, requested_at=requested_at, now=now, settings=settings, asked_by=asked_by
        )
    return len(claimed)


async def sweep_signin_counters(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Forget sign-in and link-request counters whose window has passed."""
    return await signin.prune_counters(session, now=now, settings=settings)


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (
    RegisteredSweep("accounts.link_requests", sweep_link_requests),
    RegisteredSweep("accounts.signin_counters", sweep_signin_counters),
)
