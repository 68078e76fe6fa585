"""Key rotation while serving, and the retention purge (trim.records)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select

from tests.cast import Cast
from tests.conftest import TEST_KEYS, FakeClock, make_settings
from tests.helpers import checkins_of, make_incident, verified
from tests.privacy.test_audit_keys_purge import cli, recorded_case
from trim.assessments.models import Assessment, AssessmentResult
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.flags import service as flags
from trim.flags.models import Flag
from trim.followups.models import CheckIn
from trim.incidents.models import Exposure, Incident
from trim.privacy import crypto
from trim.records.keys import rotate_keys, undecryptable
from trim.records.retention import purge
from trim.requests import service as requests


async def test_key_rotation_while_serving_loses_nothing(
    db: AsyncSession, session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock
) -> None:
    old = make_settings(database_url, encryption_keys=[TEST_KEYS[0]])
    await recorded_case(db, cast, old, clock)
    for i in range(30):
        await requests.submit(
            db,
            actor=cast.actor("responder"),
            now=clock(),
            settings=old,
            data=requests.RequestInput("today", "phone", f"020 7946 {i:04d}", False, message=f"message {i}"),
        )
    await db.commit()
    both = make_settings(database_url, encryption_keys=[TEST_KEYS[1], TEST_KEYS[0]])  # new key first
    engine = create_engine(database_url, pool_size=4)
    maker = make_sessionmaker(engine)

    async def traffic() -> None:  # the app keeps writing while rotation runs
        for i in range(30, 45):
            async with maker() as tx:
                await requests.submit(
                    tx,
                    actor=cast.actor("responder"),
                    now=clock(),
                    settings=both,
                    data=requests.RequestInput("today", "text", f"020 7946 {i:04d}", False, message=f"message {i}"),
                )
                await tx.commit()
            await asyncio.sleep(0)

    counts, _ = await asyncio.gather(rotate_keys(maker, both, batch=7), traffic())
    await engine.dispose()
    assert sum(counts.values()) >= 30 * 2 + 2
    only_new = make_settings(database_url, encryption_keys=[TEST_KEYS[1]])
    assert await undecryptable(session, only_new) == 0
    raw = await session.exec(text("SELECT message_encrypted FROM peer_requests"))  # type: ignore[call-overload]
    messages = sorted(crypto.decrypt(only_new, m) or "" for m in raw.scalars())
    assert messages == sorted(f"message {i}" for i in range(45))
    raw_notes = await session.exec(text("SELECT notes_encrypted FROM assessments"))  # type: ignore[call-overload]
    notes = {crypto.decrypt(only_new, n) for n in raw_notes.scalars()}
    assert notes == {"Private words."}


def _sorted(rows: Any) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in row) for row in rows)


async def _totals(session: AsyncSession) -> dict[str, Any]:
    async def one(stmt: Any) -> Any:
        return (await session.exec(stmt)).one()

    return {
        "incidents": await one(select(func.count()).select_from(Incident)),
        "exposures": await one(select(func.count()).select_from(Exposure)),
        "people": await one(select(func.count(func.distinct(Exposure.person_id)))),
        "checkins": _sorted(
            await session.exec(
                select(CheckIn.kind, CheckIn.outcome, func.count()).group_by(col(CheckIn.kind), col(CheckIn.outcome))
            )
        ),
        "bands": _sorted(await session.exec(select(Assessment.band, func.count()).group_by(col(Assessment.band)))),
        "flags": _sorted(
            await session.exec(
                select(Flag.cause, Flag.status, func.count()).group_by(col(Flag.cause), col(Flag.status))
            )
        ),
    }


async def test_purge_deidentifies_old_closed_cases_keeps_totals_and_is_idempotent(
    db: AsyncSession, session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url, retention_days=30)
    checkins = await recorded_case(db, cast, settings, clock, days_ago=400)
    for flag in await flags.list_flags(db, actor=cast.actor("lead")):
        await flags.close_flag(
            db, actor=cast.actor("lead"), flag_id=flag.id, reason="Seen by GP.", now=clock() - timedelta(days=300)
        )
    await db.commit()
    # A recent, open case of the same person stays as it is.
    await make_incident(
        db,
        actor=cast.actor("lead"),
        station=cast.station_b,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=2),
        now=clock(),
        settings=settings,
    )
    before = await _totals(session)
    report = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert report.exposures == 1 and report.incidents_summarised == 1
    assert await _totals(session) == {**before, "people": before["people"] + 1}  # the stand-in, once
    again = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert (again.exposures, again.requests, again.flags, again.incidents_summarised) == (0, 0, 0, 0)
    old_ids = [c.id for c in checkins]
    rows = list(
        await session.exec(
            select(Assessment).where(col(Assessment.checkin_id).in_(old_ids)).execution_options(populate_existing=True)
        )
    )
    assert rows and all(a.notes_encrypted is None and a.person_id != cast.responder.id for a in rows)
    answers = list(await session.exec(select(AssessmentResult.answers)))
    assert {} in answers
    mine = await checkins_of(session, cast.responder)
    assert [c.id for c in mine] and not set(old_ids) & {c.id for c in mine}
    assert (await verified(session, settings)).ok
    out = await cli(settings, "purge", "--dry-run")
    assert "0 case(s)" in out.output
