"""The dashboard's rollups: the check-in figures counted ahead, per incident and per day
and month, with a bounded sample of the people behind each count (dashboard.samples).

Rows hold no names, answers or notes: counts, labels, and person ids (a purged case's
are its stand-in's, as in the check-ins they were counted from).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from trim.db import new_id


class CheckinCell(SQLModel, table=True):
    """Check-ins of one incident with one interval, category and band (and, for open
    ones, the day they count as missed from): the finest rollup, rebuilt per incident."""

    __tablename__ = "dashboard_checkin_cells"
    __table_args__ = (
        Index("ix_dashboard_checkin_cells_incident_id", "incident_id"),
        Index("ix_dashboard_checkin_cells_day", "day"),
        Index("ix_dashboard_checkin_cells_station_id_day", "station_id", "day"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID
    day: date  # the incident's local day (organisation's zone)
    station_id: uuid.UUID | None = None
    kind: str = Field(max_length=40)
    interval: str = Field(max_length=40)
    category: str = Field(max_length=20)  # on_time, late, answered_themselves, declined, unreachable, not_needed, open
    band: str = Field(default="", max_length=20)  # elevated / not_elevated for held ones with a score
    missed_from: date | None = None  # open ones: the first local day they count as missed
    checkins: int
    sample: str  # dashboard.samples: the smallest person ids, comma separated


class CheckinRollup(SQLModel, table=True):
    """The same cells summed over every station, for a whole day or a whole month
    (`grain`), so a year with no station filter is a few thousand rows."""

    __tablename__ = "dashboard_checkin_rollups"
    __table_args__ = (Index("ix_dashboard_checkin_rollups_grain_start", "grain", "start"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    grain: str = Field(max_length=10)  # "day" or "month"
    start: date  # the day, or the first of the month
    kind: str = Field(max_length=40)
    interval: str = Field(max_length=40)
    category: str = Field(max_length=20)
    band: str = Field(default="", max_length=20)
    missed_from: date | None = None
    checkins: int
    sample: str


class RollupMark(SQLModel, table=True):
    """An incident whose check-in figures changed since its rollup was built. Written by
    database triggers on the tables that move them (so every change path marks, bulk
    updates included), in the change's own transaction; cleared by the rollup sweep."""

    __tablename__ = "dashboard_rollup_marks"

    incident_id: uuid.UUID = Field(primary_key=True)


class RollupClaim(SQLModel, table=True):
    """An incident the rollup sweep has taken from the marks and not yet rebuilt. The sweep
    moves marks here in a short transaction of its own (PostgreSQL), so a recording that
    marks the same incident again never waits for the rebuild; these rows go with the
    rebuild's commit, and stay for the next sweep if it fails (migration 0641)."""

    __tablename__ = "dashboard_rollup_claims"

    incident_id: uuid.UUID = Field(primary_key=True)


class RollupState(SQLModel, table=True):
    """When the rollups were last brought up to date, and the settings they were built
    with (rollups.built_with): rollups built otherwise are rebuilt, and not read."""

    __tablename__ = "dashboard_rollup_state"

    name: str = Field(primary_key=True, max_length=20)
    refreshed_at: datetime | None = None
    built_with: str = Field(default="", max_length=200)


