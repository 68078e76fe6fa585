"""Alembic migrations: run them, and tell whether a database is up to date."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent


class NotMigrated(Exception):
    """The database schema is behind the code."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    # An absolute script location lets `trim db upgrade` run from any directory.
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["url"] = url
    return cfg


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _in_thread(fn: object, *args: object) -> None:
    # Alembic's env.py calls asyncio.run(); it cannot run inside a running loop.
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        fn(*args)  # type: ignore[operator]
        return
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (safe to call from async code)."""
    _in_thread(command.upgrade, alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    _in_thread(command.downgrade, alembic_config(url), revision)


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        heads = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    return set(heads)


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Raise NotMigrated, saying what to run, unless the database is at the code's head."""
    current = await current_revisions(engine)
    if current != head_revisions():
        state = ", ".join(sorted(current)) or "empty"
        raise NotMigrated(f"the database is not up to date (it is at: {state}). Run `trim db upgrade` first.")
