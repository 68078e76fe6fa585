"""Upgrades without downtime: the previous release (schema 0404) keeps serving while this
release's migrations run, and this release's code then reads and writes what it wrote.

Migrations are expand-then-contract: a release adds (a column with a default or nullable, a
table, an index) and backfills; what the old code still reads is dropped only in a later
release. The static test below holds every migration since the last release to that, except
the ones listed with the reason they cannot be (they need the old release stopped first).
"""

from __future__ import annotations

import ast
import asyncio
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from litestar.testing import AsyncTestClient
from sqlmodel import select

from tests.cast import actor_for, make_person, make_station
from tests.conftest import BASE_URL, _pg_admin, _pg_url, make_settings
from tests.helpers import make_incident
from trim.accounts.models import Person
from trim.app import create_app
from trim.db import create_engine, make_sessionmaker
from trim.migrations import alembic_config, upgrade

PREVIOUS_RELEASE = "0404"

# Migrations since the previous release that contract, and why. Each stops old code, so the
# README's upgrade order asks for the old release to be stopped before `trim db upgrade`
# when one of these is in the way.
CONTRACTS_THAT_NEED_A_STOP = {
    # The audit table's key changes (seq to id) and the chain is resealed under the HMAC key;
    # the 0404 code numbers and hashes each event itself in the request, so events it wrote
    # after the reseal would break the new chain.
    "0615": "audit_events rebuilt and resealed under the audit key",
}
# Migrations that drop or change something, reviewed and found harmless to the old release.
REVIEWED_COMPATIBLE = {
    # One check-in per (exposure, offset) becomes one per (exposure, kind): the 0404 code's
    # kinds are one per offset, so the new rule refuses what the old one did, and no old
    # statement names the dropped constraint (ON CONFLICT uses it nowhere).
    "0625": "unique (exposure_id, offset_days) replaced by unique (exposure_id, kind)",
    # The same rule as a partial unique index that leaves out the new "monitor" kind: the
    # 0404 code writes no such kind, so for it nothing changes.
    "0627": "unique (exposure_id, kind) kept as a partial unique index for kinds other than monitor",
}
CONTRACTING_CALLS = {"drop_column", "drop_table", "rename_table", "drop_constraint", "alter_column", "execute"}


def since_previous_release() -> list[Any]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.iterate_revisions("head", PREVIOUS_RELEASE))
    return [r for r in reversed(revisions) if r.revision != PREVIOUS_RELEASE]


