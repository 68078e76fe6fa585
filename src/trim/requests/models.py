"""Asking for a peer: any responder, at any time."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class Urgency(StrEnum):
    today = "today"
    this_week = "this_week"
    when_convenient = "when_convenient"


class ContactMethod(StrEnum):
    phone = "phone"
    text = "text"
    email = "email"
    in_person = "in_person"
    # In the request's own conversation, here in trim (the only way for a request without a name).
    conversation = "conversation"


class RequestStatus(StrEnum):
    open = "open"  # waiting for a peer
    accepted = "accepted"  # a peer took it
    closed = "closed"  # the peer recorded an outcome
    withdrawn = "withdrawn"  # the requester took it back


class RequestOutcome(StrEnum):
    supported = "supported"
    referred = "referred"
    ongoing_support = "ongoing_support"
    no_further_contact = "no_further_contact"


URGENCY_LABELS = {"today": "Today", "this_week": "This week", "when_convenient": "When convenient"}
CONTACT_LABELS = {
    "phone": "Phone call",
    "text": "Text message",
    "email": "Email",
    "in_person": "In person",
    "conversation": "Write to me here in trim",
}
OUTCOME_LABELS = {
    "supported": "Talked; supported",
    "referred": "Referred to professional help",
    "ongoing_support": "Ongoing support with check-ins",
    "no_further_contact": "No further contact wanted",
}


class PeerRequest(SQLModel, table=True):
    """A request for a peer. Message and contact detail are encrypted at rest."""

    __tablename__ = "peer_requests"
    __table_args__ = (
        Index("ix_peer_requests_status_created_at", "status", "created_at"),
        Index("ix_peer_requests_requester_id", "requester_id"),
        Index("ix_peer_requests_accepted_by_id", "accepted_by_id"),
        # The dashboard: requests of a period; a person's accepted requests (first contact).
        Index("ix_peer_requests_created_at", "created_at"),
        Index("ix_peer_requests_requester_id_accepted_at", "requester_id", "accepted_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    requester_id: uuid.UUID = Field(foreign_key="people.id")
    # The requester's station when they asked (for "not from my station").
    requester_station_id: uuid.UUID | None = Field(default=None, foreign_key="stations.id")
    urgency: str = Field(max_length=20)
    contact_method: str = Field(max_length=20)
    contact_encrypted: str | None = None
    avoid_own_station: bool = False
    preferred_peer_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    # Until this time only the named peer sees it; then everyone who matches.
    named_peer_until: datetime | None = None
    preferred_background: str | None = Field(default=None, max_length=200)
    message_encrypted: str | None = None
    safety_concern: bool = False
    status: str = Field(default=RequestStatus.open.value, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    accepted_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    accepted_at: datetime | None = None
    first_contact_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=30)
    escalated_at: datetime | None = None
    withdrawn_at: datetime | None = None
    purged_at: datetime | None = None
    # Without my name: the peer sees the pseudonym until the requester reveals their name.
    anonymous: bool = False
    pseudonym: str | None = Field(default=None, max_length=20)
    name_revealed_at: datetime | None = None
    # When each side was last emailed about a new message (at most one per TRIM_CONVERSATION_EMAIL_MINUTES).
    requester_notified_at: datetime | None = None
    peer_notified_at: datetime | None = None


class ConversationMessage(SQLModel, table=True):
    """One message between the requester and the peer who took their request; encrypted at rest."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        # A resend over a flaky connection stores once.
        UniqueConstraint("request_id", "author_id", "client_id", name="uq_conversation_messages_client_id"),
        Index("ix_conversation_messages_request_id_created_at", "request_id", "created_at"),
        Index("ix_conversation_messages_author_id", "author_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="peer_requests.id", ondelete="CASCADE")
    author_id: uuid.UUID = Field(foreign_key="people.id")
    client_id: str = Field(max_length=64)
    body_encrypted: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)
