"""API shapes for requests for a peer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from trim.assessments.schemas import StrictBool


class RequestIn(BaseModel):
    urgency: Literal["today", "this_week", "when_convenient"]
    contact_method: Literal["phone", "text", "email", "in_person"]
    contact: str | None = Field(default=None, max_length=200, description="Number or address (encrypted at rest)")
    avoid_own_station: StrictBool = False
    preferred_peer_id: uuid.UUID | None = None
    preferred_background: str | None = Field(default=None, max_length=200, description="Someone who ...")
    message: str | None = Field(default=None, max_length=2000, description="Encrypted at rest")
    safety_concern: StrictBool


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
    requester: str | None = Field(default=None, description="Only for the peer who took it")
    contact: str | None = None
    message: str | None = None
    preferred_background: str | None = None
