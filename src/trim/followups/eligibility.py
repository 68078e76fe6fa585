"""The eligibility filter of assignment (design section 13): which peers may take someone
new today (not lapsed, not resting, under their cap), kept apart from the schedule's own
rules so the two halves change separately; and, for the lead, why nobody qualifies and who
is lapsing soon. Reads the peers' tables (trim.peers.models), stations, roles and counts of
open check-ins, never content."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import distinct, func, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role, Station
from trim.config import Settings
from trim.followups.models import CheckIn
from trim.followups.rules import PeerCandidate
from trim.incidents.models import Exposure
from trim.notifications import service as notifications
from trim.peers import rules
from trim.peers.models import PeerCourse, PeerState
from trim.requests.models import PeerRequest, RequestStatus

CHUNK = 500


async def standings(
    session: AsyncSession, peer_ids: Sequence[uuid.UUID], *, settings: Settings
) -> dict[uuid.UUID, rules.Standing]:
    """Each peer's availability, training, rest, open people (open check-ins and requests
    taken) and cap (a few queries)."""
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
        # Open people: those with an open check-in with this peer, and those whose request
        # the peer took and has not closed, each person once.
        supported = union(
            select(col(CheckIn.peer_id).label("peer_id"), col(CheckIn.person_id).label("person_id")).where(
                col(CheckIn.peer_id).in_(chunk), col(CheckIn.outcome).is_(None)
            ),
            select(
                col(PeerRequest.accepted_by_id).label("peer_id"), col(PeerRequest.requester_id).label("person_id")
            ).where(
                col(PeerRequest.accepted_by_id).in_(chunk),
                col(PeerRequest.status) == RequestStatus.accepted.value,
            ),
        ).subquery()
        people = dict(
            (
                await session.exec(
                    select(supported.c.peer_id, func.count(distinct(supported.c.person_id))).group_by(
                        supported.c.peer_id
                    )
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


# -- the lead's overview: why nobody qualifies -------------------------------------------------


async def unassigned_reasons(
    session: AsyncSession, *, actor: Actor, exposure_ids: Sequence[uuid.UUID], now: datetime, settings: Settings
) -> dict[uuid.UUID, str]:
    """For the lead: why no peer qualifies for each of these exposures, in words
    ("every peer at Bravo is at their cap"). Reads stations, roles and counts, no content."""
    if not actor.is_lead or not exposure_ids:
        return {}
    peers_found = list(
        await session.exec(
            select(Person)
            .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .where(PersonRole.role == Role.peer, col(Person.active).is_(True))
        )
    )
    found = await standings(session, [p.id for p in peers_found], settings=settings)
    stations = dict((await session.exec(select(Station.id, Station.name))).all())
    exposures = list(await session.exec(select(Exposure).where(col(Exposure.id).in_(list(exposure_ids)))))
    incident_ids = list({e.incident_id for e in exposures})
    exposed: dict[uuid.UUID, set[uuid.UUID]] = {}
    for incident_id, person_id in await session.exec(
        select(Exposure.incident_id, Exposure.person_id).where(
            col(Exposure.incident_id).in_(incident_ids), col(Exposure.removed_at).is_(None)
        )
    ):
        exposed.setdefault(incident_id, set()).add(person_id)
    people = {
        p.id: p for p in await session.exec(select(Person).where(col(Person.id).in_([e.person_id for e in exposures])))
    }
    today = now.astimezone(settings.zone).date()
    reasons = {}
    for exposure in exposures:
        person = people.get(exposure.person_id)
        if person is None:
            continue
        rejections = []
        qualifies = False
        for peer in peers_found:
            if peer.id == person.id:
                continue
            candidate = PeerCandidate(
                id=peer.id,
                name=peer.name,
                station_id=peer.station_id,
                open_checkins=0,
                staff_number=peer.staff_number,
                manager_staff_number=peer.manager_staff_number,
            )
            why = rules.rejection(
                candidate,
                found[peer.id],
                today=today,
                person_station_id=person.station_id,
                exposed_ids=exposed.get(exposure.incident_id, set()),
                avoid_same_station=settings.assign_avoid_same_station,
                person_staff_number=person.staff_number,
                person_manager_staff_number=person.manager_staff_number,
            )
            if why is None:
                qualifies = True
                break
            rejections.append((stations.get(peer.station_id, "") if peer.station_id else "", why))
        reasons[exposure.id] = (
            "a peer qualifies now: try assigning again" if qualifies else rules.nobody_reason(rejections)
        )
    return reasons


@dataclass(frozen=True)
class Lapsing:
    """A peer whose refresher falls due within the notice days (or has passed)."""

    person_id: uuid.UUID
    name: str
    lapses_on: date
    lapsed: bool


async def lapsing_soon(session: AsyncSession, *, actor: Actor, now: datetime, settings: Settings) -> list[Lapsing]:
    """The overview's list: active peers whose earliest refresher is due within
    TRIM_PEER_LAPSE_NOTICE_DAYS, or has passed, soonest first. For the lead only."""
    if not actor.is_lead:
        return []
    today = now.astimezone(settings.zone).date()
    rows = await session.exec(
        select(Person.id, Person.name, func.min(PeerCourse.refresher_due))
        .join(PeerCourse, col(PeerCourse.person_id) == col(Person.id))
        .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
        .where(PersonRole.role == Role.peer, col(Person.active).is_(True), col(PeerCourse.refresher_due).is_not(None))
        .group_by(col(Person.id), col(Person.name))
        .having(func.min(PeerCourse.refresher_due) <= today + timedelta(days=settings.peer_lapse_notice_days))
    )
    found = [Lapsing(pid, name, due, rules.is_lapsed(due, today)) for pid, name, due in rows if due is not None]
    return sorted(found, key=lambda p: (p.lapses_on, p.name))
