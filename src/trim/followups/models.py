"""The check-in schedule: one row per exposed person per interval."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class Outcome(StrEnum):
    completed = "completed"
    declined = "declined"
    unreachable = "unreachable"
    not_needed = "not_needed"
    cancelled = "cancelled"


class CheckInStatus(StrEnum):
    """What a check-in shows: its outcome once recorded, else where the clock stands."""

    upcoming = "upcoming"
    due = "due"
    overdue = "overdue"
    completed = Outcome.completed.value
    declined = Outcome.declined.value
    unreachable = Outcome.unreachable.value
    not_needed = Outcome.not_needed.value
    cancelled = Outcome.cancelled.value


# The periodic check-ins the unique rule holds (the migration uses the same words).
PERIODIC_LIVE = "kind = 'periodic' AND (outcome IS NULL OR outcome <> 'cancelled')"


class CheckIn(SQLModel, table=True):
    __tablename__ = "checkins"
    __table_args__ = (
        # One check-in of each kind per exposure, except "monitor": watchful waiting can
        # follow a flag more than once (design section 4).
        Index(
            "uq_checkins_exposure_id_kind",
            "exposure_id",
            "kind",
            unique=True,
            postgresql_where=text("kind <> 'monitor'"),
            sqlite_where=text("kind <> 'monitor'"),
        ),
        # A periodic check-in (design section 14) has no exposure: one per person per
        # scheduled time, which is what lets two workers sweep the cadence at once. A
        # cancelled one (left the group, opted out) steps aside for its replacement.
        Index(
            "uq_checkins_periodic_person_id_scheduled_for",
            "person_id",
            "scheduled_for",
            unique=True,
            postgresql_where=text(PERIODIC_LIVE),
            sqlite_where=text(PERIODIC_LIVE),
        ),
        Index("ix_checkins_peer_id_due_at", "peer_id", "due_at"),
        Index("ix_checkins_person_id_due_at", "person_id", "due_at"),
        Index("ix_checkins_incident_id", "incident_id"),
        Index("ix_checkins_due_at", "due_at"),
        # The dashboard: a period's check-ins read from the index alone (PostgreSQL).
        Index(
            "ix_checkins_incident_id_kind_outcome",
            "incident_id",
            "kind",
            "outcome",
            postgresql_include=["due_at", "recorded_at", "person_id", "exposure_id", "peer_id", "id"],
        ),
        # The dashboard's peer caseloads: a period's open check-ins alone, by incident.
        Index(
            "ix_checkins_open_incident_id",
            "incident_id",
            postgresql_include=["peer_id", "person_id"],
            postgresql_where=text("outcome IS NULL"),
            sqlite_where=text("outcome IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # Both None for a periodic check-in (a high-exposure group's cadence, no incident).
    exposure_id: uuid.UUID | None = Field(default=None, foreign_key="exposures.id")
    # Copied from the exposure so lists and counts need no join.
    incident_id: uuid.UUID | None = Field(default=None, foreign_key="incidents.id")
    person_id: uuid.UUID = Field(foreign_key="people.id")
    peer_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    # "day3", "day28", ...; "rtw7", "rtw28" after a return to work; "monitor" (watchful
    # waiting on a flag) and "interim" (between day 3 and day 28), design section 4;
    # "periodic" for a high-exposure group's cadence (section 14).
    kind: str = Field(max_length=20)
    # Days from the incident (its local date) to this check-in: the order the flag rules read
    # (a periodic check-in: days since the person's first periodic one).
    offset_days: int
    # When the schedule says (same local time N days after the incident) ...
    scheduled_for: datetime
    # ... and when it is actually due: later than scheduled_for when caught up.
    due_at: datetime
    outcome: str | None = Field(default=None, max_length=20)
    outcome_reason: str | None = Field(default=None, max_length=500)
    recorded_at: datetime | None = None
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    # When the person answered the questionnaire themselves (design section 14), if they did.
    self_answered_at: datetime | None = None
    # Completed from the person's own answers without a conversation (they preferred not to
    # talk): outcome "completed", but not a conversation held. Dashboard conversations are
    # outcome = 'completed' AND NOT self_completed.
    self_completed: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class PeerChangeRequest(SQLModel, table=True):
    """A person asked for a different peer. It reaches the lead, never the peer."""

    __tablename__ = "peer_change_requests"
    __table_args__ = (Index("ix_peer_change_requests_resolved_at", "resolved_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    exposure_id: uuid.UUID = Field(foreign_key="exposures.id")
    person_id: uuid.UUID = Field(foreign_key="people.id")
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolved_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")


class CheckinReminder(SQLModel, table=True):
    """A reminder sent for a check-in at one stage ("due", "overdue"). The unique
    constraint is what makes it once, however many workers sweep at the same moment."""

    __tablename__ = "checkin_reminders"
    __table_args__ = (UniqueConstraint("checkin_id", "stage", name="uq_checkin_reminders_checkin_id_stage"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    checkin_id: uuid.UUID = Field(foreign_key="checkins.id", ondelete="CASCADE")
    stage: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
