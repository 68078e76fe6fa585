"""API shapes for peer care (design section 11, added 2026-12-01)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class CourseIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    completed_on: date
    refresher_due: date | None = None


class PeerProfileOut(BaseModel):
    available: bool
    resting_until: date | None
    caseload_cap: int
    open_people: int
    courses: list[CourseIO]
    supervision_due: date | None
    # Why nobody new is assigned to them today (unavailable, resting, training lapsed, at
    # their cap), or null when they may be.
    not_assigned_because: str | None = None


class PeerProfileIn(BaseModel):
    """Either or both; `resting_until: null` ends a rest, leaving it out changes nothing."""

    model_config = ConfigDict(extra="forbid")

    available: bool | None = None
    resting_until: date | None = None


class CaseloadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cap: int | None = Field(default=None, ge=1, le=500)


class CaseloadOut(BaseModel):
    person_id: uuid.UUID
    cap: int
    default: bool
    open_people: int


class PeerRowOut(BaseModel):
    person_id: uuid.UUID
    name: str
    available: bool
    resting_until: date | None
    caseload_cap: int
    open_people: int
    lapses_on: date | None
    supervision_due: date | None
    not_assigned_because: str | None


class SupervisionOut(BaseModel):
    id: uuid.UUID
    peer_id: uuid.UUID
    created_at: datetime
    due: date
    outcome: str | None


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str


class ContactAttemptOut(BaseModel):
    # False when this peer had already logged a try (the clock resets once).
    logged: bool
    contact_attempted_at: datetime | None
