"""API shapes for notes shared with a manager."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class SharedNoteOut(BaseModel):
    id: uuid.UUID
    access: str = Field(
        description='"manager": the note and its date; "status": the lead, that it was shared; '
        '"own": the person themselves'
    )
    status: str
    shared_at: datetime | None
    withdrawn_at: datetime | None = Field(default=None, description="Never shown to the manager")
    text: str | None = Field(default=None, description="The exact note; only to its manager and its person")
    person: str | None = Field(default=None, description="Who shared it")
    manager: str | None = Field(default=None, description="Who it was shared with (not shown to the manager)")
