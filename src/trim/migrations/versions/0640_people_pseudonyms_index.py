"""an index of the stand-ins of purged cases

Revision ID: 0640
Revises: 0634
Create Date: 2026-12-03 10:00:00.000000

The dashboard asks on every request whether purges made new stand-ins
(records.retention.live_twins); this index answers it without scanning the roster.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0640"
down_revision: str | None = "0634"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_people_pseudonyms",
        "people",
        ["id"],
        postgresql_where=sa.text("is_pseudonym IS true"),
        sqlite_where=sa.text("is_pseudonym = 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_people_pseudonyms", table_name="people")
