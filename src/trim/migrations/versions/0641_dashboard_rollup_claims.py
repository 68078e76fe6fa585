"""incidents claimed by a rollup sweep, apart from the marks recordings write

Revision ID: 0641
Revises: 0638
Create Date: 2026-12-03 14:30:00.000000

The sweep used to delete the marks it took in the transaction that rebuilt them, so a
recording that marked the same incident again (INSERT ... ON CONFLICT DO NOTHING on the
mark's key) waited for the whole rebuild to commit. On PostgreSQL the sweep now moves the
marks it takes into this table in a short transaction of its own, rebuilds from here, and
deletes these rows with the rebuild: a recording waits for the move at most.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0641"
down_revision: str | None = "0638"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_rollup_claims",
        sa.Column("incident_id", sa.Uuid(), primary_key=True),
    )


def downgrade() -> None:
    # Claims not yet rebuilt go back to being marks, so nothing waiting is lost (WHERE: SQLite
    # would read ON CONFLICT as a join constraint).
    op.execute(
        "INSERT INTO dashboard_rollup_marks (incident_id) SELECT incident_id FROM dashboard_rollup_claims WHERE true"
        " ON CONFLICT DO NOTHING"
    )
    op.drop_table("dashboard_rollup_claims")
