"""Fixtures: a throwaway PostgreSQL database and a SQLite file per run, the app on
either, a controllable clock, and a named cast of people (see tests/cast.py).

What a test can rely on is what a deployment has: every request and every `db` commit
really commits, on connections of their own, so race tests, workers, the CLI and live
servers need nothing special. What is shared across tests, for speed, is only what a
running server also keeps (issue 27 measured where the time went):

- engines: the test databases' engines live for the whole run, so `session`, `db` and
  the clean-up reuse their connections instead of opening new ones for every test;
- the app: building one costs ~0.4 s of route and signature checks, so the app for a
  given set of settings is built once and kept running (its lifespan, its connection
  pool) on one event loop thread for the run. Each test still gets its own client
  (cookies), its own clock and its own settings object on `app.state`;
- clean-up: after each test every table is emptied with DELETE, in one round trip
  (TRUNCATE of every table cost ~0.5 s a test on PostgreSQL);
- the PostgreSQL test database does not wait for the disk at commit
  (synchronous_commit=off): nothing in a throwaway database has to survive a crash, and
  what other connections see is unchanged.

A test that builds an app of its own, or an engine of its own on `settings.database_url`,
gets exactly what it built, as before; so does one that asks for `app` without `client`.
A test that changes a kept app (runs its lifespan again, replaces its engine, listens to
its engine's events) makes it be stopped and built afresh for the next test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import authlib.deprecate  # noqa: F401 - see below
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import trim.models  # noqa: F401
from trim.app import create_app
from trim.config import Settings, load_settings
from trim.db import AsyncSession, create_engine, make_sessionmaker, metadata
from trim.logs import configure_logging
from trim.migrations import upgrade

PG_ADMIN_URL = os.environ.get("TRIM_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("TRIM_REQUIRE_POSTGRES") == "1"

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hmac-0123456789"
TEST_KEYS = ["Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE=", "T2xkIGtleTogdXNlZCB0byB0ZXN0IGRlY3J5cHRpbmc="]

BASE_URL = "https://testserver.local"  # https: the session cookie is Secure

# authlib installs warnings.simplefilter("always") for its deprecations when first
# imported. Imported here, before collection, pytest's filterwarnings still win; left to
# the SSO tests' import of the OpenID provider, its filter would beat them.

# The databases this run created (filled by the postgres_url and sqlite_url fixtures).
# Engines and running apps are kept for the run only for these: a test that points
# settings elsewhere (a relay that cuts the connection, a fresh database) gets its own.
RUN_DATABASES: set[str] = set()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


ANCHOR_DIR = Path(tempfile.mkdtemp(prefix="trim-test-anchors-"))


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
        # Anchors from workers run by tests go to a folder of this run, not the checkout. (Equal
        # settings keep one running app; a test that checks anchors gives itself a file.)
        "audit_anchor_file": ANCHOR_DIR / "audit-anchors.jsonl",
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
        # A commit is visible to everyone at once either way; it just does not wait for
        # the disk. Only connections to this throwaway database are affected.
        asyncio.run(_pg_admin(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
        upgrade(url)
        RUN_DATABASES.add(url)
        yield url
    finally:
        RUN_DATABASES.discard(url)
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "trim-test.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    RUN_DATABASES.add(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses the database runs on both."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def pg_only_url(postgres_url: str) -> str:
    return postgres_url


def _delete_everything_sql() -> list[str]:
    # Children before parents, so no foreign key is ever left dangling mid-way.
    return [f'DELETE FROM "{table.name}"' for table in reversed(metadata.sorted_tables)]


async def _empty_tables(engine: AsyncEngine) -> None:
    """Delete every row of every table (not the migration history): one round trip."""
    statements = _delete_everything_sql()
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # One simple-protocol message runs as one transaction on the server.
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(";\n".join(statements))  # type: ignore[union-attr]
            return
        await conn.exec_driver_sql("BEGIN IMMEDIATE")
        for statement in statements:
            await conn.exec_driver_sql(statement)
        await conn.exec_driver_sql("COMMIT")


async def _wipe(url: str) -> None:
    """Empty the database at `url` through an engine of its own (any thread, any loop)."""
    engine = create_engine(url, pool_size=1, autocommit=True)
    try:
        await _empty_tables(engine)
    finally:
        await engine.dispose()


@dataclass
class Engines:
    """The run databases' engines, made on first use on the tests' event loop and kept
    until the end of the run: `look` commits every statement (for `session`), `work`
    holds a transaction until told (for `db`)."""

    look: dict[str, AsyncEngine] = field(default_factory=dict)
    work: dict[str, AsyncEngine] = field(default_factory=dict)

    def kept(self, url: str, *, autocommit: bool) -> AsyncEngine | None:
        if url not in RUN_DATABASES:
            return None
        engines = self.look if autocommit else self.work
        if url not in engines:
            engines[url] = create_engine(url, pool_size=2, autocommit=autocommit)
        return engines[url]

    async def dispose(self) -> None:
        for engine in [*self.look.values(), *self.work.values()]:
            await engine.dispose()
        self.look.clear()
        self.work.clear()


@pytest.fixture(scope="session")
async def _engines() -> AsyncIterator[Engines]:
    # An async fixture for the whole session also keeps one event loop for every async
    # test, which the kept engines' connections need.
    engines = Engines()
    yield engines
    await engines.dispose()


async def _engine_for(engines: Engines, url: str, *, autocommit: bool) -> tuple[AsyncEngine, bool]:
    """(engine, whether the caller must dispose of it)."""
    kept = engines.kept(url, autocommit=autocommit)
    if kept is not None:
        return kept, False
    return create_engine(url, pool_size=2, autocommit=autocommit), True


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


# -- running apps ------------------------------------------------------------------------


def _listeners(engine: AsyncEngine) -> tuple[int, ...]:
    """How many event listeners the engine and its pool carry, event by event."""
    found = []
    for dispatch in (engine.sync_engine.dispatch, engine.sync_engine.pool.dispatch):
        found += [len(getattr(dispatch, name)) for name in dispatch._event_names]
    return tuple(found)


@dataclass
class _Running:
    settings: Settings
    app: Litestar
    stack: ExitStack
    engine: Any
    sessionmaker: Any
    listeners: tuple[int, ...]


class RunningApps:
    """The app for each distinct set of settings, built once and kept running (lifespan
    entered, connection pool open) on one event loop thread for the whole run, as a
    deployed server is. A test borrows it with its own settings object and clock on
    `app.state`, which is where the app reads them for every request."""

    # Each running app holds a few database connections open; PostgreSQL is shared.
    limit = 4

    def __init__(self, portal: BlockingPortal) -> None:
        self.portal = portal
        self._running: OrderedDict[int, _Running] = OrderedDict()

    @staticmethod
    def can_keep(settings: Settings) -> bool:
        # An app that runs the worker inside it keeps the clock it started with; and a
        # database the run did not create may be gone (or cut off) by the next test.
        return settings.database_url in RUN_DATABASES and not settings.run_worker_in_app

    def borrow(self, settings: Settings, clock: FakeClock) -> Litestar:
        running = self._find(settings) or self._start(settings, clock)
        running.app.state.settings = settings
        running.app.state.clock = clock
        configure_logging(settings.log_level)  # as create_app does, for this test's settings
        return running.app

    def is_running(self, app: Litestar) -> bool:
        return id(app) in self._running

    def give_back(self, app: Litestar) -> None:
        """A test that ran the app's lifespan again, swapped its engine or put listeners on
        it leaves an app that is no longer the one started here: stop it, so the next test
        gets a fresh one and nothing of this test lingers."""
        running = self._running.get(id(app))
        if running is None:
            return
        changed = app.state.engine is not running.engine or app.state.sessionmaker is not running.sessionmaker
        if changed or _listeners(running.engine) != running.listeners:
            self._stop(id(app))

    def _find(self, settings: Settings) -> _Running | None:
        for key, running in self._running.items():
            if running.settings == settings:
                self._running.move_to_end(key)
                return running
        return None

    def _start(self, settings: Settings, clock: FakeClock) -> _Running:
        while len(self._running) >= self.limit:
            self._stop(next(iter(self._running)))
        app = create_app(settings, clock=clock)
        stack = ExitStack()
        stack.enter_context(self.portal.wrap_async_context_manager(app.lifespan()))
        running = _Running(
            settings=settings.model_copy(deep=True),
            app=app,
            stack=stack,
            engine=app.state.engine,
            sessionmaker=app.state.sessionmaker,
            listeners=_listeners(app.state.engine),
        )
        self._running[id(app)] = running
        return running

    def _stop(self, key: int) -> None:
        running = self._running.pop(key)
        running.stack.close()

    def stop_all(self) -> None:
        while self._running:
            self._stop(next(iter(self._running)))


@pytest.fixture(scope="session")
def _running_apps() -> Iterator[RunningApps]:
    with start_blocking_portal(backend="asyncio") as portal:
        apps = RunningApps(portal)
        try:
            yield apps
        finally:
            apps.stop_all()


# -- settings, app, client, session ---------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
async def settings(database_url: str, settings_overrides: dict[str, Any], _engines: Engines) -> AsyncIterator[Settings]:
    """Settings on this test's database; the database is emptied when the test ends."""
    yield make_settings(database_url, **settings_overrides)
    engine, owned = await _engine_for(_engines, database_url, autocommit=True)
    try:
        await _empty_tables(engine)
    finally:
        if owned:
            await engine.dispose()


