"""API shapes for flags."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class FlagOut(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID | None = Field(
        description="null on a flag born of a request without a name, for the peer who took it, until the "
        "requester shows their name"
    )
    cause: str
    status: str
    urgent: bool
    raised_at: datetime


class CloseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class AcknowledgeIn(BaseModel):
    action: str = Field(
        description="What was done straight away: stayed_with_them | crisis_line | emergency_department | "
        "told_on_call | other"
    )
    note: str | None = Field(default=None, max_length=200, description="A few words; required for other")


class AcknowledgedOut(BaseModel):
    id: uuid.UUID
    acknowledged_at: datetime
    action: str


class FlagStatusOut(BaseModel):
    id: uuid.UUID
    status: str


class MonitorIn(BaseModel):
    days: int | None = Field(
        default=None, description="Days until the extra check-in: 7-28 (the settings' bounds); default 14"
    )


class MonitoringOut(BaseModel):
    id: uuid.UUID
    status: str
    checkin_id: uuid.UUID
