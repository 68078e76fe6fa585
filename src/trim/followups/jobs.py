"""Periodic work of the schedule: a reminder when a check-in becomes due and another when
it becomes overdue, each exactly once, and the peers' daily summary.

Each sweep reads only check-ins whose due time lies between its last mark (less a short
overlap, for changes committed just after it looked) and now: an indexed range on
due_at, so its cost follows the number of check-ins falling due, not the size of the
table. The reminder row's unique (checkin, stage) is what makes each reminder once when
several workers sweep at the same moment, or the overlap reads a check-in twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

from sqlalchemy import exists, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import dialect_insert, new_id
from trim.followups import rules
from trim.followups.models import CheckIn, CheckinReminder
from trim.notifications import service as notifications
from trim.notifications import sweeps

# What each reminder says. Nothing about who or why: the link leads to a page that
# asks the reader to sign in and shows only what they may see.
REMINDERS = {
    "due": (
        "You have a check-in due",
        "A peer check-in assigned to you is now due. Open it to see the details.",
    ),
    "overdue": (
        "A check-in is overdue",
        "A peer check-in assigned to you is overdue. It can still be recorded, including as declined or unreachable.",
    ),
}
UNASSIGNED = {
    "due": (
        "A check-in is due with no peer assigned",
        "A check-in is due and nobody is assigned to it. Open it to choose a peer.",
    ),
    "overdue": (
        "A check-in is overdue with no peer assigned",
        "A check-in is overdue and nobody is assigned to it. Open it to choose a peer.",
    ),
}


async def sweep_due(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Remind the assigned peer (or, with nobody assigned, the lead) once as each check-in
    becomes due. One already overdue gets the overdue reminder instead."""
    return await _remind(session, stage="due", now=now, settings=settings)


async def sweep_overdue(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Remind once as each open check-in becomes overdue (its due window has passed)."""
    return await _remind(session, stage="overdue", now=now, settings=settings)


async def _remind(session: AsyncSession, *, stage: str, now: datetime, settings: Settings) -> int:
    window = settings.due_window
    name = f"checkins.{stage}"
    if stage == "due":
        upper = now
        floor: datetime | None = now - window  # older ones are overdue already
        first_mark = now - window
    else:
        upper = now - window
        floor = None
        # First run on an existing database: what is overdue but not yet "missed".
        first_mark = upper - settings.missed_grace
    mark = await sweeps.read_mark(session, name) or first_mark
    lower = mark - settings.reminder_overlap
    if floor is not None:
        lower = max(lower, floor)
    if lower >= upper:
        return 0
    reminded = exists().where(col(CheckinReminder.checkin_id) == col(CheckIn.id), col(CheckinReminder.stage) == stage)
    rows = (
        await session.exec(
            select(CheckIn.id, CheckIn.peer_id, CheckIn.due_at)
            .where(col(CheckIn.outcome).is_(None), col(CheckIn.due_at) > lower, col(CheckIn.due_at) <= upper)
            .where(~reminded)
            .order_by(col(CheckIn.due_at), col(CheckIn.id))
            .limit(settings.sweep_batch_size)
        )
    ).all()
    for checkin_id, peer_id, _due_at in rows:
        if await _claim_reminder(session, checkin_id=checkin_id, stage=stage, now=now):
            await _tell(session, checkin_id=checkin_id, peer_id=peer_id, stage=stage, now=now)
    # A full batch leaves more behind: the next run carries on from the last one read.
    full = len(rows) >= settings.sweep_batch_size
    await sweeps.advance_mark(session, name, rows[-1][2] if full else upper, now=now)
    return len(rows)


async def _claim_reminder(session: AsyncSession, *, checkin_id: uuid.UUID, stage: str, now: datetime) -> bool:
    """Insert the (checkin, stage) reminder; False when it exists (another worker, an
    earlier run). On PostgreSQL a concurrent insert waits for the other to commit."""
    stmt = (
        dialect_insert(session, CheckinReminder)
        .values(id=new_id(), checkin_id=checkin_id, stage=stage, created_at=now)
        .on_conflict_do_nothing()
        .returning(col(CheckinReminder.id))
    )
    return (await session.exec(stmt)).first() is not None


async def _tell(
    session: AsyncSession, *, checkin_id: uuid.UUID, peer_id: uuid.UUID | None, stage: str, now: datetime
) -> None:
    link = f"/checkins/{checkin_id}"
    dedupe = f"checkin:{checkin_id}:{stage}"
    if peer_id is not None:
        subject, body = REMINDERS[stage]
        await notifications.enqueue(
            session,
            person_id=peer_id,
            kind=f"checkin_{stage}",
            subject=subject,
            body=body,
            link=link,
            dedupe_key=dedupe,
            now=now,
        )
        return
    subject, body = UNASSIGNED[stage]
    await notifications.notify_role(
        session, role="lead", kind=f"checkin_{stage}", subject=subject, body=body, link=link, dedupe_key=dedupe, now=now
    )


async def sweep_digest(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Once a day, after the digest hour, each peer who chose a daily summary gets one
    email with the number of their check-ins due and overdue (none when both are 0)."""
    local = now.astimezone(settings.zone)
    if local.hour < settings.digest_hour:
        return 0
    day_start = datetime.combine(local.date(), time(0), tzinfo=settings.zone).astimezone(UTC)
    mark = await sweeps.read_mark(session, "checkins.digest")
    if mark is not None and mark >= day_start:
        return 0
    chosen = await notifications.digest_choices(session)
    counts = await _open_counts(session, peer_ids=list(chosen), now=now, settings=settings)
    written = 0
    for peer_id, kinds in sorted(chosen.items()):
        due, overdue = counts.get(peer_id, (0, 0))
        due = due if "checkin_due" in kinds else 0
        overdue = overdue if "checkin_overdue" in kinds else 0
        if not due and not overdue:
            continue
        subject, body = rules.digest_message(due=due, overdue=overdue)
        written += await notifications.enqueue(
            session,
            person_id=peer_id,
            kind="checkin_digest",
            subject=subject,
            body=body,
            link="/checkins",
            dedupe_key=f"digest:{peer_id}:{local.date().isoformat()}",
            now=now,
        )
    await sweeps.advance_mark(session, "checkins.digest", day_start, now=now)
    return written


async def _open_counts(
    session: AsyncSession, *, peer_ids: list[uuid.UUID], now: datetime, settings: Settings
) -> dict[uuid.UUID, tuple[int, int]]:
    """(due, overdue) check-ins assigned to each of these peers, by the one status rule."""
    if not peer_ids:
        return {}
    due = rules.status_clause(["due"], now=now, window=settings.due_window)
    overdue = rules.status_clause(["overdue"], now=now, window=settings.due_window)
    rows = await session.exec(
        select(CheckIn.peer_id, func.count().filter(due), func.count().filter(overdue))
        .where(col(CheckIn.peer_id).in_(peer_ids), col(CheckIn.outcome).is_(None), col(CheckIn.due_at) <= now)
        .group_by(col(CheckIn.peer_id))
    )
    return {peer_id: (int(d), int(o)) for peer_id, d, o in rows if peer_id is not None}
