"""API shapes for high-exposure groups (design section 14)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    cadence_days: int


class GroupOut(BaseModel):
    id: uuid.UUID
    name: str
    cadence_days: int
    members: int


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_ids: list[uuid.UUID]


class MemberOut(BaseModel):
    person_id: uuid.UUID
    joined_at: datetime


class MembershipOut(BaseModel):
    group_id: uuid.UUID
    name: str
    cadence_days: int
    joined_at: datetime


class PeriodicOut(BaseModel):
    groups: list[MembershipOut]
    opted_out: bool


class PeriodicIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opted_out: bool
