"""The admin's view of the audit log: metadata only, and never what a person did about
themselves (policy.admin_audit_scope). Times to the minute and no sequence numbers, so a
listed event cannot be lined up with one that is not listed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.privacy import audit, policy
from trim.privacy.models import AuditEvent


@dataclass(frozen=True)
class AdminAuditLine:
    at: datetime  # to the minute
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None


@dataclass(frozen=True)
class AdminAuditPage:
    lines: list[AdminAuditLine]
    total: int  # events listed under this filter
    actions: list[str]  # the actions one can filter by


def to_the_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


async def admin_audit_page(session: AsyncSession, *, action: str | None, limit: int, offset: int) -> AdminAuditPage:
    """One page of the events the admin may list, newest first, with how many there are."""
    scope = policy.admin_audit_scope()
    where = [scope] if not action else [scope, col(AuditEvent.action) == action]
    rows = await session.exec(
        select(AuditEvent).where(*where).order_by(*audit.NEWEST_FIRST).limit(limit).offset(offset)
    )
    lines = [
        AdminAuditLine(
            at=to_the_minute(e.at),
            actor_id=e.actor_id,
            action=e.action,
            target_type=e.target_type,
            target_id=e.target_id,
        )
        for e in rows
    ]
    total = int((await session.exec(select(func.count()).select_from(AuditEvent).where(*where))).one())
    actions = list(
        await session.exec(
            select(AuditEvent.action).where(scope).group_by(col(AuditEvent.action)).order_by(col(AuditEvent.action))
        )
    )
    return AdminAuditPage(lines=lines, total=total, actions=actions)
