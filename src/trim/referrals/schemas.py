"""API shapes for referrals (the flags' own: trim.flags.schemas)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from trim.assessments.schemas import StrictBool


class ReferralIn(BaseModel):
    clinician_id: uuid.UUID | None = Field(default=None, description="A person with the clinician role")
    service_id: uuid.UUID | None = Field(default=None, description="Or a service from the lead's directory")
    consent: StrictBool
    share_assessment: StrictBool = False


class ReferralCreated(BaseModel):
    id: uuid.UUID
    status: str


class StatusIn(BaseModel):
    status: Literal["contact_made", "taken_up", "not_taken_up", "closed"]


class PersonRef(BaseModel):
    id: uuid.UUID | None  # None while the person asked without their name (the name is a pseudonym)
    name: str


class SharedResult(BaseModel):
    instrument: str
    score: int
    band: str
    answers: dict[str, bool]


class SharedCheckin(BaseModel):
    kind: str
    recorded_at: datetime
    outcome: str
    score: int | None
    band: str | None
    results: list[SharedResult]
    notes: str | None


class ReferralOut(BaseModel):
    id: uuid.UUID
    person: PersonRef
    status: str
    created_at: datetime
    shared: bool = Field(
        description="The person themselves confirmed sharing the assessment with the clinician (and has not "
        "withdrawn consent)."
    )
    share_pending: bool = Field(
        default=False, description="Sharing was asked for and waits for the person's own OK; nothing is shared yet."
    )
    assessment: list[SharedCheckin] | None = Field(
        default=None, description="Only for the clinician it is addressed to, and only when shared."
    )
