"""Incidents (potentially traumatic events) and who was exposed to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class IncidentKind(StrEnum):
    child_death = "child_death"
    colleague_death_or_injury = "colleague_death_or_injury"
    mass_casualty = "mass_casualty"
    suicide = "suicide"
    violence_against_staff = "violence_against_staff"
    difficult_rescue = "difficult_rescue"
    other = "other"


KIND_LABELS = {
    "child_death": "Death of a child",
    "colleague_death_or_injury": "Death or serious injury of a colleague",
    "mass_casualty": "Mass casualty",
    "suicide": "Suicide",
    "violence_against_staff": "Violence against crew or staff",
    "difficult_rescue": "Prolonged or difficult rescue",
    "other": "Other",
}


class ExposureKind(StrEnum):
    direct = "direct"
    witness = "witness"
    support = "support"


EXPOSURE_LABELS = {"direct": "Directly involved", "witness": "Witness", "support": "Supporting"}


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_occurred_at", "occurred_at"),
        Index("ix_incidents_station_id_occurred_at", "station_id", "occurred_at"),
        Index("ix_incidents_logged_by_person_id", "logged_by_person_id"),
        # The dashboard: the incidents of a period, read from the index alone (PostgreSQL).
        Index("ix_incidents_occurred_at_kind", "occurred_at", "kind", postgresql_include=["id", "station_id"]),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    occurred_at: datetime
    kind: str = Field(max_length=40)
    kind_other: str | None = Field(default=None, max_length=120)
    # None only for a support contact whose person has no station.
    station_id: uuid.UUID | None = Field(default=None, foreign_key="stations.id")
    summary: str = Field(max_length=1000)
    # Who logged it: a person, or an integration token (its name is recorded).
    logged_by_person_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    logged_by_token_id: uuid.UUID | None = Field(default=None, foreign_key="api_tokens.id")
    logged_by_label: str = Field(max_length=200)
    # "logged": a critical incident; "request": a support contact that grew out of a
    # request for a peer (never shown to supervisors, never counted as an incident).
    source: str = Field(default="logged", max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Exposure(SQLModel, table=True):
    """A person exposed to an incident, and the peer who supports them through it."""

    __tablename__ = "exposures"
    __table_args__ = (
        UniqueConstraint("incident_id", "person_id", name="uq_exposures_incident_id_person_id"),
        Index("ix_exposures_person_id", "person_id"),
        Index("ix_exposures_peer_id", "peer_id"),
        # The dashboard: who was exposed to a period's incidents, from the index alone
        # (PostgreSQL), and the few removed in error, to leave out.
        Index(
            "ix_exposures_incident_id_removed_at",
            "incident_id",
            "removed_at",
            postgresql_include=["id", "person_id", "exposure"],
        ),
        Index(
            "ix_exposures_removed_id",
            "id",
            postgresql_where=text("removed_at IS NOT NULL"),
            sqlite_where=text("removed_at IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID = Field(foreign_key="incidents.id")
    person_id: uuid.UUID = Field(foreign_key="people.id")
    exposure: str = Field(max_length=20)
    # The same peer for the same person and incident (continuity); None = unassigned.
    peer_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    added_at: datetime = Field(default_factory=utcnow)
    # Removed in error: open check-ins are cancelled, completed ones kept.
    removed_at: datetime | None = None
    # The person asked for no further check-ins for this incident.
    opted_out_at: datetime | None = None
    # De-identified by `trim purge` (the person is a stand-in from then on).
    purged_at: datetime | None = None
