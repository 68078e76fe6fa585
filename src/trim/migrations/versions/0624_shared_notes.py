"""notes the person shares with a manager (design section 18)

Revision ID: 0624
Revises: 0622
Create Date: 2026-12-02 10:00:00.000000

- shared_notes: one exact note (encrypted) the person released to one manager, or a
  peer's suggestion waiting for the person; withdrawn notes stay for the person's record.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0624"
down_revision: str | None = "0622"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shared_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("manager_id", sa.Uuid(), nullable=True),
        sa.Column("text_encrypted", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("suggested_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("shared_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_shared_notes_person_id_people")),
        sa.ForeignKeyConstraint(["manager_id"], ["people.id"], name=op.f("fk_shared_notes_manager_id_people")),
        sa.ForeignKeyConstraint(
            ["suggested_by_id"], ["people.id"], name=op.f("fk_shared_notes_suggested_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shared_notes")),
    )
    with op.batch_alter_table("shared_notes", schema=None) as batch_op:
        batch_op.create_index("ix_shared_notes_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_shared_notes_manager_id_status", ["manager_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shared_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_shared_notes_manager_id_status")
        batch_op.drop_index("ix_shared_notes_person_id")
    op.drop_table("shared_notes")
