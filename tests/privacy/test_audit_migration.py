"""Revision 0615: the existing plain SHA-256 chain is sealed again under the audit key,
in its old order with its old numbers, and closed by an event recording the state the
old chain was found in; downgrading rebuilds the plain chain."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.sql.sqltypes import UTCDateTime

from tests.conftest import TEST_SECRET, _pg_admin, make_settings
from tests.foundation.test_migrations import _fresh_url
from tests.helpers import seal_audit
from trim.db import create_engine, make_sessionmaker
from trim.migrations import downgrade, upgrade
from trim.privacy import audit
from trim.privacy.models import AuditEvent

OLD = sa.table(
    "audit_events",
    sa.column("seq", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("subject_id", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
MADE = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def plain_chain(count: int) -> list[dict[str, object]]:
    """Rows as the code before 0615 wrote them."""
    rows, prev = [], "0" * 64
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "at": MADE + timedelta(minutes=seq),
            "actor_id": "system",
            "action": "person.updated",
            "target_type": "person",
            "target_id": f"p{seq}",
            "subject_id": f"p{seq}",
            "details": {"n": seq},
        }
        body = json.dumps(
            [seq, row["at"].isoformat(), "system", "person.updated", "person", f"p{seq}", f"p{seq}", {"n": seq}, prev],  # type: ignore[attr-defined]
            sort_keys=True,
            separators=(",", ":"),
        )
        digest = hashlib.sha256(body.encode()).hexdigest()
        rows.append({**row, "prev_hash": prev, "hash": digest})
        prev = digest
    return rows


@pytest.mark.parametrize("tampered", [False, True])
async def test_0615_seals_the_old_chain_under_the_key_keeping_its_order_and_numbers(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tampered: bool
) -> None:
    kind = "postgres" if database_url.startswith("postgresql") else "sqlite"
    url = await _fresh_url(kind, tmp_path)
    monkeypatch.setenv("TRIM_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("TRIM_AUDIT_KEY", raising=False)
    engine = create_engine(url, pool_size=1)
    try:
        upgrade(url, "0404")
        rows = plain_chain(5)
        if tampered:
            rows[2]["actor_id"] = "someone-else"  # edited after it was written
        async with engine.begin() as conn:
            await conn.execute(OLD.insert(), rows)
        upgrade(url)
        settings = make_settings(url)
        async with make_sessionmaker(engine)() as session:
            events = list(await session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
            report = await audit.verify_chain(session, keys=audit.keyring(settings))
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert [e.target_id for e in events[:5]] == ["p1", "p2", "p3", "p4", "p5"]
        assert [e.at for e in events[:5]] == [r["at"] for r in rows]
        closing = events[5]
        assert closing.action == "audit.resealed" and closing.details["events"] == 5
        assert closing.details["old_head_hash"] == rows[4]["hash"]
        expected = "broken at event 3: its link or contents did not match" if tampered else "intact"
        assert closing.details["old_chain"] == expected
        assert report.ok and report.checked == 6 and report.unsealed == 0
        assert {e.key_id for e in events} == {audit.keyring(settings).current_id}
        # New events go on from there.
        async with make_sessionmaker(engine)() as session:
            audit.record(session, actor="system", action="checkin.viewed", target_type="checkin")
            await session.commit()
            assert await seal_audit(session, settings) == 1
            assert (await audit.verify_chain(session, keys=audit.keyring(settings))).checked == 7
        # Down again: the plain chain over every event, as the old code verifies it.
        downgrade(url, "0404")
        async with engine.connect() as conn:
            back = (await conn.execute(sa.select(OLD).order_by(OLD.c.seq))).all()
        assert [r.seq for r in back] == list(range(1, 8))
        prev = "0" * 64
        for r in back:
            assert r.prev_hash == prev
            prev = r.hash
        if not tampered:
            assert back[4].hash == rows[4]["hash"]  # the untouched old part comes back as it was
        upgrade(url)
    finally:
        await engine.dispose()
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def test_0615_without_a_key_leaves_the_old_events_for_the_worker_in_order(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = "postgres" if database_url.startswith("postgresql") else "sqlite"
    url = await _fresh_url(kind, tmp_path)
    monkeypatch.delenv("TRIM_SECRET_KEY", raising=False)
    monkeypatch.delenv("TRIM_AUDIT_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env with a key in it
    engine = create_engine(url, pool_size=1)
    try:
        upgrade(url, "0404")
        async with engine.begin() as conn:
            await conn.execute(OLD.insert(), plain_chain(3))
        upgrade(url)
        settings = make_settings(url)
        async with make_sessionmaker(engine)() as session:
            assert (await audit.verify_chain(session, keys=audit.keyring(settings))).unsealed == 4
            assert await seal_audit(session, settings) == 4
            events = list(await session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
            assert [e.target_id for e in events] == ["p1", "p2", "p3", None]
            assert (await audit.verify_chain(session, keys=audit.keyring(settings))).ok
    finally:
        await engine.dispose()
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
