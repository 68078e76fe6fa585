"""check-ins the person answers themselves (design section 14)

Revision ID: 0633
Revises: 0636
Create Date: 2026-12-02 18:00:00.000000

- checkins.self_answered_at: when the person answered the questionnaire themselves.
- checkins.self_completed: completed from those answers without a conversation (the
  person preferred not to talk); the dashboard counts conversations without these.
- assessments.answered_by_person: the answers are the person's own.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0633"
down_revision: str | None = "0636"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("self_answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("self_completed", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_by_person", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_column("answered_by_person")
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_column("self_completed")
        batch_op.drop_column("self_answered_at")
