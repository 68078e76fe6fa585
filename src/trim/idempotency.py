"""Idempotency keys: the same request sent twice is done once and answered twice."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.db import utcnow
from trim.errors import Conflict, InvalidInput


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=200)  # who and which route
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


@dataclass
class Replay:
    status_code: int
    body: dict[str, Any]


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise InvalidInput.field("Idempotency-Key", "The Idempotency-Key header must be 1 to 200 characters.")
    return key


async def claim(session: AsyncSession, *, scope: str, key: str, body_hash: str) -> IdempotencyKey | Replay:
    """Claim the key for this request, or return the answer already given for it.

    The claim is inserted first, in a savepoint, so a concurrent twin waits on the
    unique index and then replays the winner's answer instead of doing the work again."""
    row = IdempotencyKey(scope=scope, key=key, request_hash=body_hash)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
        return row
    except IntegrityError:
        pass
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


async def claim_header(
    session: AsyncSession, header: str | None, *, scope: str, body: Any
) -> IdempotencyKey | Replay | None:
    """For an API route with an optional Idempotency-Key header: nothing without one;
    with one, `claim` it for this request body."""
    key = validate_key(header)
    if key is None:
        return None
    return await claim(session, scope=scope, key=key, body_hash=request_hash(body))


def complete(session: AsyncSession, row: IdempotencyKey, *, status_code: int, body: dict[str, Any]) -> None:
    row.status_code = status_code
    row.response = body
    session.add(row)
