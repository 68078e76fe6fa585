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
from sqlmodel.sql.expression import Select

from trim.config import Settings
from trim.db import dialect_insert, new_id
from trim.followups import periodic, rules
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
    rows = (
        await session.exec(reminder_candidates(stage, lower=lower, upper=upper, limit=settings.sweep_batch_size))
    ).all()
    claimed = await _claim_reminders(session, checkin_ids=[r[0] for r in rows], stage=stage, now=now)
    messages = await _reminder_messages(
        session, [(checkin_id, peer_id) for checkin_id, peer_id, _ in rows if checkin_id in claimed], stage=stage
    )
    await notifications.enqueue_many(session, messages, now=now)
    # A full batch leaves more behind: the next run carries on from the last one read.
    full = len(rows) >= settings.sweep_batch_size
    await sweeps.advance_mark(session, name, rows[-1][2] if full else upper, now=now)
    return len(rows)


def reminder_candidates(
    stage: str, *, lower: datetime, upper: datetime, limit: int
) -> Select[uuid.UUID, uuid.UUID | None, datetime]:
    """Open check-ins due in (lower, upper] not yet reminded at this stage, oldest first:
    a range on ix_checkins_due_at and, per row, a probe of the unique reminder index."""
    reminded = exists().where(col(CheckinReminder.checkin_id) == col(CheckIn.id), col(CheckinReminder.stage) == stage)
    return (
        select(CheckIn.id, CheckIn.peer_id, CheckIn.due_at)
        .where(col(CheckIn.outcome).is_(None), col(CheckIn.due_at) > lower, col(CheckIn.due_at) <= upper)
        .where(~reminded)
        .order_by(col(CheckIn.due_at), col(CheckIn.id))
        .limit(limit)
    )


async def _claim_reminders(
    session: AsyncSession, *, checkin_ids: list[uuid.UUID], stage: str, now: datetime
) -> set[uuid.UUID]:
    """Insert a (checkin, stage) reminder for each; returns those this transaction inserted
    (the others exist: another worker, an earlier run). On PostgreSQL a concurrent insert of
    the same row waits for the other to commit; rows go in due order, so two sweepers never
    wait on each other in a circle."""
    if not checkin_ids:
        return set()
    stmt = (
        dialect_insert(session, CheckinReminder)
        .values([{"id": new_id(), "checkin_id": c, "stage": stage, "created_at": now} for c in checkin_ids])
        .on_conflict_do_nothing()
        .returning(col(CheckinReminder.checkin_id))
    )
    return set((await session.exec(stmt)).scalars())


async def _reminder_messages(
    session: AsyncSession, due: list[tuple[uuid.UUID, uuid.UUID | None]], *, stage: str
) -> list[notifications.Message]:
    """The assigned peer's reminder; with nobody assigned, one to each lead."""
    messages = []
    leads: list[uuid.UUID] | None = None
    for checkin_id, peer_id in due:
        link = f"/checkins/{checkin_id}"
        dedupe = f"checkin:{checkin_id}:{stage}"
        if peer_id is not None:
            subject, body = REMINDERS[stage]
            messages.append(
                notifications.Message(
                    f"checkin_{stage}", subject, body, person_id=peer_id, link=link, dedupe_key=dedupe
                )
            )
            continue
        if leads is None:
            leads = await notifications.role_holders(session, "lead")
        subject, body = UNASSIGNED[stage]
        messages += [
            notifications.Message(
                f"checkin_{stage}", subject, body, person_id=lead, link=link, dedupe_key=f"{dedupe}:{lead}"
            )
            for lead in leads
        ]
    return messages


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


# What every worker runs for this area (trim.jobs composes every area's). Periodic
# check-ins first, so one falling due is reminded of in the same round.
SWEEPS = (
    sweeps.RegisteredSweep("checkins.periodic", periodic.sweep_periodic),
    sweeps.RegisteredSweep("checkins.due", sweep_due),
    sweeps.RegisteredSweep("checkins.overdue", sweep_overdue),
    sweeps.RegisteredSweep("checkins.digest", sweep_digest),
)
