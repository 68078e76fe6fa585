"""People, stations, roles, sign-in sessions and integration tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from trim.db import new_id, utcnow


class Role(StrEnum):
    responder = "responder"
    peer = "peer"
    trim_manager = "trim_manager"  # a peer who supervises peers and holds planning meetings
    lead = "lead"
    clinician = "clinician"
    supervisor = "supervisor"
    admin = "admin"


class Station(SQLModel, table=True):
    __tablename__ = "stations"
    __table_args__ = (UniqueConstraint("name", name="uq_stations_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=120)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("staff_number", name="uq_people_staff_number"),
        UniqueConstraint("email", name="uq_people_email"),
        Index("ix_people_station_id", "station_id"),
        Index("ix_people_name", "name"),
        # The stand-ins of purged cases, few beside the roster: read on every dashboard
        # request (records.retention.live_twins) without scanning everyone.
        Index(
            "ix_people_pseudonyms",
            "id",
            postgresql_where=text("is_pseudonym IS true"),
            sqlite_where=text("is_pseudonym = 1"),
        ),
        # The switched-off accounts of real people (stand-ins left out): the dashboard's
        # caseloads take them from the peers on every request (dashboard.caseloads).
        Index(
            "ix_people_switched_off",
            "id",
            postgresql_where=text("active IS false AND is_pseudonym IS false"),
            sqlite_where=text("active = 0 AND is_pseudonym = 0"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    staff_number: str = Field(max_length=40)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)  # stored lower-case
    station_id: uuid.UUID | None = Field(default=None, foreign_key="stations.id")
    # The staff number of the person's line manager (design section 5), from the roster or
    # the person form. A staff number, not a link: the manager may not be on the roster.
    # Assignment never picks the person's manager, nor anyone the person manages.
    manager_staff_number: str | None = Field(default=None, max_length=40)
    # Optional, E.164 ("+447700900123"), checked with phonenumbers: shown as a tap-to-call
    # link to the person's peer on the check-in page and to a clinician on a referral.
    phone: str | None = Field(default=None, max_length=20)
    active: bool = True
    password_hash: str | None = Field(default=None, max_length=255)
    # Peer supporters only: available to take new check-ins and requests.
    available: bool = True
    # Peer supporters only: a short free-text background ("ambulance, 20 years").
    background: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deactivated_at: datetime | None = None
    # A stand-in created by `trim purge`: de-identified records point here, never at staff.
    is_pseudonym: bool = False
    # Getting in: when the last invitation was sent, and when they first got in (chose a
    # password from an invitation, or first signed in through single sign-on).
    invited_at: datetime | None = None
    joined_at: datetime | None = None
    # A change of sign-in email waits here until the new address confirms it (design 3a):
    # until then `email` stays the old one, so sign-in, resets and SSO matching use it.
    # `..._by` is the audit id of whoever started the change.
    pending_email: str | None = Field(default=None, max_length=320)
    pending_email_at: datetime | None = None
    pending_email_by: str | None = Field(default=None, max_length=80)
    # The last confirmed change: the address before it, when, and who started it. For a
    # while after it, account notices go to the previous address too.
    previous_email: str | None = Field(default=None, max_length=320)
    email_changed_at: datetime | None = None
    email_changed_by: str | None = Field(default=None, max_length=80)


class PersonRole(SQLModel, table=True):
    __tablename__ = "person_roles"
    __table_args__ = (Index("ix_person_roles_role", "role"),)

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True, ondelete="CASCADE")
    role: str = Field(primary_key=True, max_length=20)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_person_id", "person_id"),)

    id: str = Field(primary_key=True, max_length=64)  # sha256 of the cookie token
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    # "full", or "code": the password was right and the second factor's code is awaited
    # (such a session reaches nothing but the code page).
    stage: str = Field(default="full", max_length=10, sa_column_kwargs={"server_default": "full"})
    # How the person got in: "password", "link" (an emailed link) or "sso".
    via: str = Field(default="password", max_length=10, sa_column_kwargs={"server_default": "password"})
    # Single sign-on only: the provider's ID token (Fernet, like notes), sent back as the
    # id_token_hint when signing out, so the provider ends its own session too.
    id_token_encrypted: str | None = None


class SsoIdentity(SQLModel, table=True):
    """A person's account at the organisation's identity provider, known by the provider's
    subject id (`sub`) under its issuer. Made at the first single sign-on (matched by a
    verified email); from then on that subject id alone says who it is."""

    __tablename__ = "sso_identities"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_sso_identities_issuer_subject"),
        # One account per person at each provider: another subject with their email is refused.
        UniqueConstraint("person_id", "issuer", name="uq_sso_identities_person_id_issuer"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    issuer: str = Field(max_length=500)  # exactly as the provider's discovery document gives it
    subject: str = Field(max_length=255)  # OpenID Connect Core 1.0: at most 255 ASCII characters
    linked_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class SigninCounter(SQLModel, table=True):
    """Failed sign-ins (or requests for an emailed link) under one key in its current window:
    one row per account or address, bumped in a single atomic statement, so concurrent
    attempts can never count past the limit (issue 26 item 7)."""

    __tablename__ = "signin_counters"
    __table_args__ = (Index("ix_signin_counters_window_started_at", "window_started_at"),)

    key: str = Field(primary_key=True, max_length=120)  # "account:<sha256 of email>" or "addr:<ip>"
    window_started_at: datetime
    count: int = 0


class LinkRequest(SQLModel, table=True):
    """Someone asked for a reset link (or a fresh invitation) for this address. The page only
    queues it, the same work whether or not the address is known; the worker makes the link
    and the email, then deletes the row (minutes at most: it holds an address)."""

    __tablename__ = "link_requests"
    __table_args__ = (Index("ix_link_requests_requested_at", "requested_at"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    requested_at: datetime
    asked_by: str = Field(default="anonymous", max_length=80)  # an audit actor id, never the person's


class ApiToken(SQLModel, table=True):
    """A bearer token for an integration (e.g. a dispatch system). Stored hashed."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        UniqueConstraint("name", name="uq_api_tokens_name"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64)
    scopes: str = Field(default="", max_length=400)  # space-separated
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class AccountLink(SQLModel, table=True):
    """An emailed single-use link: an invitation to choose a password, a password reset,
    or the confirmation of a new sign-in email. The email carries the random token; only
    its hash is stored."""

    __tablename__ = "account_links"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_account_links_token_hash"),
        Index("ix_account_links_person_id", "person_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    purpose: str = Field(max_length=10)  # "invite", "reset" or "email" (confirm a new address)
    token_hash: str = Field(max_length=64)
    # For "email": the address this link confirms (a later change makes it stale).
    email: str | None = Field(default=None, max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class TotpFactor(SQLModel, table=True):
    """A person's authenticator app (TOTP). Enabled once a first code proved the set-up."""

    __tablename__ = "totp_factors"
    __table_args__ = (UniqueConstraint("person_id", name="uq_totp_factors_person_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    secret_encrypted: str = Field(max_length=400)  # Fernet, like notes (rotated by `trim keys rotate`)
    created_at: datetime = Field(default_factory=utcnow)
    enabled_at: datetime | None = None
    # The last time step whose code was accepted: a code is good once.
    last_step: int | None = None


class RecoveryCode(SQLModel, table=True):
    """A single-use recovery code, stored as an HMAC under the secret key."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("person_id", "code_hash", name="uq_recovery_codes_person_id_code_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
