"""looking after the peer supporters (design section 13)

Revision ID: 0629
Revises: 0628
Create Date: 2026-12-02 12:45:00.000000

- peer_courses: training per peer (name, completed, refresher due), kept by the lead.
- peer_states: a peer's rest ("resting until DATE") and caseload cap.
- supervision_tasks: "I'd like to talk this one over": the peer, the date, the outcome;
  never the person supported nor the incident.
- quiet_clocks: a check-in's quiet-peer clock and its one logged contact attempt.
- peer_notices: a refresher notice (60 days ahead, on the day) claimed once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0629"
down_revision: str | None = "0628"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "peer_courses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("name", _S(length=120), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("refresher_due", sa.Date(), nullable=True),
        sa.Column("updated_at", _T(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_peer_courses_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_courses")),
        sa.UniqueConstraint("person_id", "name", name="uq_peer_courses_person_id_name"),
    )
    with op.batch_alter_table("peer_courses", schema=None) as batch_op:
        batch_op.create_index("ix_peer_courses_refresher_due", ["refresher_due"], unique=False)
    op.create_table(
        "peer_states",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("resting_until", sa.Date(), nullable=True),
        sa.Column("caseload_cap", sa.Integer(), nullable=True),
        sa.Column("updated_at", _T(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_peer_states_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_peer_states")),
    )
    op.create_table(
        "supervision_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _T(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("outcome", _S(length=20), nullable=True),
        sa.Column("outcome_at", _T(), nullable=True),
        sa.Column("outcome_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer_id"], ["people.id"], name=op.f("fk_supervision_tasks_peer_id_people"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["outcome_by_id"], ["people.id"], name=op.f("fk_supervision_tasks_outcome_by_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_tasks")),
    )
    with op.batch_alter_table("supervision_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_supervision_tasks_peer_id", ["peer_id"], unique=False)
    op.create_table(
        "quiet_clocks",
        sa.Column("checkin_id", sa.Uuid(), nullable=False),
        sa.Column("peer_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", _T(), nullable=True),
        sa.Column("contact_attempted_at", _T(), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"], ["checkins.id"], name=op.f("fk_quiet_clocks_checkin_id_checkins"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["peer_id"], ["people.id"], name=op.f("fk_quiet_clocks_peer_id_people")),
        sa.PrimaryKeyConstraint("checkin_id", name=op.f("pk_quiet_clocks")),
    )
    op.create_table(
        "peer_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("kind", _S(length=20), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("created_at", _T(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_peer_notices_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_peer_notices")),
        sa.UniqueConstraint("person_id", "kind", "on_date", name="uq_peer_notices_person_id_kind_on_date"),
    )


def downgrade() -> None:
    op.drop_table("peer_notices")
    op.drop_table("quiet_clocks")
    with op.batch_alter_table("supervision_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_supervision_tasks_peer_id")
    op.drop_table("supervision_tasks")
    op.drop_table("peer_states")
    with op.batch_alter_table("peer_courses", schema=None) as batch_op:
        batch_op.drop_index("ix_peer_courses_refresher_due")
    op.drop_table("peer_courses")
