"""The interim check-in (design section 4): after a first check-in that counts toward
persistence, the peer is offered, not forced, one more check-in before the next
scheduled one. A use case of assessments because only the answers say whether it is due."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.assessments import service
from trim.config import Settings
from trim.errors import InvalidInput, NotFound
from trim.followups import rules as schedule_rules
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.privacy import audit, policy


@dataclass(frozen=True)
class Interim:
    checkin: CheckIn
    already: bool  # added before: nothing new was made


async def interim_offer_open(session: AsyncSession, *, actor: Actor, checkin_id: uuid.UUID, settings: Settings) -> bool:
    """Whether the check-in page offers this check-in's peer an interim one: it was the first
    scheduled check-in, held, counted toward persistence, and no interim exists yet."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.peer_id != actor.id or not actor.is_peer or checkin.exposure_id is None:
        return False  # a periodic check-in has its cadence, no interim
    if await _existing(session, checkin.exposure_id) is not None:
        return False
    return await _offered(session, checkin, settings=settings)


async def _offered(session: AsyncSession, checkin: CheckIn, *, settings: Settings) -> bool:
    if checkin.exposure_id is None:
        return False
    history = await service.exposure_history(session, checkin.exposure_id, settings=settings)
    this = history.get(checkin.id)
    return schedule_rules.interim_offered(
        kind=checkin.kind,
        outcome=checkin.outcome,
        persistent=this is not None and this.persistent,
        scheduled_offsets=settings.scheduled_offsets_days,
    )


async def _existing(session: AsyncSession, exposure_id: uuid.UUID) -> CheckIn | None:
    return (
        await session.exec(
            select(CheckIn).where(CheckIn.exposure_id == exposure_id, CheckIn.kind == schedule_rules.INTERIM_KIND)
        )
    ).first()


async def add_interim(
    session: AsyncSession,
    *,
    actor: Actor,
    checkin_id: uuid.UUID,
    days: int | None,
    now: datetime,
    settings: Settings,
) -> Interim:
    """The peer takes up the offer made on `checkin_id` (the first check-in, which counted
    toward persistence): an interim check-in `days` from today (default
    TRIM_INTERIM_DEFAULT_DAYS, moved earlier to stay before the next scheduled one), with
    the same peer and rules. Added twice, the first stands."""
    checkin = await policy.access_checkin(session, actor, checkin_id)
    if checkin.peer_id != actor.id or not actor.is_peer or checkin.exposure_id is None:
        raise NotFound()
    exposure = (await session.exec(select(Exposure).where(Exposure.id == checkin.exposure_id).with_for_update())).one()
    existing = await _existing(session, exposure.id)
    if existing is not None:
        return Interim(checkin=existing, already=True)
    if not await _offered(session, checkin, settings=settings):
        raise InvalidInput(
            "An interim check-in is offered after the first check-in when it counts toward persistence "
            "(how the person is now), and this one does not."
        )
    incident = await session.get(Incident, checkin.incident_id)
    if incident is None or exposure.removed_at is not None or exposure.opted_out_at is not None:
        raise InvalidInput("This person has no follow-up on that incident any more.")
    offsets = sorted(settings.scheduled_offsets_days)
    after, before = offsets[0], offsets[1]
    zone = settings.zone
    today = (now.astimezone(zone).date() - incident.occurred_at.astimezone(zone).date()).days
    if days is not None and days < 0:
        raise InvalidInput.field("days", "Give a number of days from today.")
    offset = today + days if days is not None else min(today + settings.interim_default_days, before - 1)
    if offset < today:
        raise InvalidInput.field("days", f"Day {before} is already here: record that check-in instead.")
    problem = schedule_rules.interim_offset_problem(offset, after=after, before=before)
    if problem:
        raise InvalidInput.field("days", problem)
    scheduled = schedule_rules.scheduled_time(incident.occurred_at, offset, zone)
    interim = CheckIn(
        exposure_id=exposure.id,
        incident_id=exposure.incident_id,
        person_id=exposure.person_id,
        peer_id=exposure.peer_id,
        kind=schedule_rules.INTERIM_KIND,
        offset_days=offset,
        scheduled_for=scheduled,
        due_at=schedule_rules.due_time(scheduled, now),
        created_at=now,
    )
    session.add(interim)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="checkin.interim_added",
        target_type="checkin",
        target_id=interim.id,
        subject_id=exposure.person_id,
        details={"after_checkin_id": checkin.id, "offset_days": offset},
        at=now,
    )
    return Interim(checkin=interim, already=False)
