"""Asking for a peer: submit, route to matching peers, accept (one wins), close, withdraw."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.accounts.models import Person, PersonRole, Role
from trim.accounts.rules import is_valid_email, normalize_email, normalize_phone
from trim.config import Settings
from trim.errors import Conflict, FieldError, InvalidInput, NotFound
from trim.flags import service as flags
from trim.followups import eligibility
from trim.incidents import service as incidents
from trim.notifications import service as notifications
from trim.peers import rules as peer_rules
from trim.privacy import audit, crypto, policy
from trim.requests import news, rules
from trim.requests.models import (
    CONTACT_LABELS,
    OUTCOME_LABELS,
    URGENCY_LABELS,
    ContactMethod,
    ConversationMessage,
    PeerRequest,
    RequestOutcome,
    RequestStatus,
)
from trim.requests.rules import PeerFacts

MESSAGE_MAX = 2000
CONTACT_MAX = 200


@dataclass
class RequestInput:
    urgency: str
    contact_method: str
    contact: str | None
    safety_concern: bool
    avoid_own_station: bool = False
    preferred_peer_id: uuid.UUID | None = None
    preferred_background: str | None = None
    message: str | None = None
    # Without my name: the peer sees a pseudonym until they choose to show it.
    anonymous: bool = False
    # False when a form left the safety question unanswered: reported with everything else.
    safety_answered: bool = True


async def peer_facts(session: AsyncSession, actor: Actor) -> PeerFacts | None:
    """The actor as the matching rules see a peer (None unless an active peer)."""
    if not actor.is_peer or actor.id is None:
        return None
    person = await session.get(Person, actor.id)
    if person is None or not person.active:
        return None
    return PeerFacts(id=person.id, station_id=person.station_id, available=person.available)


async def offer_facts(session: AsyncSession, actor: Actor, *, now: datetime, settings: Settings) -> PeerFacts | None:
    """The actor as requests are offered to them: available only when they may take
    someone new today (not lapsed, not resting, under their cap; design section 13)."""
    peer = await peer_facts(session, actor)
    if peer is None or not peer.available:
        return peer
    fit = await eligibility.takes_new_work(session, peer.id, now=now, settings=settings)
    return PeerFacts(id=peer.id, station_id=peer.station_id, available=fit)


async def _is_active_peer(session: AsyncSession, person_id: uuid.UUID) -> bool:
    person = await session.get(Person, person_id)
    if person is None or not person.active:
        return False
    return (
        await session.exec(select(PersonRole).where(PersonRole.person_id == person_id, PersonRole.role == Role.peer))
    ).first() is not None


async def submit(
    session: AsyncSession, *, actor: Actor, data: RequestInput, now: datetime, settings: Settings
) -> PeerRequest:
    """Ask for a peer. Matching peers see it at once; a safety concern raises an urgent flag."""
    if actor.is_token or actor.id is None:
        raise NotFound()
    errors: list[FieldError] = []
    if not data.safety_answered:
        errors.append(
            FieldError("safety_concern", "Answer the safety question, about harming yourself or others (yes or no).")
        )
    if data.urgency not in URGENCY_LABELS:
        errors.append(FieldError("urgency", "Choose how soon: today, this week or when convenient."))
    if data.contact_method not in CONTACT_LABELS:
        errors.append(FieldError("contact_method", "Choose how you would like to be contacted."))
    contact = (data.contact or "").strip()
    if data.anonymous and data.contact_method != ContactMethod.conversation:
        errors.append(
            FieldError(
                "contact_method",
                'Without your name, the peer writes to you here in trim: choose "Write to me here in trim".',
            )
        )
    elif data.anonymous and contact:
        errors.append(FieldError("contact", "Without your name, leave the number or email empty."))
    if data.contact_method in (ContactMethod.phone, ContactMethod.text, ContactMethod.email) and not contact:
        errors.append(FieldError("contact", "Tell us the number or address to use."))
    elif contact and data.contact_method in (ContactMethod.phone, ContactMethod.text):
        try:
            normalize_phone(contact, region=settings.phone_region)
        except ValueError as exc:
            errors.append(FieldError("contact", str(exc)))
    elif contact and data.contact_method == ContactMethod.email and not is_valid_email(normalize_email(contact)):
        errors.append(FieldError("contact", "Enter an email address like name@example.org."))
    if len(contact) > CONTACT_MAX:
        errors.append(FieldError("contact", f"Keep it under {CONTACT_MAX} characters."))
    message = (data.message or "").strip()
    if len(message) > MESSAGE_MAX:
        errors.append(FieldError("message", f"Keep the message under {MESSAGE_MAX} characters."))
    background = (data.preferred_background or "").strip() or None
    if background and len(background) > 200:
        errors.append(FieldError("preferred_background", "Keep it under 200 characters."))
    if data.preferred_peer_id is not None and (
        data.preferred_peer_id == actor.id or not await _is_active_peer(session, data.preferred_peer_id)
    ):
        errors.append(FieldError("preferred_peer_id", "Choose a peer supporter from the list, or leave it empty."))
    if errors:
        raise InvalidInput("Your request was not sent: " + " ".join(e.message for e in errors), errors)
    me = await session.get(Person, actor.id)
    request = PeerRequest(
        requester_id=actor.person_id,
        requester_station_id=me.station_id if me else None,
        urgency=data.urgency,
        contact_method=data.contact_method,
        contact_encrypted=crypto.encrypt(settings, contact or None),
        avoid_own_station=data.avoid_own_station,
        preferred_peer_id=data.preferred_peer_id,
        named_peer_until=now + timedelta(minutes=settings.named_peer_window_minutes)
        if data.preferred_peer_id
        else None,
        preferred_background=background,
        message_encrypted=crypto.encrypt(settings, message or None),
        safety_concern=data.safety_concern,
        status="open",
        created_at=now,
        anonymous=data.anonymous,
        pseudonym=rules.pseudonym(secrets.token_hex(2)) if data.anonymous else None,
    )
    session.add(request)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="request.created",
        target_type="request",
        target_id=request.id,
        subject_id=actor.person_id,
        at=now,
    )
    await notify_matching_peers(session, request=request, now=now, settings=settings)
    if data.safety_concern:
        await flags.raise_flag(
            session,
            person_id=actor.person_id,
            cause="request_safety",
            cause_key=f"request:{request.id}",
            source_request=request.id,
            now=now,
        )
    return request


async def matching_peers(
    session: AsyncSession, *, request: PeerRequest, now: datetime, settings: Settings
) -> list[uuid.UUID]:
    """Active peers the request is offered to right now: never one who is resting, whose
    training has lapsed, or who is at their cap (the eligibility filter of section 13)."""
    rows = list(
        await session.exec(
            select(Person.id, Person.station_id, Person.available)
            .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .where(PersonRole.role == Role.peer, col(Person.active).is_(True))
        )
    )
    found = await eligibility.standings(session, [pid for pid, _, _ in rows], settings=settings)
    today = now.astimezone(settings.zone).date()
    return [
        pid
        for pid, station, available in rows
        if peer_rules.unfit_reason(found[pid], today) is None
        and rules.matches(request, PeerFacts(pid, station, bool(available)), now)
    ]


async def notify_matching_peers(
    session: AsyncSession, *, request: PeerRequest, now: datetime, settings: Settings
) -> int:
    """Tell the peers it is offered to: nothing about who asked or why. Once per peer."""
    urgency = URGENCY_LABELS.get(request.urgency, "").lower()
    messages = [
        notifications.Message(
            "request_new",
            "Someone has asked for a peer",
            f"A colleague would like to talk ({urgency}). Open trim to see if you can take it.",
            person_id=peer,
            link=f"/requests/{request.id}",
            dedupe_key=f"request:{request.id}:{peer}",
        )
        for peer in await matching_peers(session, request=request, now=now, settings=settings)
    ]
    return await notifications.enqueue_many(session, messages, now=now)


async def _visible(
    session: AsyncSession, actor: Actor, request_id: uuid.UUID, now: datetime, settings: Settings | None = None
) -> tuple[PeerRequest, str, PeerFacts | None]:
    # With settings, an open request is offered by the eligibility filter too; without,
    # only the levels that do not depend on it ("own", "taken") are asked for.
    peer = await (offer_facts(session, actor, now=now, settings=settings) if settings else peer_facts(session, actor))
    request, level = await policy.access_request(session, actor, request_id, peer=peer, now=now)
    return request, level, peer


async def accept(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime, settings: Settings
) -> PeerRequest:
    """A matching peer takes the request. Two at once: exactly one wins, the other is told.
    A peer who is resting, lapsed or at their cap is not offered it (404)."""
    request = await session.get(PeerRequest, request_id)
    peer = await offer_facts(session, actor, now=now, settings=settings)
    if request is None or not policy.could_take(actor, request, peer=peer, now=now):
        raise NotFound()
    taken = await session.exec(
        update(PeerRequest)
        .where(col(PeerRequest.id) == request_id, col(PeerRequest.status) == RequestStatus.open)
        .values(status="accepted", accepted_by_id=actor.id, accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if (taken.rowcount or 0) != 1:
        await session.refresh(request)
        if request.status == RequestStatus.withdrawn:
            raise Conflict("They withdrew this request; there is nothing to do.")
        raise Conflict("Another peer has already taken this request.")
    await session.refresh(request)
    audit.record_row(session, actor=actor, action="request.accepted", row=request, at=now)
    return request


async def record_contact(session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime) -> PeerRequest:
    """The peer has made first contact."""
    request, level, _ = await _visible(session, actor, request_id, now)
    if level != "taken":
        raise NotFound()
    if request.first_contact_at is None:
        request.first_contact_at = now
        session.add(request)
        audit.record_row(session, actor=actor, action="request.contacted", row=request, at=now)
    return request


async def close(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, outcome: str, now: datetime, settings: Settings
) -> PeerRequest:
    """The peer who took it closes it; 'ongoing support' puts the person on the check-in
    schedule with the same peer."""
    request, level, _ = await _visible(session, actor, request_id, now)
    if level != "taken":
        raise NotFound()
    if not outcome:
        raise InvalidInput.field("outcome", "Choose how the request ended; it is still open.")
    if outcome not in OUTCOME_LABELS:
        raise InvalidInput.field("outcome", f"Choose one of: {', '.join(OUTCOME_LABELS)}.")
    if request.status != RequestStatus.accepted:
        raise Conflict("This request is already closed.")
    if outcome == RequestOutcome.ongoing_support and rules.name_hidden(request):
        raise InvalidInput.field(
            "outcome",
            "Check-ins need their name, which they have not shown you. Ask them in the conversation, "
            "or choose another outcome.",
        )
    request.status = "closed"
    request.outcome = outcome
    request.closed_at = now
    request.first_contact_at = request.first_contact_at or now
    session.add(request)
    if outcome == RequestOutcome.ongoing_support:
        await incidents.open_support_contact(
            session,
            actor=actor,
            person_id=request.requester_id,
            station_id=request.requester_station_id,
            started_at=request.created_at,
            now=now,
            settings=settings,
        )
    audit.record_row(session, actor=actor, action="request.closed", row=request, details={"outcome": outcome}, at=now)
    await news.announce(session, request.id)  # the conversation is closed: whoever waits on it is told
    return request


async def withdraw(session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime) -> PeerRequest:
    """The requester withdraws their request, whoever has it."""
    request, level, _ = await _visible(session, actor, request_id, now)
    if level != "own":
        raise NotFound()
    if request.status in (RequestStatus.closed, RequestStatus.withdrawn):
        return request
    request.status = "withdrawn"
    request.withdrawn_at = now
    session.add(request)
    audit.record(
        session,
        actor=actor,
        action="request.withdrawn",
        target_type="request",
        target_id=request.id,
        subject_id=actor.person_id,
        at=now,
    )
    await news.announce(session, request.id)
    return request


async def offer_to(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, peer_id: uuid.UUID, now: datetime, settings: Settings
) -> PeerRequest:
    """The lead offers a waiting request to one peer first (without learning who asked)."""
    if not actor.is_lead:
        raise NotFound()
    request, _ = await policy.access_request(
        session, actor, request_id, peer=await offer_facts(session, actor, now=now, settings=settings), now=now
    )
    if request.status != RequestStatus.open:
        raise Conflict("This request is no longer waiting.")
    if peer_id == request.requester_id or not await _is_active_peer(session, peer_id):
        raise InvalidInput.field("peer_id", "Choose an active peer supporter.")
    request.preferred_peer_id = peer_id
    request.named_peer_until = now + timedelta(minutes=settings.named_peer_window_minutes)
    session.add(request)
    audit.record(
        session,
        actor=actor,
        action="request.offered",
        target_type="request",
        target_id=request.id,
        details={"peer_id": peer_id},
        at=now,
    )
    return request


# -- reading -------------------------------------------------------------------------------


@dataclass
class RequestView:
    request: PeerRequest
    level: str  # own | taken | offered | status
    requester_name: str | None = None
    accepted_by_name: str | None = None
    preferred_peer_name: str | None = None
    contact: str | None = None
    message: str | None = None

    @property
    def conversation_state(self) -> str:
        """What anyone who sees the request may know of its conversation: whether there is one."""
        return rules.conversation_state(self.request)

    @property
    def status_label(self) -> str:
        r = self.request
        if r.status == RequestStatus.open:
            return "Waiting for a peer"
        if r.status == RequestStatus.accepted:
            return f"Accepted by {self.accepted_by_name}" if self.accepted_by_name else "Accepted"
        if r.status == RequestStatus.closed:
            return "Closed: " + OUTCOME_LABELS.get(r.outcome or "", "")
        return "Withdrawn"


async def _view(
    session: AsyncSession, actor: Actor, request: PeerRequest, level: str, settings: Settings, now: datetime
) -> RequestView:
    names = await accounts.names_of(session, [request.requester_id, request.accepted_by_id, request.preferred_peer_id])
    view = RequestView(request=request, level=level)
    if level in ("own", "taken", "status", "offered"):
        view.accepted_by_name = names.get(request.accepted_by_id) if request.accepted_by_id else None
    if level in ("own", "taken"):
        view.preferred_peer_name = names.get(request.preferred_peer_id) if request.preferred_peer_id else None
        view.contact = crypto.decrypt(settings, request.contact_encrypted)
        view.message = crypto.decrypt(settings, request.message_encrypted)
    if level == "taken":
        view.requester_name = rules.requester_label(request, names.get(request.requester_id))
        audit.record_row(session, actor=actor, action="request.message_read", row=request, at=now)
    return view


async def request_detail(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, settings: Settings, now: datetime
) -> RequestView:
    request, level, _ = await _visible(session, actor, request_id, now, settings)
    if level != "own":
        audit.record(
            session,
            actor=actor,
            action="request.viewed",
            target_type="request",
            target_id=request.id,
            subject_id=request.requester_id if level != "status" else None,
            at=now,
        )
    return await _view(session, actor, request, level, settings, now)


async def list_requests(
    session: AsyncSession,
    *,
    actor: Actor,
    settings: Settings,
    now: datetime,
    mine_only: bool = False,
    limit: int = 200,
    offset: int = 0,
) -> list[RequestView]:
    """Requests in the actor's scope: own, offered to a peer, taken by them; the lead all."""
    peer = await offer_facts(session, actor, now=now, settings=settings)
    stmt = select(PeerRequest).where(policy.request_scope(actor, peer=peer, now=now))
    if mine_only:
        stmt = stmt.where(PeerRequest.requester_id == actor.id)
    stmt = stmt.order_by(col(PeerRequest.created_at).desc()).limit(limit).offset(offset)
    views = []
    for request in await session.exec(stmt):
        level = policy.request_access(actor, request, peer=peer, now=now)
        if level is None:
            continue
        view = RequestView(request=request, level=level)
        if level in ("own", "taken", "status"):
            names = await accounts.names_of(session, [request.accepted_by_id, request.requester_id])
            view.accepted_by_name = names.get(request.accepted_by_id) if request.accepted_by_id else None
            if level == "taken":
                view.requester_name = rules.requester_label(request, names.get(request.requester_id))
        views.append(view)
    return views


