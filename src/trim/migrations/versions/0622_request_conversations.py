"""the conversation on a request, and asking without one's name

Revision ID: 0622
Revises: 0616
Create Date: 2026-12-02 05:40:00.000000

- conversation_messages: the requester and the peer who took the request write to each
  other; the body is encrypted at rest; (request, author, client_id) is unique so a resend
  stores once.
- peer_requests gains anonymous, pseudonym and name_revealed_at (asking without one's
  name), and requester_notified_at / peer_notified_at (at most one "new message" email per
  person per conversation in a window).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0622"
down_revision: str | None = "0616"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["people.id"], name=op.f("fk_conversation_messages_author_id_people")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["peer_requests.id"],
            name=op.f("fk_conversation_messages_request_id_peer_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
        sa.UniqueConstraint("request_id", "author_id", "client_id", name="uq_conversation_messages_client_id"),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_messages_author_id", ["author_id"], unique=False)
        batch_op.create_index(
            "ix_conversation_messages_request_id_created_at", ["request_id", "created_at"], unique=False
        )
    with op.batch_alter_table("peer_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("pseudonym", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column("name_revealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("requester_notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("peer_notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peer_requests", schema=None) as batch_op:
        batch_op.drop_column("peer_notified_at")
        batch_op.drop_column("requester_notified_at")
        batch_op.drop_column("name_revealed_at")
        batch_op.drop_column("pseudonym")
        batch_op.drop_column("anonymous")
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_request_id_created_at")
        batch_op.drop_index("ix_conversation_messages_author_id")
    op.drop_table("conversation_messages")
