"""The README's backup and restore, run for real on PostgreSQL: an organisation is seeded and
sealed (anchors written), dumped with pg_dump, restored with pg_restore into a database that
never saw it, and then every encrypted value opens with the keys from the secret store,
`trim audit verify` passes against the anchors file kept beside the dump, and the lead's
dashboard shows the same figures. Its twin: the same restore without the keys reads nothing."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import col, select

from tests.cast import actor_for
from tests.conftest import PG_ADMIN_URL, TEST_KEYS, TEST_SECRET, _pg_admin, _pg_url, make_settings
from trim.cli import main
from trim.config import Settings
from trim.dashboard import service as dashboard
from trim.db import create_engine, make_sessionmaker, utcnow
from trim.demo import seed_demo
from trim.migrations import upgrade
from trim.privacy import crypto, sealing
from trim.records.keys import ENCRYPTED

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")


def libpq(url: str) -> str:
    """The URL pg_dump and pg_restore take (no driver name)."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def plaintexts(settings: Settings) -> tuple[int, list[str]]:
    """Every encrypted value, opened: how many there are, and a digest of each text."""
    engine = create_engine(settings.database_url, pool_size=1)
    digests: list[str] = []
    total = 0
    try:
        async with make_sessionmaker(engine)() as session:
            for model, column in ENCRYPTED:
                field = getattr(model, column)
                for token in await session.exec(select(field).where(col(field).is_not(None))):
                    total += 1
                    try:
                        plain = crypto.decrypt(settings, token) or ""
                    except crypto.UndecryptableError:
                        continue
                    digests.append(hashlib.sha256(plain.encode()).hexdigest())
    finally:
        await engine.dispose()
    return total, sorted(digests)


async def dashboard_figures(settings: Settings, lead_id: Any, now: datetime) -> Any:
    from trim.accounts.models import Person

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            lead = (await session.exec(select(Person).where(Person.id == lead_id))).one()
            filters = await dashboard.read_filters(
                session, from_text=None, to_text=None, station_text=None, kind_text=None, now=now, settings=settings
            )
            return await dashboard.dashboard(
                session, actor=actor_for(lead, ["lead"]), filters=filters, now=now, settings=settings
            )
    finally:
        await engine.dispose()


async def seed_and_seal(settings: Settings) -> Any:
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        maker = make_sessionmaker(engine)
        async with maker() as session:
            cast = await seed_demo(session, settings=settings, now=utcnow())
            await session.commit()
        await sealing.seal_all(maker, settings=settings, now=utcnow())
        return cast.lead.id
    finally:
        await engine.dispose()


def verify(settings: Settings, anchors: Path) -> tuple[int, str]:
    env = {
        "TRIM_DATABASE_URL": settings.database_url,
        "TRIM_SECRET_KEY": settings.secret(),
        "TRIM_ENCRYPTION_KEYS": "[" + ",".join(f'"{k}"' for k in settings.fernet_keys()) + "]",
    }
    result = CliRunner().invoke(main, ["audit", "verify", "--anchors", str(anchors)], env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def databases() -> Any:
    names = [f"trim_backup_{secrets.token_hex(4)}", f"trim_restored_{secrets.token_hex(4)}"]
    for name in names:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield [_pg_url(name) for name in names]
    finally:
        for name in names:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
def test_a_restore_gives_back_readable_notes_a_chain_that_verifies_and_the_same_figures(
    databases: list[str], tmp_path: Path
) -> None:
    assert PG_ADMIN_URL.startswith("postgresql")
    source_url, restored_url = databases
    anchors = tmp_path / "audit-anchors.jsonl"
    source = make_settings(source_url, audit_anchor_file=anchors)
    upgrade(source_url)
    lead_id = asyncio.run(seed_and_seal(source))
    stored, opened = asyncio.run(plaintexts(source))
    assert stored > 0 and len(opened) == stored
    as_of = utcnow()
    before = asyncio.run(dashboard_figures(source, lead_id, as_of))
    assert anchors.read_text().strip(), "the worker's sealing wrote anchors"

    # The backup: the database (custom format), plus the anchors file and the keys, kept apart.
    dump = tmp_path / "trim.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), libpq(source_url)], check=True)
    backup_anchors = tmp_path / "backup-anchors.jsonl"
    backup_anchors.write_bytes(anchors.read_bytes())

    # The restore, into a database that never saw this organisation.
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", libpq(restored_url), str(dump)], check=True
    )
    restored = make_settings(restored_url, audit_anchor_file=backup_anchors)

    assert asyncio.run(plaintexts(restored)) == (stored, opened)  # every note opens, the same text
    code, out = verify(restored, backup_anchors)
    assert code == 0, out
    assert "audit chain intact" in out and "anchor(s) held" in out
    after = asyncio.run(dashboard_figures(restored, lead_id, as_of))
    assert any(figure.rows for figure in before.figures.values()), "the seeded organisation shows on the dashboard"
    assert after.figures == before.figures
    # Everything else on the page too (the ledger is the working behind the figures, compared above).
    assert replace(after, ledger=None) == replace(before, ledger=None)

    # Without the keys from the secret store the same restore opens nothing, and says so.
    other_keys = make_settings(restored_url, encryption_keys=[TEST_KEYS[1]], secret_key=TEST_SECRET)
    total, readable = asyncio.run(plaintexts(other_keys))
    assert total == stored and readable == []
