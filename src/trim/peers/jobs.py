"""Periodic work of peer care: refresher notices (60 days ahead and on the day, when the
peer's open check-ins are handed on) and quiet peers (a check-in overdue by
TRIM_QUIET_PEER_DAYS with no record and no contact logged moves to another peer), and
the peer told once when their rest is over (a scan of peer_states, one row per peer).

Costs: the training sweep reads the courses whose refresher falls due within the notice
days (an index on refresher_due), once a day at most per peer and date; the quiet sweep
reads open, assigned check-ins overdue by the quiet days (a range on ix_checkins_due_at)
whose clock has also run out (a primary-key probe of quiet_clocks each), a batch at a
time, oldest first. Both are idempotent: a notice is claimed by the
unique (person, kind, date) of peer_notices, and a move by a conditional update of the
exposure's peer, so two workers at once notify and move once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person, PersonRole, Role
from trim.config import Settings
from trim.db import dialect_insert, new_id
from trim.followups import service as followups
from trim.followups.models import CheckIn
from trim.notifications import service as notifications
from trim.notifications import sweeps
from trim.peers import rules
from trim.peers.models import PeerCourse, PeerNotice, PeerState, QuietClock


async def sweep_training(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Tell the lead once when a peer's refresher is within the notice days, and once on
    the day; from that day the peer's open check-ins are handed on by the usual rules."""
    today = now.astimezone(settings.zone).date()
    horizon = today + timedelta(days=settings.peer_lapse_notice_days)
    rows = (
        await session.exec(
            select(PeerCourse.person_id, func.min(PeerCourse.refresher_due))
            .join(Person, col(Person.id) == col(PeerCourse.person_id))
            .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .where(PersonRole.role == Role.peer, col(Person.active).is_(True))
            .where(col(PeerCourse.refresher_due).is_not(None))
            .group_by(col(PeerCourse.person_id))
            .having(func.min(PeerCourse.refresher_due) <= horizon)
        )
    ).all()
    done = 0
    for person_id, lapses_on in rows:
        if lapses_on is None:
            continue
        kind = rules.lapse_notice_due(lapses_on, today, ahead_days=settings.peer_lapse_notice_days)
        if kind is None or not await _claim_notice(session, person_id=person_id, kind=kind, on_date=lapses_on, now=now):
            continue
        subject, body = rules.lapse_message(kind, lapses_on)
        await notifications.notify_role(
            session,
            role=Role.lead,
            kind="training",
            subject=subject,
            body=body,
            link="/peers",
            dedupe_key=f"training:{person_id}:{kind}:{lapses_on.isoformat()}",
            now=now,
        )
        if kind == "lapsed":
            await followups.reassign_open_of_peer(
                session,
                actor=SYSTEM,
                peer_id=person_id,
                now=now,
                settings=settings,
                why="peer_lapsed",
                tell_people=True,
            )
        done += 1
    return done


