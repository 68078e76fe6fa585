"""watchful waiting and keeping less (design section 4)

Revision ID: 0627
Revises: 0626
Create Date: 2026-12-02 13:00:00.000000

- checkins: a flag resolved by watchful waiting gets an extra check-in of kind
  "monitor", and one exposure can be watched more than once, so (exposure_id, kind) is
  unique for every other kind only (a partial unique index of the same name).
- flags.monitor_checkin_id: the check-in whose answers close or reopen a flag that is
  being monitored.
- assessments.answers_deleted_at: when item-level answers and notes were deleted,
  TRIM_ANSWER_RETENTION_DAYS after the exposure closed (bands and outcomes stay).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0627"
down_revision: str | None = "0626"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_MONITOR = sa.text("kind <> 'monitor'")


def upgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_constraint("uq_checkins_exposure_id_kind", type_="unique")
    op.create_index(
        "uq_checkins_exposure_id_kind",
        "checkins",
        ["exposure_id", "kind"],
        unique=True,
        postgresql_where=NOT_MONITOR,
        sqlite_where=NOT_MONITOR,
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monitor_checkin_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_flags_monitor_checkin_id_checkins"), "checkins", ["monitor_checkin_id"], ["id"]
        )
        batch_op.create_index("ix_flags_monitor_checkin_id", ["monitor_checkin_id"])
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answers_deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_column("answers_deleted_at")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_monitor_checkin_id")
        batch_op.drop_constraint(op.f("fk_flags_monitor_checkin_id_checkins"), type_="foreignkey")
        batch_op.drop_column("monitor_checkin_id")
    op.drop_index("uq_checkins_exposure_id_kind", table_name="checkins")
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_checkins_exposure_id_kind", ["exposure_id", "kind"])
