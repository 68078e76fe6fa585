"""Periodic work for requests: escalate the ones nobody has taken in time."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.privacy import audit
from trim.requests.models import URGENCY_LABELS, PeerRequest


async def escalate_unanswered(session: AsyncSession, *, now: datetime, settings: Settings) -> list[uuid.UUID]:
    """Mark open requests past their urgency's limit as escalated, once each (a
    conditional update claims each row, so two workers never escalate one twice).
    Returns the ids this call escalated."""
    escalated: list[uuid.UUID] = []
    for urgency in URGENCY_LABELS:
        cutoff = now - settings.request_escalate_after(urgency)
        candidates = list(
            await session.exec(
                select(PeerRequest.id).where(
                    PeerRequest.status == "open",
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
                    col(PeerRequest.status) == "open",
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
    return escalated
