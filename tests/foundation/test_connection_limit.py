"""When PostgreSQL's connection table is full (SQLSTATE 53300, "too many connections"),
people are told to try again in a moment (503 with Retry-After), not shown a crash, and
no traceback is logged; the app carries on by itself once a connection is free.

The fault is made the way a deployment meets it: the app connects as an ordinary
(non-superuser) role whose connection limit the test fills up from outside."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import make_person, sign_in
from tests.conftest import _pg_admin
from trim.db import AsyncSession

ROLE_LIMIT = 3  # the test's session, the app's one connection, and one spare to fill


@pytest.fixture(scope="module")
def limited_role() -> Iterator[str]:
    role = f"trim_limited_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER CONNECTION LIMIT {ROLE_LIMIT}'))
    yield role
    asyncio.run(_pg_admin(f'DROP ROLE IF EXISTS "{role}"'))


@pytest.fixture
def database_url(pg_only_url: str, limited_role: str) -> Iterator[str]:
    database = pg_only_url.rsplit("/", 1)[1]
    grants = (
        f'GRANT CONNECT ON DATABASE "{database}" TO "{limited_role}"',
        f'GRANT USAGE ON SCHEMA public TO "{limited_role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{limited_role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{limited_role}"',
    )
    asyncio.run(_pg_admin_on(pg_only_url, grants))
    assert "postgres@127.0.0.1:5432/" in pg_only_url, pg_only_url
    yield pg_only_url.replace("postgres@127.0.0.1:5432/", f"{limited_role}@127.0.0.1:5432/")
    asyncio.run(_pg_admin_on(pg_only_url, (f'DROP OWNED BY "{limited_role}"',)))


async def _pg_admin_on(url: str, statements: tuple[str, ...]) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"database_pool_size": 1}


@pytest.fixture
async def filler(database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    """Connections held as the app's role, taken on demand to fill the role's limit."""
    held: list[asyncpg.Connection] = []
    yield held
    for conn in held:
        await conn.close()


async def _fill_the_connection_table(url: str, held: list[asyncpg.Connection]) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    for _ in range(ROLE_LIMIT + 1):
        try:
            held.append(await asyncpg.connect(dsn))
        except asyncpg.TooManyConnectionsError as exc:
            assert exc.sqlstate == "53300"
            return
    pytest.fail("the role's connection limit was never reached")


async def test_full_connection_table_answers_503_with_retry_after_and_no_traceback(
    client: AsyncTestClient[Litestar],
    app: Litestar,
    session: AsyncSession,
    database_url: str,
    filler: list[asyncpg.Connection],
    caplog: pytest.LogCaptureFixture,
) -> None:
    peer = await make_person(session, roles=["responder", "peer"])
    await sign_in(client, peer.email)
    assert (await client.get("/api/checkins")).status_code == 200

    # The app's own idle connection is dropped (as a pool recycles one, on the loop the
    # app runs on), so its next request has to open a connection and meets the full table.
    client.blocking_portal.call(app.state.engine.dispose)  # type: ignore[union-attr]
    await _fill_the_connection_table(database_url, filler)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        api = await client.get("/api/checkins")
        page = await client.get("/checkins", headers={"accept": "text/html"})
        health = await client.get("/health")

    assert api.status_code == 503, api.text
    assert api.headers["retry-after"] == "5"
    assert api.json()["detail"] == "The service is briefly unavailable."
    assert page.status_code == 503
    assert page.headers["retry-after"] == "5"
    assert "Briefly unavailable" in page.text
    assert health.status_code == 503
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # A connection comes free: the next request is served, without restarting anything.
    await filler.pop().close()
    again = await client.get("/api/checkins")
    assert again.status_code == 200, again.text
