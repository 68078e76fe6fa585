"""a person's phone number (design section 5, Contact)

Revision ID: 0630
Revises: 0629
Create Date: 2026-12-02 12:50:00.000000

- people.phone: optional, E.164, from the roster or the person form; a peer sees it on
  the check-in page and a clinician on a referral, as a tap-to-call link.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0630"
down_revision: str | None = "0629"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("phone")
