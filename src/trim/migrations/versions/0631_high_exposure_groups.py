"""high-exposure groups and periodic check-ins (design section 14)

Revision ID: 0631
Revises: 0630
Create Date: 2026-12-02 14:20:00.000000

- exposure_groups: a group the lead tags with a cadence in days (name unique).
- exposure_group_members: who is in a group since when (their first periodic check-in
  falls due then).
- periodic_opt_outs: a person who opted out of periodic check-ins once for all.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0631"
down_revision: str | None = "0630"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exposure_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("cadence_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exposure_groups")),
        sa.UniqueConstraint("name", name="uq_exposure_groups_name"),
    )
    op.create_table(
        "exposure_group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["exposure_groups.id"],
            name=op.f("fk_exposure_group_members_group_id_exposure_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_exposure_group_members_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "person_id", name=op.f("pk_exposure_group_members")),
    )
    op.create_table(
        "periodic_opt_outs",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("opted_out_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_periodic_opt_outs_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_periodic_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("periodic_opt_outs")
    op.drop_table("exposure_group_members")
    op.drop_table("exposure_groups")
