"""Flags: a reason to offer a confidential referral, raised by a rule, acted on by a person."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class FlagStatus(StrEnum):
    open = "open"  # waiting for a peer or the lead
    referred = "referred"  # the person agreed to a referral
    declined = "declined"  # offered; the person said no (respected)
    closed = "closed"  # closed with a reason (already seeing their GP...)
    monitoring = "monitoring"  # watchful waiting: an extra check-in closes or reopens it


# Still waiting for an outcome: open, or watched by an extra check-in.
UNRESOLVED_FLAGS: tuple[str, ...] = (FlagStatus.open, FlagStatus.monitoring)


class Flag(SQLModel, table=True):
    """A reason to offer a confidential referral. Raised once per cause (cause_key is
    unique), open until a peer or the lead resolves it."""

    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("cause_key", name="uq_flags_cause_key"),
        Index("ix_flags_person_id", "person_id"),
        Index("ix_flags_status_raised_at", "status", "raised_at"),
        Index("ix_flags_exposure_id", "exposure_id"),
        Index("ix_flags_monitor_checkin_id", "monitor_checkin_id"),
        # The dashboard: flags with no incident (cumulative, from a request) by date raised.
        Index(
            "ix_flags_raised_at_unlinked",
            "raised_at",
            postgresql_where=text("exposure_id IS NULL"),
            sqlite_where=text("exposure_id IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id")
    exposure_id: uuid.UUID | None = Field(default=None, foreign_key="exposures.id")
    cause: str = Field(max_length=40)
    cause_key: str = Field(max_length=200)
    urgent: bool = False
    # a FlagStatus
    status: str = Field(default=FlagStatus.open.value, max_length=20)
    raised_at: datetime = Field(default_factory=utcnow)
    source_assessment_id: uuid.UUID | None = Field(default=None, foreign_key="assessments.id")
    source_request_id: uuid.UUID | None = Field(default=None, foreign_key="peer_requests.id")
    acknowledged_at: datetime | None = None
    acknowledged_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    # What was done at once (design section 4): one of rules.ACK_ACTIONS, and for "other"
    # a few words. The lead sees the action and how quickly, never the words.
    acknowledged_action: str | None = Field(default=None, max_length=30)
    acknowledged_note: str | None = Field(default=None, max_length=200)
    resolved_at: datetime | None = None
    resolved_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    resolution_reason: str | None = Field(default=None, max_length=500)
    # Watchful waiting: the extra check-in whose answers close or reopen this flag.
    monitor_checkin_id: uuid.UUID | None = Field(default=None, foreign_key="checkins.id")
