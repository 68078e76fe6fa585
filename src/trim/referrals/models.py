"""Confidential referrals: from a flag, with consent, to a clinician or a service."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class ReferralStatus(StrEnum):
    declined = "declined"  # offered; the person said no (recorded, respected)
    referred = "referred"  # consented and sent; waiting for the clinician
    contact_made = "contact_made"
    taken_up = "taken_up"
    not_taken_up = "not_taken_up"
    closed = "closed"
    withdrawn = "withdrawn"  # the person withdrew consent


# How a referral's status reads, wherever it is shown (the flag's page and the referral's).
REFERRAL_STATUS_LABELS = {
    "declined": "Declined by the person",
    "referred": "Referred, waiting for contact",
    "contact_made": "Contact made",
    "taken_up": "Taken up",
    "not_taken_up": "Not taken up",
    "closed": "Closed",
    "withdrawn": "Consent withdrawn",
}

OPEN_REFERRAL_STATUSES = ("referred", "contact_made")
CONSENTED_STATUSES = ("referred", "contact_made", "taken_up", "not_taken_up", "closed", "withdrawn")


class ReferralService(SQLModel, table=True):
    """An external professional service in the lead's directory (EAP, trauma clinic...)."""

    __tablename__ = "referral_services"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=120)
    service: str = Field(max_length=200)  # what they offer
    contact: str = Field(max_length=300)  # how to reach them
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Referral(SQLModel, table=True):
    __tablename__ = "referrals"
    __table_args__ = (
        Index("ix_referrals_clinician_id_status", "clinician_id", "status"),
        Index("ix_referrals_person_id", "person_id"),
        Index("ix_referrals_flag_id", "flag_id"),
        Index("ix_referrals_created_at", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    flag_id: uuid.UUID | None = Field(default=None, foreign_key="flags.id")
    person_id: uuid.UUID = Field(foreign_key="people.id")
    # Addressed to a clinician who uses trim, or to a service from the directory.
    clinician_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    service_id: uuid.UUID | None = Field(default=None, foreign_key="referral_services.id")
    # The person's consent to be referred, recorded by whoever held the conversation.
    consent: bool
    # True only once the person themselves confirmed sharing the assessment (and until
    # they withdraw); the referrer can only ask (share_requested_at).
    share_assessment: bool = False
    share_requested_at: datetime | None = None
    share_confirmed_at: datetime | None = None
    status: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="people.id")
    updated_at: datetime = Field(default_factory=utcnow)
    contact_made_at: datetime | None = None
    closed_at: datetime | None = None
    withdrawn_at: datetime | None = None
