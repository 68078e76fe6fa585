"""API shapes for incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal[
    "child_death",
    "colleague_death_or_injury",
    "mass_casualty",
    "suicide",
    "violence_against_staff",
    "difficult_rescue",
    "other",
]
ExposureKindLiteral = Literal["direct", "witness", "support"]


class ExposureIn(BaseModel):
    person_id: uuid.UUID | None = Field(default=None, description="Who was exposed (or staff_number).")
    staff_number: str | None = Field(default=None, max_length=40, description="Integrations may name people by it.")
    exposure: ExposureKindLiteral


class IncidentIn(BaseModel):
    occurred_at: datetime = Field(description="ISO 8601 with a zone, e.g. 2026-11-26T09:00:00Z")
    kind: Kind
    kind_other: str | None = Field(default=None, max_length=120)
    station_id: uuid.UUID
    summary: str = Field(max_length=1000, description="Short and non-clinical.")
    exposures: list[ExposureIn] = Field(default_factory=list, max_length=1000)


class IncidentChangeIn(BaseModel):
    occurred_at: datetime
    kind: Kind
    kind_other: str | None = Field(default=None, max_length=120)
    station_id: uuid.UUID
    summary: str = Field(max_length=1000)


class AddExposureIn(BaseModel):
    person_id: uuid.UUID | None = None
    staff_number: str | None = Field(default=None, max_length=40)
    exposure: ExposureKindLiteral


class CheckinBrief(BaseModel):
    id: uuid.UUID
    kind: str
    due_at: datetime
    status: str


class ExposureOut(BaseModel):
    person_id: uuid.UUID
    name: str
    exposure: str
    status_visible: bool = Field(description="False: names only (as the one who logged it).")
    peer_id: uuid.UUID | None = None
    checkins: list[CheckinBrief] | None = None


class IncidentOut(BaseModel):
    id: uuid.UUID
    occurred_at: datetime
    kind: str
    kind_other: str | None
    station_id: uuid.UUID | None
    summary: str
    logged_by: str
    exposures: list[ExposureOut]


class ReassignIn(BaseModel):
    peer_id: uuid.UUID