class ContactCell(SQLModel, table=True):
    """One incident's exposures first contacted, by how long it took (`bucket`, a band of
    hours: dashboard.contacts), with the exact hours of each; `bucket` -1 holds them all,
    with the sample of the people behind. Rebuilt per incident."""

    __tablename__ = "dashboard_contact_cells"
    __table_args__ = (
        Index("ix_dashboard_contact_cells_incident_id", "incident_id"),
        Index("ix_dashboard_contact_cells_day", "day"),
        Index("ix_dashboard_contact_cells_station_id_day", "station_id", "day"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID
    day: date  # the incident's local day (organisation's zone)
    station_id: uuid.UUID | None = None
    kind: str = Field(max_length=40)
    bucket: int
    contacts: int
    hours: str  # the exact hours of each first contact in the bucket, ascending, comma separated
    sample: str  # bucket -1 only: dashboard.samples of the people contacted


class ContactRollup(SQLModel, table=True):
    """The contact cells summed over every station, per day or per month (`grain`)."""

    __tablename__ = "dashboard_contact_rollups"
    __table_args__ = (Index("ix_dashboard_contact_rollups_grain_start_bucket", "grain", "start", "bucket"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    grain: str = Field(max_length=10)  # "day" or "month"
    start: date
    kind: str = Field(max_length=40)
    bucket: int
    contacts: int
    hours: str
    sample: str


class ContactPersonMark(SQLModel, table=True):
    """A person whose request for a peer changed: their exposures' first contact (and their
    stand-in's, which only the secret can find) waits to be rebuilt. Written by a trigger
    on peer_requests; turned into incident marks and cleared by the rollup sweep."""

    __tablename__ = "dashboard_contact_person_marks"

    person_id: uuid.UUID = Field(primary_key=True)


class IncidentCell(SQLModel, table=True):
    """One incident's share of a figure keyed by incident (dashboard.incident_rollups):
    incidents, flags by cause and status, referrals by stage, planning, routes, briefings.
    `d0`/`d1` are the figure's own dimensions; rebuilt per incident."""

    __tablename__ = "dashboard_incident_cells"
    __table_args__ = (
        Index("ix_dashboard_incident_cells_incident_id", "incident_id"),
        Index("ix_dashboard_incident_cells_day", "day"),
        Index("ix_dashboard_incident_cells_station_id_day", "station_id", "day"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    incident_id: uuid.UUID
    day: date  # the incident's local day (organisation's zone)
    station_id: uuid.UUID | None = None
    kind: str = Field(max_length=40)
    figure: str = Field(max_length=30)
    d0: str = Field(default="", max_length=40)
    d1: str = Field(default="", max_length=40)
    count: int
    sample: str  # dashboard.samples: the smallest person ids, comma separated


class IncidentRollup(SQLModel, table=True):
    """The incident cells summed over every station, per day or per month (`grain`)."""

    __tablename__ = "dashboard_incident_rollups"
    __table_args__ = (Index("ix_dashboard_incident_rollups_grain_start", "grain", "start"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    grain: str = Field(max_length=10)  # "day" or "month"
    start: date
    kind: str = Field(max_length=40)
    figure: str = Field(max_length=30)
    d0: str = Field(default="", max_length=40)
    d1: str = Field(default="", max_length=40)
    count: int
    sample: str


class PersonNumber(SQLModel, table=True):
    """A small number for each person counted in an exposure bitset (ids only)."""

    __tablename__ = "dashboard_person_numbers"
    __table_args__ = (UniqueConstraint("number", name="uq_dashboard_person_numbers_number"),)

    person_id: uuid.UUID = Field(primary_key=True)
    number: int


class ExposedPeople(SQLModel, table=True):
    """The live exposures of one local day's or month's incidents of one kind ("" for
    every kind) and one kind of exposure: how many, and exactly who, by person number
    (dashboard.exposed_people): a month as a bitset, a day as its few numbers."""

    __tablename__ = "dashboard_exposed_people"
    __table_args__ = (Index("ix_dashboard_exposed_people_grain_start", "grain", "start"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    grain: str = Field(max_length=10)  # "day" or "month"
    start: date  # the day, or the first of the month
    kind: str = Field(default="", max_length=40)
    exposure: str = Field(max_length=20)
    exposures: int
    people: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CaseloadCell(SQLModel, table=True):
    """One incident's open check-ins as (peer, person) pairs, the person by number
    (PersonNumber): what dashboard.caseloads packs per peer. Rebuilt with the incident."""

    __tablename__ = "dashboard_caseload_cells"
    __table_args__ = (Index("ix_dashboard_caseload_cells_peer_id", "peer_id"),)

    incident_id: uuid.UUID = Field(primary_key=True)
    peer_id: uuid.UUID = Field(primary_key=True)
    number: int = Field(primary_key=True)
    day: date  # the incident's local day
    kind: str = Field(max_length=40)


class Caseload(SQLModel, table=True):
    """A peer's open check-ins of one kind of incident ("" for every kind), as sorted
    distinct 8-byte numbers, day ordinal << 32 | person number (dashboard.caseloads). The
    key starts with the kind: a dashboard request reads one kind's rows, one per peer."""

    __tablename__ = "dashboard_caseloads"

    kind: str = Field(primary_key=True, max_length=40)
    peer_id: uuid.UUID = Field(primary_key=True)
    pairs: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CaseloadPack(SQLModel, table=True):
    """Every peer's `Caseload` row of one kind of incident, packed into one row so that a
    dashboard request reads one row, not one per peer (2,000 rows cost ~5 ms of Python
    at national scale): the peers' ids as text, comma separated, the end of each peer's
    pairs, and the pairs concatenated in two parallel arrays, the day ordinals and the
    person numbers (all unsigned 4-byte, little-endian), so a period is two binary
    searches in `days` and a set of a slice of `persons`. Repacked by the rollup sweep
    for every kind whose peers' rows it rewrote."""

    __tablename__ = "dashboard_caseload_packs"

    kind: str = Field(primary_key=True, max_length=40)
    peers: str = Field(sa_column=Column(Text, nullable=False))
    ends: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    days: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    persons: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
