"""The eligibility filter of assignment (design section 13): which peers may take someone
new today. Kept apart from the schedule's own rules so both areas can change their half.
Reads only the peers' own tables and counts of open check-ins, never content."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import distinct, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.models import Person
from trim.config import Settings
from trim.followups.models import CheckIn
from trim.followups.rules import PeerCandidate
from trim.notifications import service as notifications
from trim.peers import rules
from trim.peers.models import PeerCourse, PeerState

CHUNK = 500


async def standings(
    session: AsyncSession, peer_ids: Sequence[uuid.UUID], *, settings: Settings
) -> dict[uuid.UUID, rules.Standing]:
    """Each peer's availability, training, rest, open people and cap (a few queries)."""
    ids = list(dict.fromkeys(peer_ids))
    found: dict[uuid.UUID, rules.Standing] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        available = dict(
            (await session.exec(select(Person.id, Person.available).where(col(Person.id).in_(chunk)))).all()
        )
        lapses = dict(
            (
                await session.exec(
                    select(PeerCourse.person_id, func.min(PeerCourse.refresher_due))
                    .where(col(PeerCourse.person_id).in_(chunk))
                    .group_by(col(PeerCourse.person_id))
                )
            ).all()
        )
        states = {
            s.person_id: s for s in await session.exec(select(PeerState).where(col(PeerState.person_id).in_(chunk)))
        }
        people = dict(
            (
                await session.exec(
                    select(CheckIn.peer_id, func.count(distinct(col(CheckIn.person_id))))
                    .where(col(CheckIn.peer_id).in_(chunk), col(CheckIn.outcome).is_(None))
                    .group_by(col(CheckIn.peer_id))
                )
            ).all()
        )
        for pid in chunk:
            state = states.get(pid)
            found[pid] = rules.Standing(
                available=bool(available.get(pid, False)),
                lapses_on=lapses.get(pid),
                resting_until=state.resting_until if state else None,
                open_people=int(people.get(pid, 0)),
                cap=state.caseload_cap if state and state.caseload_cap is not None else settings.peer_caseload_cap,
            )
    return found


async def fit_for_new_work(
    session: AsyncSession, candidates: list[PeerCandidate], *, now: datetime, settings: Settings
) -> list[PeerCandidate]:
    """The candidates who may take someone new today (not lapsed, not resting, under their
    cap), each with the room left under the cap."""
    found = await standings(session, [c.id for c in candidates], settings=settings)
    today = now.astimezone(settings.zone).date()
    return rules.fit_candidates([(c, found[c.id]) for c in candidates], today)


async def takes_new_work(session: AsyncSession, peer_id: uuid.UUID, *, now: datetime, settings: Settings) -> bool:
    """Whether this one peer may be offered someone new today (a request, a check-in)."""
    found = (await standings(session, [peer_id], settings=settings))[peer_id]
    return rules.unfit_reason(found, now.astimezone(settings.zone).date()) is None


async def unfit_reason(session: AsyncSession, peer_id: uuid.UUID, *, now: datetime, settings: Settings) -> str | None:
    """Why this peer takes nobody new today (None: they may), for a 409 naming it."""
    found = (await standings(session, [peer_id], settings=settings))[peer_id]
    return rules.unfit_reason(found, now.astimezone(settings.zone).date())


async def manual_assignment_refusal(
    session: AsyncSession, *, peer_id: uuid.UUID, now: datetime, settings: Settings
) -> str | None:
    """Why the lead cannot give someone to this peer by hand (a lapsed refresher, rest),
    naming the date; None when they can. A cap is the lead's to override."""
    found = (await standings(session, [peer_id], settings=settings))[peer_id]
    today = now.astimezone(settings.zone).date()
    if rules.is_lapsed(found.lapses_on, today) and found.lapses_on is not None:
        return f"This peer's training lapsed on {rules.day_words(found.lapses_on)}: record the refresher first."
    if rules.is_resting(found.resting_until, today) and found.resting_until is not None:
        return f"This peer is resting until {rules.day_words(found.resting_until)}; choose someone else."
    return None


async def tell_peer_changed(session: AsyncSession, *, person_id: uuid.UUID, key: str, now: datetime) -> None:
    """Tell a person only that their peer supporter has changed (never why)."""
    subject, body = rules.PEER_CHANGED
    await notifications.enqueue(
        session,
        person_id=person_id,
        kind="peer_changed",
        subject=subject,
        body=body,
        link="/me/checkins",
        dedupe_key=f"peer_changed:{key}",
        now=now,
    )
