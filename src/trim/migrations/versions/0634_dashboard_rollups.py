"""dashboard rollups of the check-in figures (issue 18)

Revision ID: 0634
Revises: 0633
Create Date: 2026-12-02 18:00:00.000000

- dashboard_checkin_cells: check-ins per incident x interval x category x band (x the
  day an open one counts as missed from), with a bounded sample of the people behind.
- dashboard_checkin_rollups: the same summed over stations per day and per month.
- dashboard_rollup_marks: incidents whose figures moved; written by triggers on
  checkins, assessments and incidents in the change's own transaction, so every path
  (bulk updates and the purge included) marks; the rollup sweep clears them.
- dashboard_rollup_state: when the rollups were last up to date.

Every existing incident is marked, so the first sweep builds the rollups.
"""

# ruff: noqa: S608 - trigger DDL built from this file's own table and column names only

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0634"
down_revision: str | None = "0633"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "dashboard_rollup_marks"
# The columns whose change moves a figure (other updates, e.g. reminders, do not mark).
CHECKIN_COLUMNS = "incident_id, kind, outcome, recorded_at, due_at, person_id"
ASSESSMENT_COLUMNS = "checkin_id, is_current, band"
INCIDENT_COLUMNS = "occurred_at, kind, station_id, source"

PG_STATEMENTS = [
    f"""CREATE FUNCTION dashboard_mark_checkin() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.incident_id IS NOT NULL THEN
    INSERT INTO {MARK} (incident_id) VALUES (OLD.incident_id) ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.incident_id IS NOT NULL
     AND (TG_OP = 'INSERT' OR NEW.incident_id IS DISTINCT FROM OLD.incident_id) THEN
    INSERT INTO {MARK} (incident_id) VALUES (NEW.incident_id) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION dashboard_mark_assessment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO {MARK} (incident_id) SELECT incident_id FROM checkins
      WHERE id = OLD.checkin_id AND incident_id IS NOT NULL ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {MARK} (incident_id) SELECT incident_id FROM checkins
      WHERE id = NEW.checkin_id AND incident_id IS NOT NULL ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION dashboard_mark_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {MARK} (incident_id) VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)
    ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$""",
    f"""CREATE TRIGGER dashboard_mark_checkins AFTER INSERT OR DELETE OR UPDATE OF {CHECKIN_COLUMNS}
  ON checkins FOR EACH ROW EXECUTE FUNCTION dashboard_mark_checkin()""",
    f"""CREATE TRIGGER dashboard_mark_assessments AFTER INSERT OR DELETE OR UPDATE OF {ASSESSMENT_COLUMNS}
  ON assessments FOR EACH ROW EXECUTE FUNCTION dashboard_mark_assessment()""",
    f"""CREATE TRIGGER dashboard_mark_incidents AFTER DELETE OR UPDATE OF {INCIDENT_COLUMNS}
  ON incidents FOR EACH ROW EXECUTE FUNCTION dashboard_mark_incident()""",
]


def _sqlite_trigger(name: str, event: str, table: str, select: str) -> str:
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN "
        f"INSERT OR IGNORE INTO {MARK} (incident_id) {select}; END"
    )


SQLITE_TRIGGERS = [
    _sqlite_trigger(
        "dashboard_mark_checkins_insert",
        "INSERT",
        "checkins",
        "SELECT NEW.incident_id WHERE NEW.incident_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "dashboard_mark_checkins_delete",
        "DELETE",
        "checkins",
        "SELECT OLD.incident_id WHERE OLD.incident_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "dashboard_mark_checkins_update",
        f"UPDATE OF {CHECKIN_COLUMNS}",
        "checkins",
        "SELECT OLD.incident_id WHERE OLD.incident_id IS NOT NULL "
        "UNION SELECT NEW.incident_id WHERE NEW.incident_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "dashboard_mark_assessments_insert",
        "INSERT",
        "assessments",
        "SELECT incident_id FROM checkins WHERE id = NEW.checkin_id AND incident_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "dashboard_mark_assessments_delete",
        "DELETE",
        "assessments",
        "SELECT incident_id FROM checkins WHERE id = OLD.checkin_id AND incident_id IS NOT NULL",
    ),
    _sqlite_trigger(
        "dashboard_mark_assessments_update",
        f"UPDATE OF {ASSESSMENT_COLUMNS}",
        "assessments",
        "SELECT incident_id FROM checkins WHERE id IN (OLD.checkin_id, NEW.checkin_id) AND incident_id IS NOT NULL",
    ),
    _sqlite_trigger("dashboard_mark_incidents_delete", "DELETE", "incidents", "SELECT OLD.id"),
    _sqlite_trigger("dashboard_mark_incidents_update", f"UPDATE OF {INCIDENT_COLUMNS}", "incidents", "SELECT NEW.id"),
]


def _cell_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("interval", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("band", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("missed_from", sa.Date(), nullable=True),
        sa.Column("checkins", sa.Integer(), nullable=False),
        sa.Column("sample", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "dashboard_checkin_cells",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=True),
        *_cell_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_checkin_cells")),
    )
    op.create_index("ix_dashboard_checkin_cells_incident_id", "dashboard_checkin_cells", ["incident_id"])
    op.create_index("ix_dashboard_checkin_cells_day", "dashboard_checkin_cells", ["day"])
    op.create_index("ix_dashboard_checkin_cells_station_id_day", "dashboard_checkin_cells", ["station_id", "day"])
    op.create_table(
        "dashboard_checkin_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grain", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        *_cell_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_checkin_rollups")),
    )
    op.create_index("ix_dashboard_checkin_rollups_grain_start", "dashboard_checkin_rollups", ["grain", "start"])
    op.create_table(
        MARK,
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_dashboard_rollup_marks")),
    )
    op.create_table(
        "dashboard_rollup_state",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("refreshed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("built_with", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dashboard_rollup_state")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_STATEMENTS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(f"INSERT INTO {MARK} (incident_id) SELECT id FROM incidents")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in ("checkins", "assessments", "incidents"):
            op.execute(f"DROP TRIGGER IF EXISTS dashboard_mark_{table} ON {table}")
        for function in ("checkin", "assessment", "incident"):
            op.execute(f"DROP FUNCTION IF EXISTS dashboard_mark_{function}()")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    for table in ("dashboard_rollup_state", MARK, "dashboard_checkin_rollups", "dashboard_checkin_cells"):
        op.drop_table(table)
