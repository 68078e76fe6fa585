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


class FlagStatusOut(BaseModel):
    id: uuid.UUID
    status: str
