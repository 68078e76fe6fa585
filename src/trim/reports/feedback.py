"""Anonymous feedback: offered to the person at the close of their request and after an
exposure's last check-in, stored with no link to them (design section 17).

A receipt (an HMAC of "request:<id>" or "exposure:<id>" under the secret key) marks the
request or exposure as answered, so a second answer is refused without storing who gave
the first; the answers row holds only the answers, where and the day. The two are
written in the same transaction but share no column, and the answers carry no time of
day, so a reader of the database cannot join them.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts.actor import Actor
from trim.config import Settings
from trim.db import dialect_insert
from trim.db import new_id as random_id  # uuid4: the id says nothing of when
from trim.errors import NotFound
from trim.followups.models import CheckIn, Outcome
from trim.incidents.models import KIND_LABELS, Exposure, Incident
from trim.reports.models import FeedbackAnswer, FeedbackReceipt
from trim.reports.schemas import FeedbackIn
from trim.requests.models import PeerRequest, RequestStatus

CONTEXT_OF = {"request": "request", "exposure": "checkins"}


@dataclass(frozen=True)
class Offer:
    """Feedback the person may still give: about a request or an exposure's check-ins."""

    about: str  # "request" | "exposure"
    subject_id: uuid.UUID
    label: str
    when: datetime


def receipt_hash(settings: Settings, about: str, subject_id: uuid.UUID) -> str:
    return hmac.new(settings.secret().encode(), f"feedback:{about}:{subject_id}".encode(), hashlib.sha256).hexdigest()


async def _answered(session: AsyncSession, settings: Settings, about: str, subject_id: uuid.UUID) -> bool:
    key = receipt_hash(settings, about, subject_id)
    return (await session.exec(select(FeedbackReceipt).where(col(FeedbackReceipt.key_hash) == key))).first() is not None


async def offers(session: AsyncSession, *, actor: Actor, settings: Settings) -> list[Offer]:
    """The caller's own closed requests and finished exposures not yet answered, newest first."""
    if actor.id is None or actor.is_token:
        return []
    found: list[Offer] = []
    closed = await session.exec(
        select(PeerRequest).where(
            col(PeerRequest.requester_id) == actor.id,
            col(PeerRequest.status) == RequestStatus.closed,
            col(PeerRequest.purged_at).is_(None),
        )
    )
    for r in closed:
        found.append(Offer("request", r.id, "your request for a peer", r.closed_at or r.created_at))
    open_checkin = exists().where(col(CheckIn.exposure_id) == col(Exposure.id), col(CheckIn.outcome).is_(None))
    held = exists().where(col(CheckIn.exposure_id) == col(Exposure.id), col(CheckIn.outcome) == Outcome.completed)
    finished = await session.exec(
        select(Exposure, Incident)
        .join(Incident, col(Incident.id) == col(Exposure.incident_id))
        .where(
            col(Exposure.person_id) == actor.id,
            col(Exposure.removed_at).is_(None),
            col(Exposure.purged_at).is_(None),
            held,
            ~open_checkin,
        )
    )
    for exposure, incident in finished:
        label = f"your check-ins after the {KIND_LABELS.get(incident.kind, incident.kind).lower()}"
        found.append(Offer("exposure", exposure.id, label, incident.occurred_at))
    pending = [o for o in found if not await _answered(session, settings, o.about, o.subject_id)]
    return sorted(pending, key=lambda o: o.when, reverse=True)


async def is_open(
    session: AsyncSession, *, actor: Actor, about: str, subject_id: uuid.UUID, settings: Settings
) -> bool:
    """Whether the caller may still give feedback about this request or exposure."""
    found = await offers(session, actor=actor, settings=settings)
    return any(o.about == about and o.subject_id == subject_id for o in found)


async def offer_for(
    session: AsyncSession, *, actor: Actor, about: str, subject_id: uuid.UUID, settings: Settings
) -> tuple[Offer, bool]:
    """One offer of the caller's, and whether it has been answered; 404 when it is not
    theirs or not finished (the same answer for both)."""
    if about not in CONTEXT_OF:
        raise NotFound()
    candidates = await offers(session, actor=actor, settings=settings)
    for offer in candidates:
        if offer.about == about and offer.subject_id == subject_id:
            return offer, False
    if await _eligible(session, actor=actor, about=about, subject_id=subject_id):
        label = "your request for a peer" if about == "request" else "your check-ins"
        return Offer(about, subject_id, label, datetime.min.replace(tzinfo=UTC)), True
    raise NotFound()


async def _eligible(session: AsyncSession, *, actor: Actor, about: str, subject_id: uuid.UUID) -> bool:
    if about == "request":
        stmt = select(PeerRequest.id).where(
            col(PeerRequest.id) == subject_id,
            col(PeerRequest.requester_id) == actor.id,
            col(PeerRequest.status) == RequestStatus.closed,
        )
    else:
        stmt = select(Exposure.id).where(
            col(Exposure.id) == subject_id,
            col(Exposure.person_id) == actor.id,
        )
    return (await session.exec(stmt)).first() is not None


async def give(
    session: AsyncSession,
    *,
    actor: Actor,
    about: str,
    subject_id: uuid.UUID,
    answers: FeedbackIn,
    now: datetime,
    settings: Settings,
) -> bool:
    """Store the answers with no link to the person; False when this request or exposure
    was answered already (a second send stores nothing: idempotent)."""
    offer, answered = await offer_for(session, actor=actor, about=about, subject_id=subject_id, settings=settings)
    if answered:
        return False
    claimed = await session.exec(
        dialect_insert(session, FeedbackReceipt)
        .values(key_hash=receipt_hash(settings, offer.about, offer.subject_id))
        .on_conflict_do_nothing()
        .returning(col(FeedbackReceipt.key_hash))
    )
    if claimed.first() is None:
        return False  # another send of the same form won the race
    session.add(
        FeedbackAnswer(
            id=random_id(),
            context=CONTEXT_OF[about],
            answered_on=now.astimezone(settings.zone).date(),
            helpful=answers.helpful,
            ask_again=answers.ask_again,
            ease=answers.ease,
        )
    )
    await session.flush()
    return True