@pytest.fixture
def app(
    settings: Settings, clock: FakeClock, _running_apps: RunningApps, request: pytest.FixtureRequest
) -> Iterator[Litestar]:
    """The app on this test's settings and clock: already running when it can be kept and
    the test talks to it through `client`. A test that asks for the app alone may start
    it itself (its own test client, its lifespan), so it gets one of its own, as before."""
    if not RunningApps.can_keep(settings) or "client" not in request.fixturenames:
        yield create_app(settings, clock=clock)
        return
    app = _running_apps.borrow(settings, clock)
    yield app
    _running_apps.give_back(app)


@pytest.fixture
async def client(app: Litestar, _running_apps: RunningApps) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A browser of its own (cookies, headers) on the app."""
    if _running_apps.is_running(app):
        # The app is already started: requests go to the loop it runs on, no lifespan here.
        test_client: AsyncTestClient[Litestar] = AsyncTestClient(app=app, base_url=BASE_URL)
        test_client.blocking_portal = _running_apps.portal
        yield test_client
        return
    async with AsyncTestClient(app=app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
async def session(settings: Settings, _engines: Engines) -> AsyncIterator[AsyncSession]:
    """A database session for arranging data and checking results. Every statement is
    its own transaction: it holds no lock and always sees what the app committed.
    Objects loaded earlier stay as loaded: re-read with populate_existing to refresh."""
    engine, owned = await _engine_for(_engines, settings.database_url, autocommit=True)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        if owned:
            await engine.dispose()


@pytest.fixture
def tmp_file(tmp_path: Path) -> Path:
    return tmp_path / f"{uuid.uuid4().hex}.csv"


@pytest.fixture
async def cast(session: AsyncSession, settings: Settings) -> Any:
    """The named cast (tests/cast.py), in this test's database."""
    from tests.cast import cast_on

    return await cast_on(session, settings.database_url if settings.database_url in RUN_DATABASES else None)


