"""Alembic environment: async engines for PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from trim.db import create_engine
from trim.models import metadata

config = context.config
target_metadata = metadata


def run_with_connection(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite's own procedure for schema changes: batch mode rebuilds a table by copy, drop and
        # rename, which enforced foreign keys refuse once other tables' rows point at it. Keys are
        # checked as a whole after the migration instead (below).
        _pragma(connection, "PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # On PostgreSQL each migration commits on its own, so the locks one takes (a new
        # table's foreign key locks the table it points at) are held for that migration only,
        # not until the last one: a running release's writes wait moments, not the upgrade.
        transaction_per_migration=not sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left {len(broken)} rows whose foreign keys do not hold: {broken[:5]}")
    if sqlite:
        _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    # On the driver's connection, outside any transaction: SQLite ignores this pragma inside one,
    # and SQLAlchemy would begin one (BEGIN IMMEDIATE, see trim.db) for a statement of its own.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def run_async() -> None:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(str(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_with_connection)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with_connection(connection)
    else:
        asyncio.run(run_async())
