"""return-to-work check-ins (design section 18)

Revision ID: 0625
Revises: 0615
Create Date: 2026-12-02 06:40:00.000000

- checkins: unique per exposure by kind, not by offset. A return-to-work check-in
  ("rtw7", "rtw28") can fall on the same day after the incident as a scheduled one
  (back at work on day 21, a week later is day 28), and both must exist.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0625"
down_revision: str | None = "0615"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins") as batch:
        batch.drop_constraint("uq_checkins_exposure_id_offset_days", type_="unique")
        batch.create_unique_constraint("uq_checkins_exposure_id_kind", ["exposure_id", "kind"])


def downgrade() -> None:
    # Return-to-work check-ins can break the old rule (one per offset) and carry records:
    # going back over them would lose what people said, so it is refused while any exist.
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM checkins WHERE kind LIKE 'rtw%'")).scalar()
    if count:
        raise RuntimeError(f"{count} return-to-work check-ins exist; 0625 cannot be undone without losing them")
    with op.batch_alter_table("checkins") as batch:
        batch.drop_constraint("uq_checkins_exposure_id_kind", type_="unique")
        batch.create_unique_constraint("uq_checkins_exposure_id_offset_days", ["exposure_id", "offset_days"])
