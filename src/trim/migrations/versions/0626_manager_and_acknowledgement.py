"""a person's line manager (design section 5); what was done about an urgent flag (section 4)

Revision ID: 0626
Revises: 0615
Create Date: 2026-12-02 06:30:00.000000

- people.manager_staff_number: optional; assignment never picks the person's manager,
  nor anyone the person manages.
- flags.acknowledged_action / acknowledged_note: what was done at once when an urgent
  flag was acknowledged (the lead sees the action and how quickly, never the note).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0626"
down_revision: str | None = "0625"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("manager_staff_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("acknowledged_action", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True)
        )
        batch_op.add_column(sa.Column("acknowledged_note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_note")
        batch_op.drop_column("acknowledged_action")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("manager_staff_number")
