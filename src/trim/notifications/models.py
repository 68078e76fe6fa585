"""The outbox, each person's email choices, calendar feed tokens, and sweep marks."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow

# The worker looks only at messages still to send; the index holds only those.
_PENDING = "sent_at IS NULL AND failed_at IS NULL"


class OutboxMessage(SQLModel, table=True):
    """One email to send, written in the same transaction as the change that causes it.

    Never holds confidential content: "you have a check-in due" and a link."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index(
            "ix_outbox_pending",
            "next_attempt_at",
            postgresql_where=text(_PENDING),
            sqlite_where=text(_PENDING),
        ),
        Index("ix_outbox_sent_at", "sent_at"),
        Index("ix_outbox_failed_at", "failed_at"),
        Index("ix_outbox_person_id", "person_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: str = Field(max_length=40)
    person_id: uuid.UUID | None = Field(default=None, foreign_key="people.id", ondelete="SET NULL")
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    link: str | None = Field(default=None, max_length=500)  # a path; the email adds base_url
    urgent: bool = False
    # Set by producers that must not say the same thing twice ("checkin:<id>:due").
    dedupe_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # When it may next be tried: at once, or after a backoff.
    next_attempt_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    # A worker's claim: its token, and the lease after which another worker may retry.
    claim_token: str | None = Field(default=None, max_length=36)
    claimed_until: datetime | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=200)  # the error's kind and code, no content


class NotificationPreference(SQLModel, table=True):
    """A person's choice for one kind of message; no row means email."""

    __tablename__ = "notification_preferences"

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(primary_key=True, max_length=40)
    channel: str = Field(max_length=10)  # email | digest | none
    updated_at: datetime = Field(default_factory=utcnow)


class CalendarFeed(SQLModel, table=True):
    """A peer's private calendar link. Only the token's hash is kept."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_calendar_feeds_token_hash"),)

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class SweepMark(SQLModel, table=True):
    """How far a periodic sweep has got (a due_at, a day), so the next run reads only what
    is new. Marks only move forward; several workers may advance the same one."""

    __tablename__ = "sweep_marks"

    name: str = Field(primary_key=True, max_length=80)
    mark: datetime
    updated_at: datetime = Field(default_factory=utcnow)
