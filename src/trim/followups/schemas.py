"""API shapes for check-ins."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class PersonRef(BaseModel):
    id: uuid.UUID
    name: str


class CheckinOut(BaseModel):
    id: uuid.UUID
    person: PersonRef
    incident_id: uuid.UUID
    kind: str
    due_at: datetime
    status: str
    peer_id: uuid.UUID | None
