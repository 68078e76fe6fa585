"""A note the person shares with a manager: one exact text, encrypted at rest."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class NoteStatus(StrEnum):
    suggested = "suggested"  # a peer's wording, waiting for the person; nobody else sees it
    shared = "shared"  # released by the person to the manager they picked
    withdrawn = "withdrawn"  # taken back by the person: the manager sees nothing of it


class SharedNote(SQLModel, table=True):
    """What the person lets one manager read. The text is theirs: they wrote it or
    approved a peer's suggestion; only they release or withdraw it."""

    __tablename__ = "shared_notes"
    __table_args__ = (
        Index("ix_shared_notes_person_id", "person_id"),
        Index("ix_shared_notes_manager_id_status", "manager_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id")
    # Chosen by the person when they release it; None while it is a peer's suggestion.
    manager_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    text_encrypted: str
    status: str = Field(default=NoteStatus.shared.value, max_length=20)
    suggested_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    created_at: datetime = Field(default_factory=utcnow)
    shared_at: datetime | None = None
    withdrawn_at: datetime | None = None
