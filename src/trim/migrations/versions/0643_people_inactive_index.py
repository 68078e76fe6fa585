"""an index of the people whose accounts are switched off

Revision ID: 0643
Revises: 0642
Create Date: 2026-12-03 15:20:00.000000

The dashboard's caseloads count active peers on every request (dashboard.caseloads):
the peers from their role's index, less the few switched-off accounts read from this
one, instead of a join the planner answers by scanning the whole roster (~20 ms at
100,000 people). Stand-ins of purged cases are switched off too, and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0643"
down_revision: str | None = "0642"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_people_switched_off",
        "people",
        ["id"],
        postgresql_where=sa.text("active IS false AND is_pseudonym IS false"),
        sqlite_where=sa.text("active = 0 AND is_pseudonym = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_people_switched_off", table_name="people")
