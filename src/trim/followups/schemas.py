"""API shapes for check-ins."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field


class PersonRef(BaseModel):
    id: uuid.UUID
    name: str


class CheckinOut(BaseModel):
    id: uuid.UUID
    person: PersonRef
    # null for a periodic check-in (kind "periodic": a high-exposure group's, no incident)
    incident_id: uuid.UUID | None
    kind: str
    due_at: datetime
    status: str
    peer_id: uuid.UUID | None
    self_answered: bool = Field(
        default=False, description="The person answered the questions themselves (POST /api/checkins/{id}/self)"
    )
    self_completed: bool = Field(
        default=False,
        description="Completed from the person's own answers without a conversation (they preferred not to talk)",
    )


class ReturnToWorkIn(BaseModel):
    returned_on: date  # the day the person is (or will be) back at work, in the organisation's zone


class ReturnCheckinOut(BaseModel):
    id: uuid.UUID
    kind: str
    due_at: datetime
    status: str


class ReturnToWorkOut(BaseModel):
    # True when a return-to-work follow-up had been started already: nothing new was made.
    already_started: bool
    checkins: list[ReturnCheckinOut]
