"""Periodic work for requests: escalate the ones nobody took in time; when a named
peer's window ends, offer the request to everyone who matches."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.notifications import service as notifications
from trim.notifications import sweeps
from trim.privacy import audit
from trim.requests import service
from trim.requests.models import URGENCY_LABELS, PeerRequest, RequestStatus, Urgency


async def escalate_unanswered(session: AsyncSession, *, now: datetime, settings: Settings) -> list[uuid.UUID]:
    """Mark open requests past their urgency's limit as escalated and tell the lead, once
    each (a conditional update claims each row, so two workers never escalate one twice).
    Returns the ids this call escalated."""
    escalated: list[uuid.UUID] = []
    for urgency in URGENCY_LABELS:
        cutoff = now - settings.request_escalate_after(urgency)
        candidates = list(
            await session.exec(
                select(PeerRequest.id).where(
                    PeerRequest.status == RequestStatus.open,
                    PeerRequest.urgency == urgency,
                    col(PeerRequest.escalated_at).is_(None),
                    col(PeerRequest.created_at) <= cutoff,
                )
            )
        )
        for request_id in candidates:
            claimed = await session.exec(
                update(PeerRequest)
                .where(
                    col(PeerRequest.id) == request_id,
                    col(PeerRequest.escalated_at).is_(None),
                    col(PeerRequest.status) == RequestStatus.open,
                )
                .values(escalated_at=now)
                .execution_options(synchronize_session=False)
            )
            if (claimed.rowcount or 0) == 1:
                escalated.append(request_id)
                audit.record(
                    session,
                    actor="system",
                    action="request.escalated",
                    target_type="request",
                    target_id=request_id,
                    at=now,
                )
                await notifications.notify_role(
                    session,
                    role="lead",
                    kind="escalation",
                    urgent=urgency == Urgency.today,
                    subject="A request for a peer is still waiting",
                    body="Nobody has taken a request for a peer in the time its urgency allows. Please arrange "
                    "someone.",
                    link="/requests",
                    dedupe_key=f"request-escalated:{request_id}",
                    now=now,
                )
    return escalated


async def sweep_escalations(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    return len(await escalate_unanswered(session, now=now, settings=settings))


async def sweep_named_windows(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """A named peer's time alone with a request has passed: offer it to everyone who
    matches (each told once, by the outbox's dedupe key). Reads only the requests whose
    window ended since the last run."""
    since = await sweeps.read_mark(session, "requests.named_windows")
    stmt = select(PeerRequest).where(
        PeerRequest.status == RequestStatus.open,
        col(PeerRequest.named_peer_until).is_not(None),
        col(PeerRequest.named_peer_until) <= now,
    )
    if since is not None:
        stmt = stmt.where(col(PeerRequest.named_peer_until) > since)
    told = 0
    for request in await session.exec(stmt):
        told += await service.notify_matching_peers(session, request=request, now=now, settings=settings)
    await sweeps.advance_mark(session, "requests.named_windows", now, now=now)
    return told


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (
    sweeps.RegisteredSweep("requests.escalate", sweep_escalations),
    sweeps.RegisteredSweep("requests.named_windows", sweep_named_windows),
)
