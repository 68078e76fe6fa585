"""Anonymous feedback (design section 17): answers with no link to the person, and
receipts that stop a second answer without saying who gave the first."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id


class FeedbackAnswer(SQLModel, table=True):
    """Three answers, 1-5, where they were given (after a request, after check-ins) and
    the day. No person, no request or check-in, no station, no time of day: nothing here
    leads back to who answered."""

    __tablename__ = "feedback_answers"
    __table_args__ = (
        CheckConstraint("helpful BETWEEN 1 AND 5", name="helpful_scale"),
        CheckConstraint("ask_again BETWEEN 1 AND 5", name="ask_again_scale"),
        CheckConstraint("ease BETWEEN 1 AND 5", name="ease_scale"),
        CheckConstraint("context IN ('request', 'checkins')", name="context_known"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    context: str = Field(max_length=10)
    answered_on: date = Field(index=True)
    helpful: int
    ask_again: int
    ease: int


class FeedbackReceipt(SQLModel, table=True):
    """That feedback was given for one request or one exposure: a keyed hash of it (HMAC
    with the secret key), so only the server can test "has this one been answered?", and
    nothing links the receipt to the answer (no answers, no date)."""

    __tablename__ = "feedback_receipts"

    key_hash: str = Field(primary_key=True, max_length=64)
