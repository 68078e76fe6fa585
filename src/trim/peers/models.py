"""Looking after the peer supporters (design section 13): training, caseload, rest,
supervision, and the quiet-peer clock of a check-in."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class PeerCourse(SQLModel, table=True):
    """A course a peer supporter completed, kept by the lead; the peer sees their own."""

    __tablename__ = "peer_courses"
    __table_args__ = (
        UniqueConstraint("person_id", "name", name="uq_peer_courses_person_id_name"),
        Index("ix_peer_courses_refresher_due", "refresher_due"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    name: str = Field(max_length=120)
    completed_on: date
    # None: the course needs no refresher.
    refresher_due: date | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class PeerState(SQLModel, table=True):
    """What only a peer supporter has: rest (set by themselves, no reason asked) and a
    caseload cap (set by the lead; None takes TRIM_PEER_CASELOAD_CAP)."""

    __tablename__ = "peer_states"

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    # Resting through this day (organisation's zone); not assigned meanwhile.
    resting_until: date | None = None
    caseload_cap: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class SupervisionOutcome(StrEnum):
    held = "held"
    declined = "declined"
    not_needed = "not_needed"


class SupervisionTask(SQLModel, table=True):
    """A peer asked to talk a check-in over. By design it holds the peer, the date and the
    outcome, never the person supported nor the incident (a schema test keeps it so)."""

    __tablename__ = "supervision_tasks"
    __table_args__ = (Index("ix_supervision_tasks_peer_id", "peer_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    peer_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    due: date
    outcome: str | None = Field(default=None, max_length=20)
    outcome_at: datetime | None = None
    outcome_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")


class QuietClock(SQLModel, table=True):
    """The quiet-peer clock of one open check-in: when it last (re)started for the peer
    who has it now, and the one "tried to reach them" that peer may log."""

    __tablename__ = "quiet_clocks"

    checkin_id: uuid.UUID = Field(foreign_key="checkins.id", primary_key=True, ondelete="CASCADE")
    peer_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    # When this peer's clock started (the move to them); None: from the due window's end.
    started_at: datetime | None = None
    contact_attempted_at: datetime | None = None


class PeerNotice(SQLModel, table=True):
    """A notice about a peer that must go once (a refresher 60 days ahead, on the day):
    the unique key is the claim when several workers sweep at once."""

    __tablename__ = "peer_notices"
    __table_args__ = (UniqueConstraint("person_id", "kind", "on_date", name="uq_peer_notices_person_id_kind_on_date"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)  # "lapse_soon" | "lapsed" | "rest_over"
    on_date: date
    created_at: datetime = Field(default_factory=utcnow)