@pytest.fixture
async def db(settings: Settings, _engines: Engines) -> AsyncIterator[AsyncSession]:
    """A transactional session for calling services (they use savepoints and row locks).
    Commit after each use case, as a request would; inspect results with `session`."""
    engine, owned = await _engine_for(_engines, settings.database_url, autocommit=False)
    try:
        async with make_sessionmaker(engine)() as tx:
            yield tx
            await tx.rollback()
    finally:
        if owned:
            await engine.dispose()


# -- running in parallel (pytest -n 2 --dist loadgroup) ---------------------------------------

# Suites that share one live server (and the browser) for the whole package stay on one
# worker, so each starts once and journeys that continue each other's story stay in order;
# so does the read-replica suite, which makes one PostgreSQL primary and standby for all its
# tests. Every other test goes wherever a worker is free. Each worker has databases of its
# own (its own postgres_url and sqlite_url).
SHARED_SERVER_PACKAGES = ("tests/e2e/", "tests/fuzz/", "tests/dashboard/test_replica.py")


@pytest.hookimpl(optionalhook=True)  # only called, and only known, when pytest-xdist runs the tests
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's own loadgroup reads xdist_group marks into test ids, which pytest 9
    ignores (every test ends up on its own); this groups by package instead."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedServerScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return next((package for package in SHARED_SERVER_PACKAGES if nodeid.startswith(package)), nodeid)

    return SharedServerScheduling(config, log)
