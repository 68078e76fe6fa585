"""Migrations run on both databases, and the app will not serve an unmigrated one."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import inspect, text

from tests.conftest import _pg_admin, _pg_url, make_settings
from trim.app import create_app
from trim.db import create_engine, metadata
from trim.migrations import NotMigrated, current_revisions, downgrade, ensure_migrated, head_revisions, upgrade


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrated_database_has_every_table_and_is_at_head(database_url: str) -> None:
    tables = await _tables(database_url)
    assert {t.name for t in metadata.sorted_tables} <= tables
    engine = create_engine(database_url, pool_size=1)
    try:
        assert await current_revisions(engine) == head_revisions()
        await ensure_migrated(engine)
    finally:
        await engine.dispose()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _fresh_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    name = f"trim_fresh_{secrets.token_hex(4)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_app_refuses_an_unmigrated_database_and_says_what_to_run(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "postgres":
        request.getfixturevalue("postgres_url")  # skips or fails as configured
    url = await _fresh_url(kind, tmp_path)
    try:
        app = create_app(make_settings(url))
        with pytest.raises(BaseException) as caught:  # the test client wraps it in a group
            async with AsyncTestClient(app=app):
                pass
        found = _leaves(caught.value)
        assert any(isinstance(e, NotMigrated) and "Run `trim db upgrade` first" in str(e) for e in found)
        # Upgrade, then downgrade to nothing and back: both directions work.
        upgrade(url)
        assert "people" in await _tables(url)
        downgrade(url, "base")
        assert "people" not in await _tables(url)
        upgrade(url)
        async with AsyncTestClient(app=create_app(make_settings(url)), base_url="https://testserver.local") as client:
            assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}
    finally:
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_stored_snapshots_learn_their_items_phases(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Assessments recorded before phases are judged by their snapshot: after 0616 its
    history and event items are known as such, so they cannot make a persistent flag."""
    if kind == "postgres":
        request.getfixturevalue("postgres_url")
    url = await _fresh_url(kind, tmp_path)
    try:
        upgrade(url, "0404")
        old = {
            "id": "trim_risk",
            "version": 1,
            "items": [
                {"id": "prior_trauma", "text": "x", "section": "Before"},
                {"id": "life_threat", "text": "x", "section": "During"},
                {"id": "blames_others", "text": "x", "section": "After"},
                {"id": "custom", "text": "x", "section": "Other"},
            ],
        }
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO instrument_snapshots (instrument_id, version, definition, created_at) "
                        "VALUES ('trim_risk', 1, :d, :at)"
                    ),
                    {"d": json.dumps(old), "at": datetime(2026, 11, 1, tzinfo=UTC)},
                )
            upgrade(url)
            async with engine.connect() as conn:
                stored = (await conn.execute(text("SELECT definition FROM instrument_snapshots"))).scalar_one()
        finally:
            await engine.dispose()
        stored = json.loads(stored) if isinstance(stored, str) else stored
        assert [i["phase"] for i in stored["items"]] == ["before", "during", "after", "after"]
    finally:
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_caseloads_built_before_0644_are_packed_not_rebuilt(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0644 packs each kind's caseload rows into one row, as the sweep would have."""
    from array import array

    from sqlalchemy import insert

    from trim.dashboard.models import Caseload

    if kind == "postgres":
        request.getfixturevalue("postgres_url")
    url = await _fresh_url(kind, tmp_path)
    first, second = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    pairs = {
        ("", first): array("q", [1 << 32 | 7, 2 << 32 | 9]),
        ("", second): array("q", [3 << 32 | 7]),
        ("fire", second): array("q", [3 << 32 | 7]),
    }
    try:
        upgrade(url, "0643")
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    insert(Caseload.__table__),  # type: ignore[arg-type]
                    [
                        {"kind": k, "peer_id": uuid.UUID(peer), "pairs": values.tobytes()}
                        for (k, peer), values in pairs.items()
                    ],
                )
            upgrade(url)
            async with engine.connect() as conn:
                packs = {
                    row[0]: row[1:]
                    for row in await conn.execute(
                        text("SELECT kind, peers, ends, days, persons FROM dashboard_caseload_packs ORDER BY kind")
                    )
                }
        finally:
            await engine.dispose()
        # Peer ids as each database writes a UUID as text (SQLite stores them without dashes).
        peer_text = {p: p if kind == "postgres" else p.replace("-", "") for p in (first, second)}
        assert set(packs) == {"", "fire"}
        peers, ends, days, persons = packs[""]
        assert peers == f"{peer_text[first]},{peer_text[second]}"
        assert array("I", bytes(ends)).tolist() == [2, 3]
        assert array("I", bytes(days)).tolist() == [1, 2, 3]
        assert array("I", bytes(persons)).tolist() == [7, 9, 7]
        assert packs["fire"][0] == peer_text[second]
    finally:
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
