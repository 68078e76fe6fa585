"""audit events sealed by the worker under an HMAC key

Revision ID: 0615
Revises: 0624
Create Date: 2026-12-02 09:00:00.000000

- audit_events gets its own id (the primary key; existing events keep their old seq as
  their id, so their order is kept), xid (the inserting transaction, PostgreSQL), key_id
  and sealed_at; seq, prev_hash and hash may be NULL (an event not sealed yet).
- The existing chain is checked with the old plain SHA-256 and then sealed again under
  the audit key (TRIM_AUDIT_KEY, else derived from TRIM_SECRET_KEY), in its old order and
  with its old numbers, so no event and no place is lost. One `audit.resealed` event
  closes it, recording how many events there were, the old head's hash and whether the
  old chain verified (and if not, where it broke): the state the old chain was found in
  stays in the new one. With no key in the environment the events are left unsealed, in
  the same order, for the worker to seal.
- Downgrade rebuilds the old plain SHA-256 chain over every event, sealed or not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0615"
down_revision: str | None = "0624"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
FIELDS = ("at", "actor_id", "action", "target_type", "target_id", "subject_id", "details")


def _typed(*extra: str) -> Any:
    """The columns read back with their types (on SQLite a bare SELECT gives strings)."""
    types: dict[str, Any] = {"at": sqlmodel.sql.sqltypes.UTCDateTime(), "details": sa.JSON()}
    return sa.table("audit_events", *(sa.column(name, types.get(name)) for name in (*extra, *FIELDS)))


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0).isoformat()


def _plain_hash(seq: int, row: Any, prev: str) -> str:
    """The chain's hash before this revision (plain SHA-256), as privacy/audit.py had it."""
    body = json.dumps(
        [
            seq,
            _iso(row.at),
            row.actor_id,
            row.action,
            row.target_type,
            row.target_id,
            row.subject_id,
            row.details,
            prev,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _check_old_chain(bind: sa.Connection) -> tuple[int, str, str]:
    """Walk the old chain: (events, head hash, "intact" or where it broke)."""
    t = _typed("seq", "prev_hash", "hash")
    rows = bind.execute(sa.select(t).order_by(t.c.seq))
    count, prev, state = 0, GENESIS, "intact"
    for row in rows:
        count += 1
        if state == "intact":
            if row.seq != count:
                state = f"broken at event {count}: missing (next was {row.seq})"
            elif row.prev_hash != prev or _plain_hash(row.seq, row, prev) != row.hash:
                state = f"broken at event {row.seq}: its link or contents did not match"
        prev = row.hash
    return count, prev, state


def _audit_key() -> bytes | None:
    try:
        from trim.config import load_settings
        from trim.privacy.audit import NoAuditKey, keyring

        return keyring(load_settings()).current
    except (NoAuditKey, Exception):  # noqa: BLE001 - no usable settings: the worker seals later
        return None


def _new_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    ]


def _create_indexes() -> None:
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_subject_id_at", "audit_events", ["subject_id", "at"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_type", "target_id"])


