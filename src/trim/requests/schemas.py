"""API shapes for requests for a peer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from trim.assessments.schemas import StrictBool


class RequestIn(BaseModel):
    urgency: Literal["today", "this_week", "when_convenient"]
    contact_method: Literal["phone", "text", "email", "in_person", "conversation"]
    contact: str | None = Field(default=None, max_length=200, description="Number or address (encrypted at rest)")
    avoid_own_station: StrictBool = False
    preferred_peer_id: uuid.UUID | None = None
    preferred_background: str | None = Field(default=None, max_length=200, description="Someone who ...")
    message: str | None = Field(default=None, max_length=2000, description="Encrypted at rest")
    safety_concern: StrictBool
    anonymous: StrictBool = Field(
        default=False,
        description="Without my name: the peer sees a pseudonym until the requester reveals it; needs "
        'contact_method "conversation" and no contact. A safety concern still reaches the lead with the name.',
    )


class RequestCreated(BaseModel):
    id: uuid.UUID
    status: str
    crisis_guidance: str | None = None


class CloseRequestIn(BaseModel):
    outcome: Literal["supported", "referred", "ongoing_support", "no_further_contact"]


class RequestOut(BaseModel):
    id: uuid.UUID
    status: str
    urgency: str
    contact_method: str
    created_at: datetime
    accepted_at: datetime | None
    escalated: bool
    access: str = Field(description="own | taken | offered | status: how much of it the caller may see")
    requester: str | None = Field(
        default=None, description="Only for the peer who took it: the name, or the pseudonym of a request without one"
    )
    anonymous: bool = False
    contact: str | None = None
    message: str | None = None
    preferred_background: str | None = None
    conversation: Literal["waiting", "open", "closed"] = Field(
        default="waiting", description="Whether the requester and the peer who took it have a conversation"
    )


class MessageIn(BaseModel):
    client_id: str = Field(
        description="Chosen by the sender, one per message (a UUID will do): a resend with the same "
        "client_id is stored once and answers 200 with the stored message"
    )
    body: str = Field(description="The message (encrypted at rest); 1 to TRIM_CONVERSATION_MESSAGE_MAX characters")


class MessageOut(BaseModel):
    id: uuid.UUID
    client_id: str
    mine: bool
    author: str = Field(description="\"You\", the peer's name, or the requester's name or pseudonym")
    body: str
    sent_at: datetime


class ConversationOut(BaseModel):
    request_id: uuid.UUID
    state: Literal["waiting", "open", "closed"]
    requester: str = Field(description="The requester's name, or their pseudonym until they reveal it")
    peer: str | None
    messages: list[MessageOut]
