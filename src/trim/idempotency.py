"""Idempotency keys: the same request sent twice is done once and answered twice.

A key lasts TRIM_IDEMPOTENCY_TTL_HOURS (24): long enough for any honest retry (a phone
back in signal, a dispatch system after an outage). Its stored answer can hold a
check-in's score and band or the names on an incident, so it must not outlive that: the
worker's sweep (and `trim purge`) deletes it. What a replay of an expired key gets
depends on whether forgetting is safe:

- a route whose work refuses to be done twice by itself (a check-in is recorded once;
  a second recording is a 409 whatever the key) forgets the key entirely, and a late
  replay is simply a new request, which that rule refuses;
- any other route (logging an incident would log it twice) keeps the bare key, with no
  answer and no body hash, until the retention period, and a late replay is a 409 saying
  so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, and_, delete, update
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import dialect_insert, utcnow
from trim.errors import Conflict, InvalidInput


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=200)  # who and which route
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    # True where the work itself refuses to be done twice, so the expired key may go entirely.
    safe_to_forget: bool = False
    # When the expired key's answer was deleted (only keys that are not safe to forget stay).
    expired_at: datetime | None = None


@dataclass
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class FormKey:
    """A form's hidden idempotency key and a hash of what was sent with it: the service
    claims it after validating and before writing, so a refused form claims nothing."""

    key: str
    body_hash: str


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidInput.field("Idempotency-Key", "The Idempotency-Key header must be 1 to 200 characters.")
    return key


def _expired_before(now: datetime, settings: Settings) -> datetime:
    return now - timedelta(hours=settings.idempotency_ttl_hours)


async def _insert(session: AsyncSession, row: IdempotencyKey) -> bool:
    # One statement, no savepoint: a concurrent twin's insert waits on the unique index
    # until the first transaction ends, then inserts nothing (and replays its answer).
    stmt = (
        dialect_insert(session, IdempotencyKey)
        .values(
            scope=row.scope,
            key=row.key,
            request_hash=row.request_hash,
            created_at=row.created_at,
            safe_to_forget=row.safe_to_forget,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(col(IdempotencyKey.id))
    )
    new_id = (await session.exec(stmt)).scalar_one_or_none()
    if new_id is None:
        return False
    # The row as inserted, in the session, so `complete` is an UPDATE by its id.
    row.id = new_id
    make_transient_to_detached(row)
    session.add(row)
    return True


async def claim(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    body_hash: str,
    now: datetime,
    settings: Settings,
    safe_to_forget: bool,
) -> IdempotencyKey | Replay:
    """Claim the key for this request, or return the answer already given for it.

    The claim is inserted first, in a savepoint, so a concurrent twin waits on the
    unique index and then replays the winner's answer instead of doing the work again.
    `safe_to_forget`: the work refuses a second doing by itself (see the module)."""
    row = _row(scope, key, body_hash, now, safe_to_forget)
    if await _insert(session, row):
        return row
    existing = (
        await session.exec(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
    ).one()
    if existing.expired_at is not None or existing.created_at <= _expired_before(now, settings):
        if not existing.safe_to_forget:
            raise Conflict(
                f"This Idempotency-Key was first used more than {settings.idempotency_ttl_hours} hours ago, and that "
                "request was done then. Send a new key with a new request."
            )
        # Expired, not swept yet, and safe to forget: this is a new request.
        await session.delete(existing)
        await session.flush()
        fresh = _row(scope, key, body_hash, now, safe_to_forget)
        if await _insert(session, fresh):
            return fresh
        existing = (
            await session.exec(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
        ).one()
    if existing.request_hash != body_hash:
        raise InvalidInput.field(
            "Idempotency-Key", "This Idempotency-Key was already used with a different request body."
        )
    if existing.status_code is None or existing.response is None:
        raise Conflict("The first request with this Idempotency-Key is still being processed; retry shortly.")
    return Replay(existing.status_code, existing.response)


def _row(scope: str, key: str, body_hash: str, now: datetime, safe_to_forget: bool) -> IdempotencyKey:
    return IdempotencyKey(scope=scope, key=key, request_hash=body_hash, created_at=now, safe_to_forget=safe_to_forget)


async def claim_header(
    session: AsyncSession,
    header: str | None,
    *,
    scope: str,
    body: Any,
    now: datetime,
    settings: Settings,
    safe_to_forget: bool,
) -> IdempotencyKey | Replay | None:
    """For an API route with an optional Idempotency-Key header: nothing without one;
    with one, `claim` it for this request body."""
    key = validate_key(header)
    if key is None:
        return None
    return await claim(
        session,
        scope=scope,
        key=key,
        body_hash=request_hash(body),
        now=now,
        settings=settings,
        safe_to_forget=safe_to_forget,
    )


def complete(session: AsyncSession, row: IdempotencyKey, *, status_code: int, body: dict[str, Any]) -> None:
    row.status_code = status_code
    row.response = body
    session.add(row)


async def sweep_expired(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Expire keys older than TRIM_IDEMPOTENCY_TTL_HOURS: delete those safe to forget,
    strip the others to a bare key (no answer, no body hash), and delete bare keys older
    than the retention period. Idempotent; returns how many rows it changed."""
    expired = col(IdempotencyKey.created_at) < _expired_before(now, settings)
    forgotten = await session.exec(delete(IdempotencyKey).where(expired, col(IdempotencyKey.safe_to_forget)))
    stripped = await session.exec(
        update(IdempotencyKey)
        .where(expired, ~col(IdempotencyKey.safe_to_forget), col(IdempotencyKey.expired_at).is_(None))
        .values(response=None, request_hash="", expired_at=now)
        .execution_options(synchronize_session=False)
    )
    retained = await session.exec(
        delete(IdempotencyKey).where(
            and_(
                col(IdempotencyKey.created_at) < now - timedelta(days=settings.retention_days),
                ~col(IdempotencyKey.safe_to_forget),
            )
        )
    )
    return sum(int(result.rowcount or 0) for result in (forgotten, stripped, retained))
