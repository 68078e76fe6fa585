"""dashboard rollups of the time to first contact (issue 18)

Revision ID: 0639
Revises: 0640
Create Date: 2026-12-03 10:00:00.000000

- dashboard_contact_cells: per incident, its exposures first contacted by band of hours
  (dashboard.contacts), with the exact hours, and the people behind them.
- dashboard_contact_rollups: the same summed over stations per day and per month.
- dashboard_contact_person_marks: people whose request for a peer changed (a request
  accepted after an incident is a first contact for every exposure of that person);
  written by a trigger on peer_requests, turned into incident marks by the sweep.
- A trigger on exposures marks the incident (added, removed in error, moved, purged).

The rollups' built_with changes with this revision (contacts=1), so the first sweep
rebuilds every incident; nothing is marked here.
"""

# ruff: noqa: S608 - trigger DDL built from this file's own table and column names only

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0639"
down_revision: str | None = "0640"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "dashboard_rollup_marks"
PERSON_MARK = "dashboard_contact_person_marks"
EXPOSURE_COLUMNS = "incident_id, person_id, removed_at"
REQUEST_COLUMNS = "requester_id, accepted_at"

PG_STATEMENTS = [
    f"""CREATE FUNCTION dashboard_contact_mark_exposure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO {MARK} (incident_id) VALUES (OLD.incident_id) ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {MARK} (incident_id) VALUES (NEW.incident_id) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION dashboard_contact_mark_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO {PERSON_MARK} (person_id) VALUES (OLD.requester_id) ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {PERSON_MARK} (person_id) VALUES (NEW.requester_id) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE TRIGGER dashboard_contact_mark_exposures AFTER INSERT OR DELETE OR UPDATE OF {EXPOSURE_COLUMNS}
  ON exposures FOR EACH ROW EXECUTE FUNCTION dashboard_contact_mark_exposure()""",
    f"""CREATE TRIGGER dashboard_contact_mark_requests AFTER INSERT OR DELETE OR UPDATE OF {REQUEST_COLUMNS}
  ON peer_requests FOR EACH ROW EXECUTE FUNCTION dashboard_contact_mark_request()""",
]


def _sqlite_trigger(name: str, event: str, table: str, target: str, select: str) -> str:
    return f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN INSERT OR IGNORE INTO {target} {select}; END"


SQLITE_TRIGGERS = [
    _sqlite_trigger(
        "dashboard_contact_mark_exposures_insert",
        "INSERT",
        "exposures",
        f"{MARK} (incident_id)",
        "SELECT NEW.incident_id",
    ),
    _sqlite_trigger(
        "dashboard_contact_mark_exposures_delete",
        "DELETE",
        "exposures",
        f"{MARK} (incident_id)",
        "SELECT OLD.incident_id",
    ),
    _sqlite_trigger(
        "dashboard_contact_mark_exposures_update",
        f"UPDATE OF {EXPOSURE_COLUMNS}",
        "exposures",
        f"{MARK} (incident_id)",
        "SELECT OLD.incident_id UNION SELECT NEW.incident_id",
    ),
    _sqlite_trigger(
        "dashboard_contact_mark_requests_insert",
        "INSERT",
        "peer_requests",
        f"{PERSON_MARK} (person_id)",
        "SELECT NEW.requester_id",
    ),
    _sqlite_trigger(
        "dashboard_contact_mark_requests_delete",
        "DELETE",
        "peer_requests",
        f"{PERSON_MARK} (person_id)",
        "SELECT OLD.requester_id",
    ),
    _sqlite_trigger(
        "dashboard_contact_mark_requests_update",
        f"UPDATE OF {REQUEST_COLUMNS}",
        "peer_requests",
        f"{PERSON_MARK} (person_id)",
        "SELECT OLD.requester_id UNION SELECT NEW.requester_id",
    ),
]


def _contact_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("contacts", sa.Integer(), nullable=False),
        sa.Column("hours", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sample", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "dashboard_contact_cells",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=True),
        *_contact_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_contact_cells")),
    )
    op.create_index("ix_dashboard_contact_cells_incident_id", "dashboard_contact_cells", ["incident_id"])
    op.create_index("ix_dashboard_contact_cells_day", "dashboard_contact_cells", ["day"])
    op.create_index("ix_dashboard_contact_cells_station_id_day", "dashboard_contact_cells", ["station_id", "day"])
    op.create_table(
        "dashboard_contact_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grain", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        *_contact_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_contact_rollups")),
    )
    op.create_index(
        "ix_dashboard_contact_rollups_grain_start_bucket", "dashboard_contact_rollups", ["grain", "start", "bucket"]
    )
    op.create_table(
        PERSON_MARK,
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_dashboard_contact_person_marks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_STATEMENTS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS dashboard_contact_mark_exposures ON exposures")
        op.execute("DROP TRIGGER IF EXISTS dashboard_contact_mark_requests ON peer_requests")
        op.execute("DROP FUNCTION IF EXISTS dashboard_contact_mark_exposure()")
        op.execute("DROP FUNCTION IF EXISTS dashboard_contact_mark_request()")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    for table in (PERSON_MARK, "dashboard_contact_rollups", "dashboard_contact_cells"):
        op.drop_table(table)
