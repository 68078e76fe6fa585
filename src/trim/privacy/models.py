"""The audit log: append-only; each sealed event chained to the one before by an HMAC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Field, SQLModel

from trim.db import utcnow

# SQLite makes only an INTEGER PRIMARY KEY its auto-numbered rowid.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class current_xid(FunctionElement[int]):
    """The inserting transaction's id: PostgreSQL's pg_current_xact_id(); NULL elsewhere."""

    type = BigInteger()
    inherit_cache = True


@compiles(current_xid)
def _no_xid(_element: current_xid, _compiler: SQLCompiler, **_kw: Any) -> str:
    return "NULL"


@compiles(current_xid, "postgresql")
def _pg_xid(_element: current_xid, _compiler: SQLCompiler, **_kw: Any) -> str:
    # xid8 has no cast to bigint; through text it has (and 2**63 transactions is far away).
    return "(pg_current_xact_id()::text::bigint)"


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when. Ids and states only, never content.

    Written unsealed (seq, prev_hash, hash NULL) in the transaction of the change it
    records; the worker then gives it its place in the one chain (privacy/sealing.py)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject_id_at", "subject_id", "at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
        Index("ix_audit_events_at", "at"),
        Index("uq_audit_events_seq", "seq", unique=True),
        # The sealer's queue: only unsealed rows are in it, so it stays small.
        Index(
            "ix_audit_events_unsealed",
            "xid",
            "id",
            postgresql_where=text("seq IS NULL"),
            sqlite_where=text("seq IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True, autoincrement=True))
    # The inserting transaction's id on PostgreSQL (pg_current_xact_id); NULL on SQLite,
    # whose single writer makes insertion order commit order.
    xid: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True, default=current_xid()))
    seq: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    at: datetime = Field(default_factory=utcnow)
    actor_id: str | None = Field(default=None, max_length=80)  # person id, "token:<id>", or "system"
    action: str = Field(max_length=60)  # noun.verb
    target_type: str = Field(max_length=40)
    target_id: str | None = Field(default=None, max_length=80)
    # The person the record is about, so they can see who read it.
    subject_id: str | None = Field(default=None, max_length=80)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)
    # Which audit key sealed it (a fingerprint, never the key), so rotation keeps old events verifiable.
    key_id: str | None = Field(default=None, max_length=16)
    sealed_at: datetime | None = Field(default=None)
