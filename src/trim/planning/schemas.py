"""API shapes for the planning meeting and group briefings."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class RouteIn(BaseModel):
    person_id: uuid.UUID
    route: str = Field(description="risk_assessment (the default) | briefing_only | no_action")
    reason: str | None = Field(default=None, max_length=200, description="Required for no_action.")


class PlanningIn(BaseModel):
    held_at: datetime = Field(description="When the planning meeting was held, ISO 8601 with a zone.")
    attendees: list[uuid.UUID] = Field(default_factory=list, max_length=1000, description="Who attended (people).")
    routes: list[RouteIn] = Field(
        default_factory=list,
        max_length=1000,
        description="A route per exposed person; anyone not listed has risk assessment (the default).",
    )
    version: int | None = Field(
        default=None,
        ge=0,
        le=2_000_000_000,
        description="The version you read (GET); required once a record exists. A stale one answers 409 "
        "with what changed since.",
    )


class RouteOut(BaseModel):
    person_id: uuid.UUID
    name: str
    route: str
    reason: str | None


class BriefingOut(BaseModel):
    id: uuid.UUID
    held_at: datetime
    facilitator_id: uuid.UUID
    attendee_ids: list[uuid.UUID]


class PlanningOut(BaseModel):
    incident_id: uuid.UUID
    held: bool
    held_at: datetime | None
    version: int = Field(description="0 while no planning record exists.")
    attendees: list[uuid.UUID]
    routes: list[RouteOut]
    updated_at: datetime | None
    planning_due: bool
    briefings: list[BriefingOut]


class BriefingIn(BaseModel):
    """Date, facilitator and attendance only: any other field (notes, summary, reactions)
    is refused with 422, on purpose (design section 12; NICE NG116)."""

    model_config = ConfigDict(extra="allow")

    held_at: datetime
    facilitator_id: uuid.UUID
    attendee_ids: list[uuid.UUID] = Field(max_length=1000)
