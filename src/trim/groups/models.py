"""High-exposure groups (design section 14): roles exposed every week without a single
incident to log, offered a periodic check-in at the group's cadence."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class ExposureGroup(SQLModel, table=True):
    """A group the lead tags (control room, crime scene investigators, ...) with a cadence."""

    __tablename__ = "exposure_groups"
    __table_args__ = (UniqueConstraint("name", name="uq_exposure_groups_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=80)
    cadence_days: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExposureGroupMember(SQLModel, table=True):
    """A person in a group since joined_at: their first periodic check-in falls due then."""

    __tablename__ = "exposure_group_members"

    group_id: uuid.UUID = Field(foreign_key="exposure_groups.id", primary_key=True, ondelete="CASCADE")
    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    joined_at: datetime = Field(default_factory=utcnow)


class PeriodicOptOut(SQLModel, table=True):
    """The person declined periodic check-ins once for all (their choice, no reason asked)."""

    __tablename__ = "periodic_opt_outs"

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    opted_out_at: datetime = Field(default_factory=utcnow)
