"""the open check-ins of an incident, indexed (issue 18)

Revision ID: 0639a
Revises: 0639
Create Date: 2026-12-03 11:00:00.000000

ix_checkins_open_incident_id: the open check-ins of a period's incidents, for the
dashboard's peer caseloads (counted live, from these alone rather than every check-in
of the period). Apart from 0639 because 0639 was merged before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0639a"
down_revision: str | None = "0639"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkins_open_incident_id",
            ["incident_id"],
            unique=False,
            postgresql_include=["peer_id", "person_id"],
            postgresql_where=sa.text("outcome IS NULL"),
            sqlite_where=sa.text("outcome IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_open_incident_id")
