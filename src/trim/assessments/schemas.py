"""API shapes for instruments and recorded check-ins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field


def _only_bool(value: Any) -> bool:
    # JSON true/false only: "yes", 1 or "false" are refused rather than guessed.
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


StrictBool = Annotated[bool, BeforeValidator(_only_bool)]


class ItemOut(BaseModel):
    id: str
    text: str
    section: str
    phase: Literal["before", "during", "after"]
    self_text: str | None = Field(
        default=None, description="The first-person wording for the person answering themselves (null: as text)"
    )


class BandOut(BaseModel):
    name: str
    min: int
    label: str


class InstrumentOut(BaseModel):
    id: str
    version: int
    title: str
    items: list[ItemOut]
    offered_at: list[str]
    bands: list[BandOut]


class RecordIn(BaseModel):
    outcome: Literal["completed", "declined", "unreachable", "not_needed"]
    reason: str | None = Field(default=None, max_length=500)
    answers: dict[str, dict[str, StrictBool]] = Field(
        default_factory=dict, description="{instrument id: {item id: true|false}} for every item offered"
    )
    safety_concern: StrictBool = Field(
        description="Thoughts of harming themselves or others: true raises an urgent flag at once."
    )
    notes: str | None = Field(
        default=None,
        max_length=5000,
        description="Encrypted at rest; only the peer who held the check-in and the person can read them.",
    )
    opt_out: StrictBool = Field(default=False, description="The person wants no further check-ins for this incident.")
    preferred_not_to_talk: StrictBool = Field(
        default=False,
        description="The person answered the questions themselves (POST /api/checkins/{id}/self) and preferred "
        "not to talk: with outcome completed and no answers, the check-in is completed from their own answers. "
        "It is not counted as a conversation (the check-in's self_completed is true).",
    )


class CorrectionIn(RecordIn):
    correction_reason: str = Field(min_length=1, max_length=500)


class ResultOut(BaseModel):
    instrument: str
    score: int
    band: str


class FlagBrief(BaseModel):
    id: uuid.UUID
    cause: str
    urgent: bool


class RecordOut(BaseModel):
    id: uuid.UUID
    checkin_id: uuid.UUID
    score: int | None
    band: str | None
    results: list[ResultOut]
    flags: list[FlagBrief]
    crisis_guidance: str | None = Field(default=None, description="Shown at once when safety_concern is true.")
    interim_offered: bool = Field(
        default=False,
        description="The first check-in counted toward persistence: the peer may add an interim check-in "
        "before the next one (POST /api/checkins/{id}/interim)",
    )


class InterimIn(BaseModel):
    days: int | None = Field(
        default=None,
        description="Days from today; by default TRIM_INTERIM_DEFAULT_DAYS, kept before the next scheduled check-in",
    )


class InterimOut(BaseModel):
    id: uuid.UUID
    kind: str
    due_at: datetime
    already: bool = Field(description="An interim check-in had been added before: this is it")


class SelfIn(BaseModel):
    answers: dict[str, dict[str, StrictBool]] = Field(
        description="{instrument id: {item id: true|false}} for every item of every instrument offered at the kind"
    )
    safety_concern: StrictBool = Field(
        description="Thoughts of harming yourself or someone else: true raises an urgent flag at once."
    )


class SelfOut(BaseModel):
    id: uuid.UUID
    checkin_id: uuid.UUID
    summary: str = Field(description="What the answers mean, in plain words (bands are for the peer)")
    flags: list[FlagBrief]
    crisis_guidance: str | None = Field(default=None, description="Shown at once when safety_concern is true.")
