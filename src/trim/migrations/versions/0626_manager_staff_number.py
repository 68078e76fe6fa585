"""a person's line manager, by staff number (design section 5)

Revision ID: 0626
Revises: 0624
Create Date: 2026-12-02 06:30:00.000000

- people.manager_staff_number: optional; assignment never picks the person's manager,
  nor anyone the person manages.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0626"
down_revision: str | None = "0624"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("manager_staff_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("manager_staff_number")
