"""sharing a referral's assessment is confirmed by the person

Revision ID: 0403
Revises: 0402
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0403"
down_revision: str | None = "0402"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("share_requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("share_confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Shares recorded before this revision were asserted by whoever referred, never confirmed
    # by the person: they become requests waiting for the person's OK (design 3a).
    op.execute(
        "UPDATE referrals SET share_requested_at = created_at, share_assessment = false "
        "WHERE share_assessment = true AND status NOT IN ('withdrawn', 'declined')"
    )


def downgrade() -> None:
    # Only what the person confirmed stays shared.
    op.execute("UPDATE referrals SET share_assessment = false WHERE share_confirmed_at IS NULL")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_column("share_confirmed_at")
        batch_op.drop_column("share_requested_at")
