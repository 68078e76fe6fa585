"""The conversation on a request: the requester and the peer who took it, nobody else.

Messages are encrypted at rest under the rotating keys; each read and each write is
audited (ids only). A resend with the same client_id stores once. The other side is
emailed "you have a new message" with a link, at most once per
TRIM_CONVERSATION_EMAIL_MINUTES: the claim is a conditional UPDATE of the request's
`*_notified_at`, so two messages at once send one email.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.accounts import service as accounts
from trim.accounts.actor import Actor
from trim.config import Settings
from trim.db import dialect_insert, new_id
from trim.errors import Conflict, FieldError, InvalidInput, NotFound
from trim.notifications import service as notifications
from trim.privacy import audit, crypto, policy
from trim.requests import news, rules
from trim.requests.models import ConversationMessage, PeerRequest

CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass
class MessageView:
    id: uuid.UUID
    client_id: str
    mine: bool
    author: str
    body: str
    sent_at: datetime


@dataclass
class ConversationView:
    request: PeerRequest
    mine: bool  # the actor asked (False: the actor is the peer who took it)
    messages: list[MessageView] = field(default_factory=list)
    # How the requester is shown to the peer (a pseudonym until they reveal their name).
    requester_label: str = ""
    peer_name: str | None = None

    @property
    def state(self) -> str:
        return rules.conversation_state(self.request)

    @property
    def can_write(self) -> bool:
        return self.state == "open"

    @property
    def can_reveal(self) -> bool:
        return self.mine and self.state == "open" and rules.name_hidden(self.request)

    @property
    def named(self) -> bool:
        """Whether the requester's name shows (not anonymous, or revealed)."""
        return not rules.name_hidden(self.request)


async def _count(session: AsyncSession, request_id: uuid.UUID) -> int:
    total = await session.exec(
        select(func.count()).select_from(ConversationMessage).where(col(ConversationMessage.request_id) == request_id)
    )
    return int(total.one())


async def has_news(
    session: AsyncSession,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    seen: int,
    was_open: bool,
    was_named: bool | None = None,
) -> bool:
    """For polling: whether anything changed since the caller drew `seen` messages (and the
    conversation was open or not; and, given `was_named`, the requester's name showed or
    not: a reveal changes every message's author). Reads no content, so writes no audit event."""
    request = await policy.access_conversation(session, actor, request_id)
    still_open = rules.conversation_state(request) == "open"
    if was_named is not None and (not rules.name_hidden(request)) != was_named:
        return True
    return still_open != was_open or await _count(session, request_id) != seen


async def read(
    session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, settings: Settings, now: datetime
) -> ConversationView:
    """The conversation, oldest first, for the requester or the peer who took it (404 for
    everyone else). Audited when it shows any message."""
    request = await policy.access_conversation(session, actor, request_id)
    names = await accounts.names_of(session, [request.requester_id, request.accepted_by_id])
    view = ConversationView(
        request=request,
        mine=request.requester_id == actor.id,
        requester_label=rules.requester_label(request, names.get(request.requester_id)),
        peer_name=names.get(request.accepted_by_id) if request.accepted_by_id else None,
    )
    rows = await session.exec(
        select(ConversationMessage)
        .where(col(ConversationMessage.request_id) == request.id)
        .order_by(col(ConversationMessage.created_at), col(ConversationMessage.id))
    )
    for message in rows:
        if message.author_id == actor.id:
            author = "You"
        elif message.author_id == request.requester_id:
            author = view.requester_label
        else:
            author = view.peer_name or "Your peer supporter"
        view.messages.append(
            MessageView(
                id=message.id,
                client_id=message.client_id,
                mine=message.author_id == actor.id,
                author=author,
                body=crypto.decrypt(settings, message.body_encrypted) or "",
                sent_at=message.created_at,
            )
        )
    if view.messages:
        audit.record_row(
            session,
            actor=actor,
            action="conversation.read",
            row=request,
            details={"messages": len(view.messages)},
            at=now,
        )
    return view


