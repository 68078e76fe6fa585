"""the open check-ins of an incident, indexed (issue 18)

Revision ID: 0639a
Revises: 0639
Create Date: 2026-12-03 11:00:00.000000

ix_checkins_open_incident_id: the open check-ins of a period's incidents, for the
dashboard's peer caseloads (counted live, from these alone rather than every check-in
of the period). Apart from 0639 because 0639 was merged before it (and once, in
between, with it: hence IF NOT EXISTS).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0639a"
down_revision: str | None = "0639"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: one state of 0639 that reached main created it already.
    include = " INCLUDE (peer_id, person_id)" if op.get_bind().dialect.name == "postgresql" else ""
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_checkins_open_incident_id ON checkins (incident_id)"
        f"{include} WHERE outcome IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_checkins_open_incident_id")
