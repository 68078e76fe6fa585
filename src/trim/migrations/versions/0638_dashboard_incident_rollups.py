"""dashboard rollups of the figures keyed by incident (issue 18)

Revision ID: 0638
Revises: 0639a
Create Date: 2026-12-03 10:00:00.000000

- dashboard_incident_cells: per incident x figure (incidents, flags, referrals,
  planning, routes, briefings) x the figure's dimensions, a count and a bounded sample
  of the people behind it (dashboard.incident_rollups).
- dashboard_incident_rollups: the same summed over stations per day and per month.
- dashboard_person_numbers, dashboard_exposed_people: a small number per person, and
  per local day and month x kind of incident x kind of exposure the exposures and the
  people exposed by number (dashboard.exposed_people: people exposed, exactly).
- Triggers that mark the incident in dashboard_rollup_marks (migration 0634) on every
  change that moves these figures: incidents logged, exposures, flags, referrals,
  planning records and routes, briefings and their attendees. Person columns are
  included because the samples hold person ids (the purge turns them into stand-ins).

The check-in rollups' settings string now includes these figures', so rollups built
before this revision are rebuilt (and not read) by the next sweeps; every incident is
marked too.
"""

# ruff: noqa: S608 - trigger DDL built from this file's own table and column names only

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0638"
down_revision: str | None = "0639a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "dashboard_rollup_marks"

# table -> (columns whose update moves a figure, the incidents of a row given its alias)
WATCHED: dict[str, tuple[str, str]] = {
    "exposures": ("incident_id, person_id, exposure, removed_at", "SELECT {r}.incident_id AS id"),
    "flags": (
        "exposure_id, person_id, cause, status",
        "SELECT incident_id AS id FROM exposures WHERE id = {r}.exposure_id",
    ),
    "referrals": (
        "flag_id, person_id, consent, status",
        "SELECT e.incident_id AS id FROM flags f JOIN exposures e ON e.id = f.exposure_id WHERE f.id = {r}.flag_id",
    ),
    "planning_records": ("incident_id, held_at", "SELECT {r}.incident_id AS id"),
    "planning_routes": (
        "incident_id, exposure_id, route",
        "SELECT {r}.incident_id AS id UNION SELECT incident_id FROM exposures WHERE id = {r}.exposure_id",
    ),
    "briefings": ("incident_id", "SELECT {r}.incident_id AS id"),
    "briefing_attendees": (
        "briefing_id, person_id",
        "SELECT incident_id AS id FROM briefings WHERE id = {r}.briefing_id",
    ),
}


def _pg_statements() -> list[str]:
    statements = []
    for table, (columns, incidents) in WATCHED.items():
        old, new = incidents.format(r="OLD"), incidents.format(r="NEW")
        statements += [
            f"""CREATE FUNCTION dashboard_mark_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO {MARK} (incident_id) SELECT m.id FROM ({old}) AS m WHERE m.id IS NOT NULL
      ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO {MARK} (incident_id) SELECT m.id FROM ({new}) AS m WHERE m.id IS NOT NULL
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$""",
            f"""CREATE TRIGGER dashboard_mark_{table} AFTER INSERT OR DELETE OR UPDATE OF {columns}
  ON {table} FOR EACH ROW EXECUTE FUNCTION dashboard_mark_{table}()""",
        ]
    # 0634 marks an incident's update and delete; a new incident counts too (with no one exposed).
    statements.append(
        """CREATE TRIGGER dashboard_mark_incidents_insert AFTER INSERT
  ON incidents FOR EACH ROW EXECUTE FUNCTION dashboard_mark_incident()"""
    )
    return statements


def _sqlite_statements() -> list[str]:
    statements = []
    for table, (columns, incidents) in WATCHED.items():
        for event, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), (f"UPDATE OF {columns}", ("OLD", "NEW"))):
            union = " UNION ".join(incidents.format(r=r) for r in rows)
            name = f"dashboard_mark_{table}_{event.split()[0].lower()}"
            statements.append(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN "
                f"INSERT OR IGNORE INTO {MARK} (incident_id) SELECT id FROM ({union}) "
                "WHERE id IS NOT NULL; END"
            )
    statements.append(
        "CREATE TRIGGER dashboard_mark_incidents_insert AFTER INSERT ON incidents FOR EACH ROW BEGIN "
        f"INSERT OR IGNORE INTO {MARK} (incident_id) SELECT NEW.id; END"
    )
    return statements


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("figure", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("d0", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("d1", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sample", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "dashboard_incident_cells",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("station_id", sa.Uuid(), nullable=True),
        *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_incident_cells")),
    )
    op.create_index("ix_dashboard_incident_cells_incident_id", "dashboard_incident_cells", ["incident_id"])
    op.create_index("ix_dashboard_incident_cells_day", "dashboard_incident_cells", ["day"])
    op.create_index("ix_dashboard_incident_cells_station_id_day", "dashboard_incident_cells", ["station_id", "day"])
    op.create_table(
        "dashboard_incident_rollups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grain", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        *_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_incident_rollups")),
    )
    op.create_index("ix_dashboard_incident_rollups_grain_start", "dashboard_incident_rollups", ["grain", "start"])
    op.create_table(
        "dashboard_person_numbers",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_dashboard_person_numbers")),
        sa.UniqueConstraint("number", name="uq_dashboard_person_numbers_number"),
    )
    op.create_table(
        "dashboard_exposed_people",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grain", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("exposure", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("exposures", sa.Integer(), nullable=False),
        sa.Column("people", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_exposed_people")),
    )
    op.create_index("ix_dashboard_exposed_people_grain_start", "dashboard_exposed_people", ["grain", "start"])
    statements = _pg_statements() if op.get_bind().dialect.name == "postgresql" else _sqlite_statements()
    for statement in statements:
        op.execute(statement)
    op.execute(f"INSERT INTO {MARK} (incident_id) SELECT id FROM incidents WHERE true ON CONFLICT DO NOTHING")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS dashboard_mark_incidents_insert ON incidents")
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS dashboard_mark_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS dashboard_mark_{table}()")
    else:
        for statement in _sqlite_statements():
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    op.drop_table("dashboard_exposed_people")
    op.drop_table("dashboard_person_numbers")
    op.drop_table("dashboard_incident_rollups")
    op.drop_table("dashboard_incident_cells")
