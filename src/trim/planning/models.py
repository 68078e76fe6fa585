"""The planning meeting after an incident and group briefings (design section 12)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class Route(StrEnum):
    """What the planning meeting decided for one exposed person."""

    risk_assessment = "risk_assessment"  # the default: the check-ins logging scheduled
    briefing_only = "briefing_only"  # their check-ins are cancelled; they can still ask for a peer
    no_action = "no_action"  # cancelled too, with a reason


ROUTE_LABELS = {
    "risk_assessment": "Risk assessment",
    "briefing_only": "Briefing only",
    "no_action": "No action",
}


class PlanningRecord(SQLModel, table=True):
    """One planning meeting per incident: when it was held and who recorded it last.
    `version` grows with every change, so two people editing at once cannot lose a route."""

    __tablename__ = "planning_records"
    __table_args__ = (UniqueConstraint("incident_id", name="uq_planning_records_incident_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id")
    held_at: datetime
    version: int = Field(default=1)
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PlanningAttendee(SQLModel, table=True):
    """Who attended the planning meeting (staff: the lead, TRiM managers, peers)."""

    __tablename__ = "planning_attendees"
    __table_args__ = (
        UniqueConstraint("planning_id", "person_id", name="uq_planning_attendees_planning_id_person_id"),
        Index("ix_planning_attendees_person_id", "person_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    planning_id: uuid.UUID = Field(foreign_key="planning_records.id", ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id")


class PlanningRoute(SQLModel, table=True):
    """The route chosen for one exposed person. No row: risk assessment (the default)."""

    __tablename__ = "planning_routes"
    __table_args__ = (
        UniqueConstraint("exposure_id", name="uq_planning_routes_exposure_id"),
        Index("ix_planning_routes_incident_id", "incident_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id")
    exposure_id: uuid.UUID = Field(foreign_key="exposures.id")
    route: str = Field(max_length=20)
    # Required for no_action; a few words, not a clinical note. Goes with the case at purge.
    reason: str | None = Field(default=None, max_length=200)
    # The planning record's version that last set it: an editor holding an older version
    # is told exactly which routes changed since.
    version: int = Field(default=1)
    changed_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    changed_at: datetime = Field(default_factory=utcnow)


class Briefing(SQLModel, table=True):
    """A group briefing: date, facilitator and attendance only. There is no notes field, by
    design: single-session psychological debriefing is advised against (NICE NG116); a
    briefing is information about normal reactions and where help is."""

    __tablename__ = "briefings"
    __table_args__ = (Index("ix_briefings_incident_id", "incident_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id")
    held_at: datetime
    facilitator_id: uuid.UUID = Field(foreign_key="people.id")
    recorded_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    created_at: datetime = Field(default_factory=utcnow)


class BriefingAttendee(SQLModel, table=True):
    __tablename__ = "briefing_attendees"
    __table_args__ = (
        UniqueConstraint("briefing_id", "person_id", name="uq_briefing_attendees_briefing_id_person_id"),
        Index("ix_briefing_attendees_person_id", "person_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    briefing_id: uuid.UUID = Field(foreign_key="briefings.id", ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id")