async def own_requests_section(
    session: AsyncSession, *, record: dict[str, object], actor: Actor, settings: Settings
) -> None:
    """Adds the person's requests, with their messages, to their own record."""
    rows = await session.exec(
        select(PeerRequest).where(PeerRequest.requester_id == actor.id).order_by(col(PeerRequest.created_at))
    )
    names = {}
    out = []
    for r in rows:
        if r.accepted_by_id and r.accepted_by_id not in names:
            names.update(await accounts.names_of(session, [r.accepted_by_id]))
        said = await session.exec(
            select(ConversationMessage)
            .where(col(ConversationMessage.request_id) == r.id)
            .order_by(col(ConversationMessage.created_at), col(ConversationMessage.id))
        )
        talk = [
            f"{m.created_at:%Y-%m-%d %H:%M} "
            f"{'You' if m.author_id == actor.id else names.get(m.author_id, 'Peer')}: "
            f"{crypto.decrypt(settings, m.body_encrypted)}"
            for m in said
        ]
        out.append(
            {
                "id": str(r.id),
                "created_at": r.created_at,
                "status": r.status,
                "urgency": r.urgency,
                "contact_method": r.contact_method,
                "contact": crypto.decrypt(settings, r.contact_encrypted),
                "message": crypto.decrypt(settings, r.message_encrypted),
                "safety_concern": r.safety_concern,
                "accepted_by": names.get(r.accepted_by_id) if r.accepted_by_id else None,
                "outcome": r.outcome,
                "anonymous": r.anonymous,
                "conversation": talk,
            }
        )
    record["requests"] = out


# What this area adds to a person's own record (trim.records.service composes them).
RECORD_SECTIONS = (own_requests_section,)
