"""The audit chain. (Key rotation and retention, which moved to trim.records, are tested in
tests/records/test_keys_and_purge.py, with the helpers below.)"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
from click.testing import CliRunner
from sqlalchemy import text
from sqlmodel import col, select

from tests.cast import Cast
from tests.conftest import FakeClock
from tests.helpers import answers_for, checkins_of, make_incident, verified
from trim.assessments import service as assessments
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups.models import CheckIn
from trim.privacy import audit
from trim.privacy.models import AuditEvent


async def cli(settings: Settings, *args: str) -> Any:
    env = {
        "TRIM_DATABASE_URL": settings.database_url,
        "TRIM_SECRET_KEY": settings.secret(),
        "TRIM_ENCRYPTION_KEYS": "[" + ",".join(f'"{k}"' for k in settings.fernet_keys()) + "]",
        # The shared file holds other tests' anchors: this chain is checked without any.
        "TRIM_AUDIT_ANCHOR_FILE": str(settings.audit_anchor_file.with_name(f"none-{uuid.uuid4()}.jsonl")),
    }
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, list(args), env=env))


async def recorded_case(
    db: AsyncSession,
    cast: Cast,
    settings: Settings,
    clock: FakeClock,
    *,
    days_ago: int = 40,
    notes: str = "Private words.",
) -> list[CheckIn]:
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=days_ago),
        now=clock() - timedelta(days=days_ago),
        settings=settings,
    )
    checkins = await checkins_of(db, cast.responder)
    for checkin in checkins:
        actor = cast.actor("peer") if checkin.peer_id == cast.peer.id else cast.actor("other_peer")
        await assessments.record_checkin(
            db,
            actor=actor,
            checkin_id=checkin.id,
            settings=settings,
            now=checkin.due_at + timedelta(hours=1),
            submission=assessments.Submission("completed", answers=answers_for(checkin.kind, risk_yes=3), notes=notes),
        )
        await db.commit()
    return checkins


async def test_audit_chain_verifies_and_names_an_edited_row(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await recorded_case(db, cast, settings, clock)
    report = await verified(session, settings)
    assert report.ok and report.checked > 10 and report.unsealed == 0
    ok = await cli(settings, "audit", "verify")
    assert ok.exit_code == 0 and "audit chain intact" in ok.output
    target = (
        await session.exec(
            select(AuditEvent.seq).where(AuditEvent.action == "checkin.recorded").order_by(col(AuditEvent.seq)).limit(1)
        )
    ).one()
    assert target is not None
    # Someone with database access quietly changes who did it.
    await session.exec(text("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = :s").bindparams(s=target))  # type: ignore[call-overload]
    broken = await cli(settings, "audit", "verify")
    assert broken.exit_code == 1
    assert f"BROKEN at event {target}: its contents were changed" in broken.output
    await session.exec(text("DELETE FROM audit_events WHERE seq = :s").bindparams(s=target))  # type: ignore[call-overload]
    gap = await audit.verify_chain(session, keys=audit.keyring(settings))
    assert gap.broken_seq == target + 1 and "is missing" in (gap.reason or "")


async def test_audit_events_hold_ids_never_content(
    db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock
) -> None:
    await recorded_case(db, cast, settings, clock, notes="Mentioned the red car.")
    dump = " ".join(str(row) for row in await session.exec(select(AuditEvent)))
    assert "red car" not in dump and cast.responder.name not in dump
