"""periodic check-ins: a check-in without an incident (design section 14)

Revision ID: 0632
Revises: 0631
Create Date: 2026-12-02 18:00:00.000000

- checkins.exposure_id and checkins.incident_id become nullable: a periodic check-in of a
  high-exposure group has neither.
- uq_checkins_periodic_person_id_scheduled_for: one periodic check-in per person per
  scheduled time (partial: periodic and not cancelled), so two workers sweeping the
  cadence at once create it once.

On SQLite the batch copy of the table would lose the partial unique index of exposure
check-ins (its WHERE is not carried over), so it is dropped before and made again after.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0632"
down_revision: str | None = "0631"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_MONITOR = sa.text("kind <> 'monitor'")
PERIODIC = sa.text("kind = 'periodic' AND (outcome IS NULL OR outcome <> 'cancelled')")


def _exposure_index(create: bool) -> None:
    if create:
        op.create_index(
            "uq_checkins_exposure_id_kind",
            "checkins",
            ["exposure_id", "kind"],
            unique=True,
            postgresql_where=NOT_MONITOR,
            sqlite_where=NOT_MONITOR,
        )
    else:
        op.drop_index("uq_checkins_exposure_id_kind", table_name="checkins")


def _nullable(nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _exposure_index(create=False)
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.alter_column("exposure_id", existing_type=sa.Uuid(), nullable=nullable)
        batch_op.alter_column("incident_id", existing_type=sa.Uuid(), nullable=nullable)
    if sqlite:
        _exposure_index(create=True)


def upgrade() -> None:
    _nullable(True)
    op.create_index(
        "uq_checkins_periodic_person_id_scheduled_for",
        "checkins",
        ["person_id", "scheduled_for"],
        unique=True,
        postgresql_where=PERIODIC,
        sqlite_where=PERIODIC,
    )


def downgrade() -> None:
    # Periodic check-ins cannot exist without an incident, and deleting them would take
    # recorded answers with them: refuse rather than lose anything.
    left = op.get_bind().execute(sa.text("SELECT count(*) FROM checkins WHERE exposure_id IS NULL")).scalar()
    if left:
        raise RuntimeError(f"{left} periodic check-ins exist; 0632 cannot be undone without losing them.")
    op.drop_index("uq_checkins_periodic_person_id_scheduled_for", table_name="checkins")
    _nullable(False)
