"""sign-in counters, the link-request queue, idempotency key expiry

Revision ID: 0404
Revises: 0403
Create Date: 2026-12-01 23:40:00.000000

- signin_failures (one row per failure, counted with a SELECT before an INSERT, which
  races) becomes signin_counters (one row per key, bumped atomically). The counts of
  the last 15 minutes are not carried over: at worst a guesser gets one fresh window.
- link_requests: "forgotten password" requests waiting for the worker.
- idempotency_keys gains safe_to_forget and expired_at (and an index to sweep by age).
  Existing check-in keys are safe to forget (a check-in is recorded once); others stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0404"
down_revision: str | None = "0403"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_signin_failures_key_at")
    op.drop_table("signin_failures")
    op.create_table(
        "signin_counters",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("window_started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_signin_counters")),
    )
    with op.batch_alter_table("signin_counters", schema=None) as batch_op:
        batch_op.create_index("ix_signin_counters_window_started_at", ["window_started_at"], unique=False)

    op.create_table(
        "link_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("asked_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_requests")),
    )
    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.create_index("ix_link_requests_requested_at", ["requested_at"], unique=False)

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("safe_to_forget", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("expired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_idempotency_keys_created_at", ["created_at"], unique=False)
    keys = sa.table("idempotency_keys", sa.column("scope", sa.String), sa.column("safe_to_forget", sa.Boolean))
    op.execute(keys.update().where(keys.c.scope.like("%:checkin.record:%")).values(safe_to_forget=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created_at")
        batch_op.drop_column("expired_at")
        batch_op.drop_column("safe_to_forget")

    with op.batch_alter_table("link_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_link_requests_requested_at")
    op.drop_table("link_requests")

    with op.batch_alter_table("signin_counters", schema=None) as batch_op:
        batch_op.drop_index("ix_signin_counters_window_started_at")
    op.drop_table("signin_counters")
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
    )
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.create_index("ix_signin_failures_key_at", ["key", "at"], unique=False)