async def sweep_rest_over(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Tell each peer once, the day after their rest ran out, that they may be given people
    again (the claim is the unique (person, "rest_over", last rest day) of peer_notices)."""
    today = now.astimezone(settings.zone).date()
    since = today - timedelta(days=rules.REST_OVER_NOTICE_DAYS)
    rows = (
        await session.exec(
            select(col(PeerState.person_id), col(PeerState.resting_until))
            .join(Person, col(Person.id) == col(PeerState.person_id))
            .where(col(Person.active).is_(True))
            .where(col(PeerState.resting_until) >= since, col(PeerState.resting_until) < today)
        )
    ).all()
    done = 0
    for person_id, resting_until in rows:
        if not rules.rest_over_due(resting_until, today) or resting_until is None:
            continue
        if not await _claim_notice(session, person_id=person_id, kind="rest_over", on_date=resting_until, now=now):
            continue
        subject, body = rules.rest_over_message(resting_until)
        await notifications.enqueue(
            session,
            person_id=person_id,
            kind="rest_over",
            subject=subject,
            body=body,
            link="/peer-profile",
            dedupe_key=f"rest_over:{person_id}:{resting_until.isoformat()}",
            now=now,
        )
        done += 1
    return done


async def _claim_notice(
    session: AsyncSession, *, person_id: uuid.UUID, kind: str, on_date: date, now: datetime
) -> bool:
    stmt = (
        dialect_insert(session, PeerNotice)
        .values(id=new_id(), person_id=person_id, kind=kind, on_date=on_date, created_at=now)
        .on_conflict_do_nothing()
        .returning(col(PeerNotice.id))
    )
    return (await session.exec(stmt)).first() is not None


async def sweep_quiet(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Move each check-in overdue by the quiet days with nothing recorded and no contact
    logged to another qualifying peer; the first peer and the lead are told, once a round
    (a count, not an email a move). With nobody else to take it, it stays, its clock
    restarts and the lead is told."""
    quiet = timedelta(days=settings.quiet_peer_days)
    window = settings.due_window
    rows = (
        await session.exec(
            select(CheckIn.id, CheckIn.exposure_id, CheckIn.peer_id, CheckIn.due_at)
            .outerjoin(QuietClock, col(QuietClock.checkin_id) == col(CheckIn.id))
            .where(col(CheckIn.outcome).is_(None), col(CheckIn.peer_id).is_not(None))
            .where(col(CheckIn.due_at) <= now - window - quiet)
            # The clock's restarts in SQL too, so check-ins that moved (or were tried) lately
            # never fill the batch ahead of those that are quiet now.
            .where(
                or_(
                    col(QuietClock.checkin_id).is_(None),
                    col(QuietClock.peer_id).is_(None),
                    col(QuietClock.peer_id) != col(CheckIn.peer_id),
                    and_(
                        or_(col(QuietClock.started_at).is_(None), col(QuietClock.started_at) <= now - quiet),
                        or_(
                            col(QuietClock.contact_attempted_at).is_(None),
                            col(QuietClock.contact_attempted_at) <= now - quiet,
                        ),
                    ),
                )
            )
            .order_by(col(CheckIn.due_at), col(CheckIn.id))
            .limit(settings.sweep_batch_size)
        )
    ).all()
    clocks = {
        c.checkin_id: c
        for c in await session.exec(select(QuietClock).where(col(QuietClock.checkin_id).in_([r[0] for r in rows])))
    }
    moved_exposures: set[uuid.UUID] = set()
    moved = 0
    # Told once a round, not once a move: each quiet peer how many of theirs moved, and
    # the lead how many moved and how many nobody else could take. Each email is keyed by
    # the round's first move (or stuck check-in), which no other round can make again.
    moved_from: dict[uuid.UUID, list[uuid.UUID]] = {}
    stuck: list[uuid.UUID] = []
    # One assigner for the batch: it keeps the loads current as it chooses (a move each
    # once counted every peer's open check-ins again, seconds per batch after a big incident).
    assigner: followups.Assigner | None = None
    for checkin_id, exposure_id, peer_id, due_at in rows:
        # A periodic check-in has no exposure: it moves on its own.
        unit = exposure_id or checkin_id
        if peer_id is None or unit in moved_exposures:
            continue
        clock = clocks.get(checkin_id)
        mine = clock is not None and clock.peer_id == peer_id
        if not rules.is_quiet(
            due_at=due_at,
            window=window,
            started_at=clock.started_at if mine and clock else None,
            attempted_at=clock.contact_attempted_at if mine and clock else None,
            quiet=quiet,
            now=now,
        ):
            continue
        if assigner is None:
            assigner = await followups.new_assigner(session, settings, now=now)
        if exposure_id is None:
            claimed, new_peer = await followups.move_checkin_from_quiet_peer(
                session, checkin_id=checkin_id, from_peer_id=peer_id, now=now, settings=settings, assigner=assigner
            )
        else:
            claimed, new_peer = await followups.move_from_quiet_peer(
                session, exposure_id=exposure_id, from_peer_id=peer_id, now=now, settings=settings, assigner=assigner
            )
        if not claimed:
            continue
        if new_peer is None:
            await _restart_clock(session, checkin_ids=[checkin_id], peer_id=peer_id, now=now)
            stuck.append(checkin_id)
            continue
        moved_exposures.add(unit)
        moved += 1
        open_ids = [checkin_id]
        if exposure_id is not None:
            open_ids = list(
                await session.exec(
                    select(CheckIn.id).where(CheckIn.exposure_id == exposure_id, col(CheckIn.outcome).is_(None))
                )
            )
        await _restart_clock(session, checkin_ids=open_ids, peer_id=new_peer, now=now)
        moved_from.setdefault(peer_id, []).append(unit)
    for peer_id, units in moved_from.items():
        subject, body = rules.quiet_moved_peer(len(units))
        await notifications.enqueue(
            session,
            person_id=peer_id,
            kind="quiet_moved",
            subject=subject,
            body=body,
            link="/checkins",
            dedupe_key=f"quiet:{units[0]}:{peer_id}:peer",
            now=now,
        )
    if moved_from:
        first_peer, first_units = next(iter(moved_from.items()))
        await _tell_the_lead(
            session, rules.quiet_moved_lead(moved), dedupe_key=f"quiet:{first_units[0]}:{first_peer}:lead", now=now
        )
    if stuck:
        await _tell_the_lead(
            session,
            rules.quiet_stuck_lead(len(stuck)),
            dedupe_key=f"quiet_stuck:{stuck[0]}:{now.date().isoformat()}",
            now=now,
        )
    return moved


async def _tell_the_lead(session: AsyncSession, text: tuple[str, str], *, dedupe_key: str, now: datetime) -> None:
    """The lead's email about a quiet peer's check-in (moved, or stuck with nobody to take it)."""
    subject, body = text
    await notifications.notify_role(
        session,
        role=Role.lead,
        kind="quiet_moved",
        subject=subject,
        body=body,
        link="/overview",
        dedupe_key=dedupe_key,
        now=now,
    )


async def _restart_clock(
    session: AsyncSession, *, checkin_ids: list[uuid.UUID], peer_id: uuid.UUID, now: datetime
) -> None:
    """The clock of these check-ins starts again now, for this peer, with no attempt logged."""
    for checkin_id in checkin_ids:
        stmt = (
            dialect_insert(session, QuietClock)
            .values(checkin_id=checkin_id, peer_id=peer_id, started_at=now, contact_attempted_at=None)
            .on_conflict_do_update(
                index_elements=["checkin_id"],
                set_={"peer_id": peer_id, "started_at": now, "contact_attempted_at": None},
            )
        )
        await session.exec(stmt)


# What every worker runs for this area (trim.jobs composes every area's).
SWEEPS = (
    sweeps.RegisteredSweep("peers.training", sweep_training),
    sweeps.RegisteredSweep("peers.quiet", sweep_quiet),
    sweeps.RegisteredSweep("peers.rest_over", sweep_rest_over),
)
