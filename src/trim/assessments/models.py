"""Recorded check-ins (assessments) and their scores (the flags they raise: trim.flags)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class Assessment(SQLModel, table=True):
    """One record of a check-in. A correction is a new version; the old one is kept."""

    __tablename__ = "assessments"
    __table_args__ = (
        UniqueConstraint("checkin_id", "version", name="uq_assessments_checkin_id_version"),
        Index("ix_assessments_person_id_recorded_at", "person_id", "recorded_at"),
        Index("ix_assessments_recorded_by_id", "recorded_by_id"),
        # The dashboard: the current band of a check-in, from the index alone (PostgreSQL).
        Index(
            "ix_assessments_checkin_id_current",
            "checkin_id",
            postgresql_include=["band"],
            postgresql_where=text("is_current"),
            sqlite_where=text("is_current"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    checkin_id: uuid.UUID = Field(foreign_key="checkins.id")
    person_id: uuid.UUID = Field(foreign_key="people.id")
    version: int = 1
    is_current: bool = True
    outcome: str = Field(max_length=20)  # completed | declined | unreachable | not_needed
    reason: str | None = Field(default=None, max_length=500)
    safety_concern: bool = False
    # The trim_risk result, copied here for lists and the dashboard.
    score: int | None = None
    band: str | None = Field(default=None, max_length=30)
    notes_encrypted: str | None = None
    opted_out: bool = False
    # The answers are the person's own (design section 14): the row they gave themselves
    # (version 0, never current: the peer's record is the check-in's), and a peer's record
    # completed from them when the person preferred not to talk.
    answered_by_person: bool = False
    correction_reason: str | None = Field(default=None, max_length=500)
    recorded_by_id: uuid.UUID = Field(foreign_key="people.id")
    recorded_at: datetime = Field(default_factory=utcnow)
    # Keep less (design section 4): when the item-level answers and notes were deleted,
    # TRIM_ANSWER_RETENTION_DAYS after the exposure closed; score, band and outcome stay.
    answers_deleted_at: datetime | None = None


class AssessmentResult(SQLModel, table=True):
    """One instrument's answers and result within an assessment, with its version."""

    __tablename__ = "assessment_results"
    __table_args__ = (
        UniqueConstraint("assessment_id", "instrument_id", name="uq_assessment_results_assessment_id_instrument_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    assessment_id: uuid.UUID = Field(foreign_key="assessments.id")
    instrument_id: str = Field(max_length=40)
    instrument_version: int
    score: int
    band: str = Field(max_length=30)
    flagged: bool = False
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class InstrumentSnapshot(SQLModel, table=True):
    """The exact definition an assessment used, so changing a file never rewrites history."""

    __tablename__ = "instrument_snapshots"
    __table_args__ = (
        UniqueConstraint("instrument_id", "version", name="uq_instrument_snapshots_instrument_id_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: str = Field(max_length=40)
    version: int
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