def _create_new_indexes() -> None:
    op.create_index("uq_audit_events_seq", "audit_events", ["seq"], unique=True)
    op.create_index(
        "ix_audit_events_unsealed",
        "audit_events",
        ["xid", "id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )


def _upgrade_postgresql() -> None:
    op.add_column("audit_events", sa.Column("id", sa.BigInteger(), nullable=True))
    for column in _new_columns():
        op.add_column("audit_events", column)
    # Sealed rows leave the queue below; xid 0 sorts the old events before any new one.
    op.execute("UPDATE audit_events SET id = seq, xid = 0")
    op.execute("CREATE SEQUENCE audit_events_id_seq OWNED BY audit_events.id")
    op.execute("SELECT setval('audit_events_id_seq', COALESCE((SELECT max(id) FROM audit_events), 0) + 1, false)")
    op.execute("ALTER TABLE audit_events ALTER COLUMN id SET DEFAULT nextval('audit_events_id_seq')")
    op.alter_column("audit_events", "id", nullable=False)
    op.drop_constraint("pk_audit_events", "audit_events", type_="primary")
    op.create_primary_key("pk_audit_events", "audit_events", ["id"])
    op.alter_column("audit_events", "seq", type_=sa.BigInteger(), nullable=True)
    op.alter_column("audit_events", "prev_hash", nullable=True, existing_type=sqlmodel.sql.sqltypes.AutoString(64))
    op.alter_column("audit_events", "hash", nullable=True, existing_type=sqlmodel.sql.sqltypes.AutoString(64))
    op.execute("UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL")
    _create_new_indexes()


def _events_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )


def _upgrade_sqlite() -> None:
    bind = op.get_bind()
    _events_table("audit_events_next").create(bind)
    columns = ", ".join(FIELDS)  # constants, not input
    op.execute(f"INSERT INTO audit_events_next (id, {columns}) SELECT seq, {columns} FROM audit_events ORDER BY seq")  # noqa: S608
    op.drop_table("audit_events")
    op.rename_table("audit_events_next", "audit_events")
    _create_indexes()
    _create_new_indexes()


def _seal(bind: sa.Connection, key: bytes) -> None:
    from trim.privacy.audit import event_hash, key_id

    kid, now = key_id(key), datetime.now(UTC)
    t = _typed("id", "xid")
    rows = bind.execute(sa.select(t).order_by(t.c.xid, t.c.id)).all()
    prev, changes = GENESIS, []
    for seq, row in enumerate(rows, start=1):
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        digest = event_hash(
            key=key,
            seq=seq,
            at=at,
            actor_id=row.actor_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            subject_id=row.subject_id,
            details=row.details,
            prev_hash=prev,
        )
        changes.append({"i": row.id, "s": seq, "p": prev, "h": digest, "k": kid, "t": now})
        prev = digest
    if changes:
        table = sa.table(
            "audit_events",
            sa.column("id"),
            sa.column("seq"),
            sa.column("prev_hash"),
            sa.column("hash"),
            sa.column("key_id"),
            sa.column("sealed_at", sqlmodel.sql.sqltypes.UTCDateTime()),
        )
        bind.execute(
            table.update()
            .where(table.c.id == sa.bindparam("i"))
            .values(
                seq=sa.bindparam("s"),
                prev_hash=sa.bindparam("p"),
                hash=sa.bindparam("h"),
                key_id=sa.bindparam("k"),
                sealed_at=sa.bindparam("t"),
            ),
            changes,
        )


def upgrade() -> None:
    bind = op.get_bind()
    count, old_head, state = _check_old_chain(bind)
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    if count:
        events = sa.table(
            "audit_events",
            sa.column("xid"),
            sa.column("at", sqlmodel.sql.sqltypes.UTCDateTime()),
            sa.column("actor_id"),
            sa.column("action"),
            sa.column("target_type"),
            sa.column("target_id"),
            sa.column("details", sa.JSON()),
        )
        bind.execute(
            events.insert().values(
                xid=0 if bind.dialect.name == "postgresql" else None,
                at=datetime.now(UTC).replace(microsecond=0),
                actor_id="system",
                action="audit.resealed",
                target_type="audit_chain",
                target_id=None,
                details={"events": count, "old_head_hash": old_head, "old_chain": state},
            )
        )
    key = _audit_key()
    if key is not None:
        _seal(bind, key)


def downgrade() -> None:
    bind = op.get_bind()
    t = _typed("seq", "xid", "id")
    rows = bind.execute(sa.select(t).order_by(t.c.seq.is_(None), t.c.seq, t.c.xid, t.c.id)).all()
    op.drop_table("audit_events")
    table = op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    _create_indexes()
    prev, values = GENESIS, []
    for seq, row in enumerate(rows, start=1):
        digest = _plain_hash(seq, row, prev)
        values.append({"seq": seq, **{f: getattr(row, f) for f in FIELDS}, "prev_hash": prev, "hash": digest})
        prev = digest
    if values and table is not None:
        op.bulk_insert(table, values)
