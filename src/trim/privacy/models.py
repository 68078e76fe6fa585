"""The audit log: append-only, each event chained to the one before by a hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from trim.db import utcnow


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when. Ids and states only, never content."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_id_at", "subject_id", "at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_at", "at"),
    )

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(default_factory=utcnow)
    actor_id: str | None = Field(default=None, max_length=80)  # person id, "token:<id>", or "system"
    action: str = Field(max_length=60)  # noun.verb
    target_type: str = Field(max_length=40)
    target_id: str | None = Field(default=None, max_length=80)
    # The person the record is about, so they can see who read it.
    subject_id: str | None = Field(default=None, max_length=80)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