def _checked(body: str | None, client_id: str | None, settings: Settings) -> tuple[str, str]:
    errors: list[FieldError] = []
    text = (body or "").strip()
    if not text:
        errors.append(FieldError("body", "Write a message first."))
    elif len(text) > settings.conversation_message_max:
        errors.append(FieldError("body", f"Keep a message under {settings.conversation_message_max} characters."))
    key = (client_id or "").strip()
    if not CLIENT_ID.match(key):
        errors.append(
            FieldError("client_id", "client_id must be 1 to 64 letters, digits or - _ . : (one per message).")
        )
    if errors:
        raise InvalidInput("Your message was not sent: " + errors[0].message, errors)
    return text, key


async def send(
    session: AsyncSession,
    *,
    actor: Actor,
    request_id: uuid.UUID,
    body: str | None,
    client_id: str | None,
    settings: Settings,
    now: datetime,
) -> tuple[MessageView, bool]:
    """Write in the conversation; returns the message and whether it is new (False: a resend
    of one already stored under the same client_id, which is not stored again)."""
    request = await policy.access_conversation(session, actor, request_id)
    text, key = _checked(body, client_id, settings)
    state = rules.conversation_state(request)
    if state == "waiting":
        raise Conflict("The conversation starts once a peer takes the request.")
    if state == "closed":
        raise Conflict("This conversation ended with the request; it can be read but not added to.")
    message_id = new_id()
    inserted = await session.exec(
        dialect_insert(session, ConversationMessage)
        .values(
            id=message_id,
            request_id=request.id,
            author_id=actor.id,
            client_id=key,
            body_encrypted=crypto.encrypt(settings, text),
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(ConversationMessage.id))
    )
    created = inserted.first() is not None
    if not created:
        stored = (
            await session.exec(
                select(ConversationMessage).where(
                    col(ConversationMessage.request_id) == request.id,
                    col(ConversationMessage.author_id) == actor.id,
                    col(ConversationMessage.client_id) == key,
                )
            )
        ).one()
        if crypto.decrypt(settings, stored.body_encrypted) != text:
            raise Conflict("That client_id was already used for a different message; use a new one per message.")
        return MessageView(stored.id, key, True, "You", text, stored.created_at), False
    audit.record_row(
        session,
        actor=actor,
        action="conversation.message_sent",
        row=request,
        details={"message_id": message_id},
        at=now,
    )
    await _tell_the_other_side(session, actor=actor, request=request, settings=settings, now=now)
    await news.announce(session, request.id)
    return MessageView(message_id, key, True, "You", text, now), True


async def _tell_the_other_side(
    session: AsyncSession, *, actor: Actor, request: PeerRequest, settings: Settings, now: datetime
) -> None:
    """One email per person per conversation per TRIM_CONVERSATION_EMAIL_MINUTES, claimed
    with a conditional UPDATE so that messages at once cannot both send one."""
    to_requester = actor.id != request.requester_id
    recipient = request.requester_id if to_requester else request.accepted_by_id
    if recipient is None:
        return
    name = "requester_notified_at" if to_requester else "peer_notified_at"
    column = col(getattr(PeerRequest, name))
    quiet_since = now - timedelta(minutes=settings.conversation_email_minutes)
    claimed = await session.exec(
        update(PeerRequest)
        .where(col(PeerRequest.id) == request.id, or_(column.is_(None), column <= quiet_since))
        .values({name: now})
        .execution_options(synchronize_session=False)
    )
    if (claimed.rowcount or 0) != 1:
        return
    await notifications.enqueue(
        session,
        person_id=recipient,
        kind="conversation_message",
        subject="You have a new message",
        body="Someone has written to you in trim about a request for a peer. Open the link to read it.",
        link=f"/requests/{request.id}#conversation",
        now=now,
    )


async def reveal_name(session: AsyncSession, *, actor: Actor, request_id: uuid.UUID, now: datetime) -> PeerRequest:
    """The requester shows their name to the peer who took their request. Only they can."""
    request = await policy.access_conversation(session, actor, request_id)
    if request.requester_id != actor.id:
        raise NotFound()
    if not rules.name_hidden(request):
        return request
    if rules.conversation_state(request) != "open":
        raise Conflict("Your name can be shown to the peer once they have taken your request, until it closes.")
    request.name_revealed_at = now
    session.add(request)
    audit.record_row(session, actor=actor, action="request.name_revealed", row=request, at=now)
    await news.announce(session, request.id)
    return request
