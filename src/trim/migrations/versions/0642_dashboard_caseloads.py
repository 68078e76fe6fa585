"""peer caseloads from rollups (issue 18)

Revision ID: 0642
Revises: 0641
Create Date: 2026-12-03 15:00:00.000000

The dashboard counted each active peer's people with an open check-in by reading every
open check-in of the period's incidents on every request (a year at national scale: ~35,000
rows hashed, 50-90 ms of database time on the machine of bench/results/dashboard.md).

- dashboard_caseload_cells: per incident, each (peer, person) with an open check-in, by
  the person's number (dashboard_person_numbers); rebuilt with the incident.
- dashboard_caseloads: per kind of incident ("" for every kind) and peer, those pairs
  packed as sorted 8-byte numbers (day << 32 | person), so a period is two binary
  searches and a set of the people between (dashboard.caseloads).
- Reassigning a check-in's peer now marks its incident (peer_id joins the columns the
  check-in trigger watches).

The rollups' version (rollups.built_with) moves with this, so the next sweeps rebuild
every incident; the dashboard counts live until they have.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0642"
down_revision: str | None = "0641"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "dashboard_rollup_marks"
OLD_COLUMNS = "incident_id, kind, outcome, recorded_at, due_at, person_id"
NEW_COLUMNS = OLD_COLUMNS + ", peer_id"


def _pg_trigger(columns: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS dashboard_mark_checkins ON checkins",
        f"""CREATE TRIGGER dashboard_mark_checkins AFTER INSERT OR DELETE OR UPDATE OF {columns}
  ON checkins FOR EACH ROW EXECUTE FUNCTION dashboard_mark_checkin()""",
    ]


def _sqlite_trigger(columns: str) -> list[str]:
    return [
        "DROP TRIGGER IF EXISTS dashboard_mark_checkins_update",
        f"CREATE TRIGGER dashboard_mark_checkins_update AFTER UPDATE OF {columns} ON checkins FOR EACH ROW BEGIN "
        f"INSERT OR IGNORE INTO {MARK} (incident_id) "
        "SELECT OLD.incident_id WHERE OLD.incident_id IS NOT NULL "
        "UNION SELECT NEW.incident_id WHERE NEW.incident_id IS NOT NULL; END",
    ]


def _triggers(columns: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _pg_trigger(columns) if postgres else _sqlite_trigger(columns):
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "dashboard_caseload_cells",
        sa.Column("incident_id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "peer_id", "number", name="pk_dashboard_caseload_cells"),
    )
    op.create_index("ix_dashboard_caseload_cells_peer_id", "dashboard_caseload_cells", ["peer_id"])
    op.create_table(
        "dashboard_caseloads",
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("pairs", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "peer_id", name="pk_dashboard_caseloads"),
    )
    _triggers(NEW_COLUMNS)


def downgrade() -> None:
    _triggers(OLD_COLUMNS)
    op.drop_table("dashboard_caseloads")
    op.drop_index("ix_dashboard_caseload_cells_peer_id", table_name="dashboard_caseload_cells")
    op.drop_table("dashboard_caseload_cells")
