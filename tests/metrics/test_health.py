"""Liveness apart from readiness: a load balancer sends traffic only to a process whose
database answers at the code's schema, and restarts only one that does not answer at all."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import BASE_URL, make_settings
from trim.app import create_app
from trim.migrations import upgrade


async def test_ready_and_live_on_a_current_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'current.db'}"
    upgrade(url)
    async with AsyncTestClient(app=create_app(make_settings(url)), base_url=BASE_URL) as client:
        assert (await client.get("/health/live")).json() == {"status": "ok"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "database": "ok", "migrations": "current"}
        assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}  # unchanged


async def test_not_ready_while_migrations_are_behind(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    upgrade(url, "0625")
    app = create_app(make_settings(url), check_migrations=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "error", "database": "ok", "migrations": "behind"}


async def test_not_ready_but_live_when_the_database_is_down() -> None:
    # Nothing listens on port 1: the database is "down".
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/trim"
    app = create_app(make_settings(url), check_migrations=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["database"] == "error"
        assert (await client.get("/health")).status_code == 503
