"""anonymous feedback for the board's report (design section 17)

Revision ID: 0636
Revises: 0632
Create Date: 2026-12-02 18:00:00.000000

- feedback_answers: three answers (1-5), where they were given and the day; no person.
- feedback_receipts: a keyed hash per request or exposure answered, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0636"
down_revision: str | None = "0632"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_answers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("context", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("answered_on", sa.Date(), nullable=False),
        sa.Column("helpful", sa.Integer(), nullable=False),
        sa.Column("ask_again", sa.Integer(), nullable=False),
        sa.Column("ease", sa.Integer(), nullable=False),
        sa.CheckConstraint("helpful BETWEEN 1 AND 5", name=op.f("ck_feedback_answers_helpful_scale")),
        sa.CheckConstraint("ask_again BETWEEN 1 AND 5", name=op.f("ck_feedback_answers_ask_again_scale")),
        sa.CheckConstraint("ease BETWEEN 1 AND 5", name=op.f("ck_feedback_answers_ease_scale")),
        sa.CheckConstraint("context IN ('request', 'checkins')", name=op.f("ck_feedback_answers_context_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_answers")),
    )
    op.create_index(op.f("ix_feedback_answers_answered_on"), "feedback_answers", ["answered_on"], unique=False)
    op.create_table(
        "feedback_receipts",
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_feedback_receipts")),
    )


def downgrade() -> None:
    op.drop_table("feedback_receipts")
    op.drop_index(op.f("ix_feedback_answers_answered_on"), table_name="feedback_answers")
    op.drop_table("feedback_answers")
