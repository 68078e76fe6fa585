"""Fixtures: a throwaway PostgreSQL database and a SQLite file per run, the app on
either, a controllable clock, and a named cast of people (see tests/cast.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

import trim.models  # noqa: F401
from trim.app import create_app
from trim.config import Settings, load_settings
from trim.db import AsyncSession, create_engine, make_sessionmaker, metadata
from trim.migrations import upgrade

PG_ADMIN_URL = os.environ.get("TRIM_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("TRIM_REQUIRE_POSTGRES") == "1"

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hmac-0123456789"
TEST_KEYS = ["Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE=", "T2xkIGtleTogdXNlZCB0byB0ZXN0IGRlY3J5cHRpbmc="]

BASE_URL = "https://testserver.local"  # https: the session cookie is Secure


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "encryption_keys": [TEST_KEYS[0]],
        "cookie_secure": True,
        "mfa_required_roles": [],
        "argon2_profile": "cheapest",
        "timezone": "Europe/London",
        "base_url": BASE_URL,
        "smtp_url": "smtp://127.0.0.1:1",
    }
    values.update(overrides)
    return load_settings(**values)


# -- databases ------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, migrated, dropped at the end."""
    name = f"trim_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}"
        if REQUIRE_PG:
            pytest.fail(message + " (TRIM_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    url = _pg_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "trim-test.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses the database runs on both."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def pg_only_url(postgres_url: str) -> str:
    return postgres_url


async def _wipe(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            tables = [t.name for t in reversed(metadata.sorted_tables)]
            if conn.dialect.name == "postgresql":
                await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
            else:
                for table in tables:
                    await conn.execute(text(f'DELETE FROM "{table}"'))
    finally:
        await engine.dispose()


# -- clock -----------------------------------------------------------------------------


class FakeClock:
    """The app's clock, set and moved by tests."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday morning, in GMT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# -- settings, app, client, session ---------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
async def settings(database_url: str, settings_overrides: dict[str, Any]) -> AsyncIterator[Settings]:
    yield make_settings(database_url, **settings_overrides)
    await _wipe(database_url)


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A database session for arranging data and checking results. Every statement is
    its own transaction: it holds no lock and always sees what the app committed.
    Objects loaded earlier stay as loaded: re-read with populate_existing to refresh."""
    engine = create_engine(settings.database_url, pool_size=2, autocommit=True)
    maker = make_sessionmaker(engine)
    async with maker() as db:
        yield db
    await engine.dispose()


@pytest.fixture
def tmp_file(tmp_path: Path) -> Path:
    return tmp_path / f"{uuid.uuid4().hex}.csv"


@pytest.fixture
async def cast(session: AsyncSession) -> Any:
    from tests.cast import make_cast

    return await make_cast(session)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A transactional session for calling services (they use savepoints and row locks).
    Commit after each use case, as a request would; inspect results with `session`."""
    engine = create_engine(settings.database_url, pool_size=2)
    async with make_sessionmaker(engine)() as tx:
        yield tx
        await tx.rollback()
    await engine.dispose()