def contracting_calls(path: Path) -> list[str]:
    """The calls on the way up (upgrade() and its helpers, not downgrade()) that remove or
    tighten something old code relies on."""
    tree = ast.parse(path.read_text())
    going_up = [n for n in tree.body if isinstance(n, ast.FunctionDef) and "downgrade" not in n.name]
    found = []
    for node in (node for fn in going_up for node in ast.walk(fn)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CONTRACTING_CALLS:
            name = node.func.attr
            if name == "alter_column":
                tightened = any(
                    k.arg == "nullable" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in node.keywords
                ) or any(k.arg in ("new_column_name", "type_") for k in node.keywords)
                if not tightened:
                    continue
            if name == "execute":
                continue  # data backfills are expand steps; DDL by hand would show in review
            found.append(f"{name} (line {node.lineno})")
    return sorted(found, key=lambda call: int(call.rsplit(" ", 1)[1].strip(")")))


def test_migrations_since_the_last_release_only_expand() -> None:
    revisions = since_previous_release()
    assert [r.revision for r in revisions][:1] == ["0616"], "the chain after 0404 starts at 0616"
    contracting = {r.revision: contracting_calls(Path(r.path)) for r in revisions}
    known = CONTRACTS_THAT_NEED_A_STOP | REVIEWED_COMPATIBLE
    unexpected = {rev: calls for rev, calls in contracting.items() if calls and rev not in known}
    assert unexpected == {}, (
        f"these migrations contract; split them (expand now, contract a release later): {unexpected}"
    )
    listed_but_clean = [rev for rev in known if not contracting.get(rev)]
    assert listed_but_clean == [], "no longer contracting: take them off the list"


def test_the_contract_finder_finds_a_drop(tmp_path: Path) -> None:
    migration = tmp_path / "m.py"
    migration.write_text(
        "def upgrade():\n"
        "    op.add_column('t', sa.Column('c', sa.String(), nullable=True))\n"
        "    with op.batch_alter_table('t') as b:\n"
        "        b.drop_column('old')\n"
        "    op.alter_column('t', 'c', nullable=False)\n"
    )
    assert contracting_calls(migration) == ["drop_column (line 4)", "alter_column (line 5)"]


# -- the old release serving while the new migrations run -----------------------------------


class OldRelease(threading.Thread):
    """What the 0404 code does all day, in its own columns only: people added, then read back
    by email, over and over until stopped; every failure is kept."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.written: list[str] = []

    def run(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        engine = create_engine(self.url, pool_size=2)
        try:
            async with engine.connect() as conn:
                people = await conn.run_sync(lambda sync: sa.Table("people", sa.MetaData(), autoload_with=sync))
            while not self.stop.is_set():
                values = _row(people)
                try:
                    async with engine.begin() as conn:
                        await conn.execute(people.insert().values(**values))
                    async with engine.connect() as conn:
                        found = (
                            await conn.execute(sa.select(people.c.id).where(people.c.email == values["email"]))
                        ).scalar_one()
                    assert found == values["id"]
                    self.written.append(values["email"])
                except Exception as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(0.02)
        finally:
            await engine.dispose()


def _row(people: sa.Table) -> dict[str, Any]:
    """A person as the old code wrote one: every column it had to fill."""
    email = f"old-{secrets.token_hex(4)}@example.org"
    return {
        column.name: _value_for(column, email)
        for column in people.columns
        if not column.nullable and column.server_default is None
    }


def _value_for(column: sa.Column[Any], email: str) -> Any:
    if column.name == "email":
        return email
    kind = column.type
    if isinstance(kind, sa.Uuid) or column.name == "id" or column.name.endswith("_id"):
        return uuid.uuid4()
    if isinstance(kind, sa.Boolean):
        return column.name in ("active", "is_active")
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC)
    if isinstance(kind, sa.JSON):
        return {}
    if column.name == "roles":
        return '["responder"]'
    return f"old-{secrets.token_hex(3)}"


@pytest.fixture
def previous_release_db() -> Any:
    name = f"trim_upgrade_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _pg_url(name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.slow
def test_the_previous_release_keeps_serving_while_this_one_migrates(previous_release_db: str) -> None:
    url = previous_release_db
    upgrade(url, PREVIOUS_RELEASE)
    old = OldRelease(url)
    old.start()
    try:
        while len(old.written) < 5 and not old.errors:
            old.stop.wait(0.05)
        before = len(old.written)
        upgrade(url, "head")  # while the old release writes and reads
        during = len(old.written) - before
        old.stop.wait(0.3)
        assert during > 0, "the old release wrote while the migrations ran"
        assert len(old.written) > before + during, "and goes on writing on the new schema"
    finally:
        old.stop.set()
        old.join(timeout=10)
    assert old.errors == []

    # This release's code on the result: reads what the old one wrote, writes beside it.
    async def new_release() -> None:
        settings = make_settings(url)
        engine = create_engine(url, pool_size=2)
        try:
            async with make_sessionmaker(engine)() as session:
                emails = set((await session.exec(select(Person.email))).all())
                assert set(old.written) <= emails
                someone = (await session.exec(select(Person).where(Person.email == old.written[0]))).one()
                station = await make_station(session, "Station Upgrade")
                supervisor = await make_person(
                    session,
                    roles=["supervisor", "responder"],
                    station=station,
                    name="Sue Pervisor",
                    email="sue@example.org",
                )
                now = datetime.now(UTC)
                incident = await make_incident(
                    session,
                    actor=actor_for(supervisor, ["supervisor", "responder"]),
                    station=station,
                    people=[someone],
                    occurred_at=now - timedelta(hours=2),
                    now=now,
                    settings=settings,
                )
                assert incident.id is not None
        finally:
            await engine.dispose()
        async with AsyncTestClient(app=create_app(settings), base_url=BASE_URL) as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text

    asyncio.run(new_release())
