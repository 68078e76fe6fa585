"""Database engine, sessions and the shared model base."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# Named constraints: Alembic's batch mode on SQLite can only drop what has a name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

__all__ = [
    "AsyncSession",
    "Field",
    "SQLModel",
    "create_engine",
    "dialect_insert",
    "make_sessionmaker",
    "metadata",
    "new_id",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off in SQLite unless asked for on every connection; WAL lets
    # readers carry on while one request writes; busy_timeout waits instead of failing.
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two requests never deadlock
    # upgrading a read to a write (SQLite answers that with an instant "locked").
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    autocommit: bool = False,
    connect_timeout: float | None = None,
) -> AsyncEngine:
    """An async engine for PostgreSQL (asyncpg) or SQLite (aiosqlite).

    `autocommit` makes every statement its own transaction (tests use it to look at
    the database without holding a lock or a stale snapshot). `connect_timeout` (seconds,
    PostgreSQL) bounds opening a connection: the read replica's engine gives up quickly on
    a server that is down rather than making a request wait for the driver's minute."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if not autocommit:
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    extra: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if connect_timeout is not None:
        extra["connect_args"] = {"timeout": connect_timeout}
    engine = create_async_engine(
        url, echo=echo, **extra, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
    )
    # A restarted PostgreSQL leaves dead connections in the pool: each is tested before use
    # unless it was in use a moment ago (see PING_AFTER_IDLE_SECONDS).
    event.listen(engine.sync_engine.pool, "connect", _mark_used)
    event.listen(engine.sync_engine.pool, "checkin", _mark_used)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


# A pooled connection is pinged before use (three round trips with asyncpg: BEGIN, ";",
# ROLLBACK) only when it has been idle this long. One in use less than a second ago was
# alive then, and PostgreSQL takes longer than that to restart, so a connection that
# outlived a restart has been idle longer and is pinged; one that breaks while in use is
# caught as a disconnect, which throws away every pooled connection older than it. Under
# load this saves two pings (six round trips) a request; an idle app pings as before.
PING_AFTER_IDLE_SECONDS = 1.0
_USED_AT = "trim_used_at"


def _mark_used(_dbapi_connection: Any, record: Any) -> None:
    record.info[_USED_AT] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    used_at = record.info.get(_USED_AT)
    if used_at is not None and time.monotonic() - used_at < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # any failure means the connection is gone
        # The pool discards this connection and checks out (or opens) another.
        raise DisconnectionError() from exc


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def session_scope(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block succeeds, roll back when it raises."""
    async with maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def dialect_insert(session: AsyncSession, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for this session's database that can say ON CONFLICT DO NOTHING / DO UPDATE
    (both databases have it; the generic insert() does not)."""
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
