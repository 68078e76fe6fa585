"""The audit chain against someone with database access (design 3b).

Events are written unsealed in the request's transaction; the worker seals them under
the audit key and anchors the head outside the database. Each way of rewriting history
an attacker with the database (and not the key) has is tried, and `trim audit verify`
must fail and say where."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select

from tests.cast import Cast
from tests.conftest import FakeClock, make_settings
from tests.privacy.test_audit_keys_purge import recorded_case
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.notifications.models import SweepMark
from trim.notifications.worker import Worker
from trim.privacy import audit, sealing
from trim.privacy.models import AuditEvent

KEY_1 = "audit-key-one-" + "1" * 40
KEY_2 = "audit-key-two-" + "2" * 40


@pytest.fixture
def anchored(settings: Settings, tmp_path: Path) -> Settings:
    """The test's settings with an anchor file of its own."""
    return settings.model_copy(update={"audit_anchor_file": tmp_path / "anchors.jsonl"})


@pytest.fixture
async def maker(anchored: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(anchored.database_url, pool_size=4)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def verify_cli(settings: Settings, *extra: str) -> Any:
    env = {
        "TRIM_DATABASE_URL": settings.database_url,
        "TRIM_SECRET_KEY": settings.secret(),
        "TRIM_ENCRYPTION_KEYS": json.dumps(settings.fernet_keys()),
        "TRIM_AUDIT_ANCHOR_FILE": str(settings.audit_anchor_file),
    }
    if settings.audit_key is not None:
        env["TRIM_AUDIT_KEY"] = settings.audit_key.get_secret_value()
    env["TRIM_AUDIT_OLD_KEYS"] = json.dumps([k.get_secret_value() for k in settings.audit_old_keys])
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["audit", "verify", *extra], env=env))


async def sealed_case(
    db: AsyncSession, cast: Cast, settings: Settings, clock: FakeClock, maker: async_sessionmaker[AsyncSession]
) -> int:
    """A recorded case, sealed and anchored by a worker round; the chain's length."""
    await recorded_case(db, cast, settings, clock)
    worker = Worker(maker, settings, clock=clock, sweeps=[])
    await worker.seal_audit()
    async with maker() as s:
        return await sealing.max_seq(s)


async def test_an_event_queued_before_a_failed_savepoint_is_committed_with_the_change(
    db: AsyncSession, session: AsyncSession, clock: FakeClock
) -> None:
    db.add(SweepMark(name="twin", mark=clock()))
    await db.commit()
    audit.record(db, actor="system", action="checkin.recorded", target_type="checkin", target_id="c-1")
    # A concurrent twin's unique row makes the savepoint fail, as at raise_flag or the idempotency claim.
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            db.add(SweepMark(name="twin", mark=clock()))
            await db.flush()
    audit.record(db, actor="system", action="checkin.viewed", target_type="checkin", target_id="c-1")
    await db.commit()
    actions = list(await session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id))))
    assert actions == ["checkin.recorded", "checkin.viewed"]


async def test_an_event_queued_inside_a_failed_savepoint_goes_with_it(
    db: AsyncSession, session: AsyncSession, clock: FakeClock
) -> None:
    db.add(SweepMark(name="twin", mark=clock()))
    await db.commit()
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            audit.record(db, actor="system", action="flag.raised", target_type="flag", target_id="f-1")
            db.add(SweepMark(name="twin", mark=clock()))
            await db.flush()
    await db.commit()
    assert (await session.exec(select(func.count()).select_from(AuditEvent))).one() == 0


async def test_an_untouched_chain_with_anchors_verifies_and_says_what_awaits_sealing(
    db: AsyncSession, cast: Cast, anchored: Settings, clock: FakeClock, maker: async_sessionmaker[AsyncSession]
) -> None:
    await recorded_case(db, cast, anchored, clock)
    waiting = await verify_cli(anchored)
    assert waiting.exit_code == 0 and "0 events verified" in waiting.output
    assert "await sealing" in waiting.output and "no anchors" in waiting.output
    await Worker(maker, anchored, clock=clock, sweeps=[]).seal_audit()
    async with maker() as s:
        head = await sealing.max_seq(s)
    assert head > 10
    (line,) = anchored.audit_anchor_file.read_text().splitlines()
    anchor = json.loads(line)
    assert anchor["event"] == "audit.anchor" and anchor["seq"] == head and len(anchor["hash"]) == 64
    ok = await verify_cli(anchored)
    assert ok.exit_code == 0, ok.output
    assert f"audit chain intact: {head} events verified, 1 anchor(s) held" in ok.output
    assert "await sealing" not in ok.output


async def test_a_deleted_tail_fails_verification_naming_the_events_gone(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    anchored: Settings,
    clock: FakeClock,
    maker: async_sessionmaker[AsyncSession],
) -> None:
    head = await sealed_case(db, cast, anchored, clock, maker)
    cut = head - 3
    await session.exec(text("DELETE FROM audit_events WHERE seq >= :n").bindparams(n=cut))  # type: ignore[call-overload]
    # The chain left behind is internally consistent: only the anchor knows.
    assert (await audit.verify_chain(session, keys=audit.keyring(anchored))).ok
    out = await verify_cli(anchored)
    assert out.exit_code == 1
    assert f"BROKEN at event {head}: the sealed chain ends at event {cut - 1}" in out.output
    assert f"events {cut}-{head} are gone (a deleted tail)" in out.output


async def test_an_edited_row_fails_verification_naming_it(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    anchored: Settings,
    clock: FakeClock,
    maker: async_sessionmaker[AsyncSession],
) -> None:
    await sealed_case(db, cast, anchored, clock, maker)
    target = (await session.exec(select(AuditEvent.seq).where(AuditEvent.action == "checkin.recorded"))).first()
    await session.exec(
        text("UPDATE audit_events SET target_id = 'another' WHERE seq = :s").bindparams(s=target)  # type: ignore[call-overload]
    )
    out = await verify_cli(anchored)
    assert out.exit_code == 1
    assert f"BROKEN at event {target}: its contents were changed after it was sealed" in out.output


def _recompute(rows: list[AuditEvent], *, key: bytes | None, start: int) -> list[dict[str, Any]]:
    """What an attacker rebuilding the chain from `start` on writes: renumbered, rehashed
    with the app's own function (under a key they guess) or the old plain SHA-256."""
    kept = [r for r in rows if (r.seq or 0) < start]
    prev, out = (kept[-1].hash or audit.GENESIS) if kept else audit.GENESIS, []
    for seq, row in enumerate([r for r in rows if (r.seq or 0) >= start], start=start):
        if key is None:
            body = json.dumps(
                [
                    seq,
                    row.at.isoformat(),
                    row.actor_id,
                    row.action,
                    row.target_type,
                    row.target_id,
                    row.subject_id,
                    row.details,
                    prev,
                ],
                sort_keys=True,
                separators=(",", ":"),
            )
            digest = hashlib.sha256(body.encode()).hexdigest()
        else:
            digest = audit.event_hash(
                key=key,
                seq=seq,
                at=row.at,
                actor_id=row.actor_id,
                action=row.action,
                target_type=row.target_type,
                target_id=row.target_id,
                subject_id=row.subject_id,
                details=row.details,
                prev_hash=prev,
            )
        out.append({"id": row.id, "seq": seq, "prev": prev, "hash": digest})
        prev = digest
    return out


@pytest.mark.parametrize("guess", ["a guessed key", "the old plain hash"])
async def test_deleting_rows_and_recomputing_the_chain_fails_verification(
    guess: str,
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    anchored: Settings,
    clock: FakeClock,
    maker: async_sessionmaker[AsyncSession],
) -> None:
    await sealed_case(db, cast, anchored, clock, maker)
    # Erase the traces: every person.created row, then renumber and rehash what is left.
    first_gone = (
        await session.exec(select(func.min(AuditEvent.seq)).where(AuditEvent.action == "person.created"))
    ).one()
    assert first_gone is not None
    await session.exec(text("DELETE FROM audit_events WHERE action = 'person.created'"))  # type: ignore[call-overload]
    rows = list(await session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
    key = audit.derive_key("not-the-secret-key-but-a-good-guess-000") if guess == "a guessed key" else None
    await session.exec(text("UPDATE audit_events SET seq = -seq WHERE seq > :n").bindparams(n=first_gone))  # type: ignore[call-overload]
    for change in _recompute(rows, key=key, start=first_gone):
        await session.exec(
            text("UPDATE audit_events SET seq = :seq, prev_hash = :prev, hash = :hash WHERE id = :id").bindparams(  # type: ignore[call-overload]
                **change
            )
        )
    out = await verify_cli(anchored)
    assert out.exit_code == 1
    # The first renumbered event no longer carries a hash made with the key.
    assert f"BROKEN at event {first_gone}: its contents were changed after it was sealed" in out.output
    assert "its hash is not the one anchored" in out.output or "a deleted tail" in out.output


async def test_a_renumbered_chain_fails_verification_naming_where(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    anchored: Settings,
    clock: FakeClock,
    maker: async_sessionmaker[AsyncSession],
) -> None:
    head = await sealed_case(db, cast, anchored, clock, maker)
    # One event removed from the middle, and those after it moved down to close the gap.
    await session.exec(text("DELETE FROM audit_events WHERE seq = 5"))  # type: ignore[call-overload]
    for seq in range(6, head + 1):
        await session.exec(text("UPDATE audit_events SET seq = :n WHERE seq = :o").bindparams(n=seq - 1, o=seq))  # type: ignore[call-overload]
    out = await verify_cli(anchored)
    assert out.exit_code == 1
    assert "BROKEN at event 5: its link to the previous event does not match" in out.output
    assert f"event {head}: the sealed chain ends at event {head - 1}" in out.output


async def test_a_rewritten_anchor_file_line_is_reported_not_skipped(
    db: AsyncSession, cast: Cast, anchored: Settings, clock: FakeClock, maker: async_sessionmaker[AsyncSession]
) -> None:
    head = await sealed_case(db, cast, anchored, clock, maker)
    with anchored.audit_anchor_file.open("a") as f:
        f.write("not json\n")
        f.write(json.dumps({"seq": head, "hash": "f" * 64, "at": clock().isoformat()}) + "\n")
    out = await verify_cli(anchored)
    assert out.exit_code == 1
    assert "anchor file line 2: not an anchor line" in out.output
    assert f"BROKEN at event {head}: its hash is not the one anchored" in out.output and "line 3" in out.output


async def test_two_workers_sealing_at_once_make_one_chain(
    db: AsyncSession, session: AsyncSession, anchored: Settings, clock: FakeClock
) -> None:
    engines = [create_engine(anchored.database_url, pool_size=2) for _ in range(2)]
    makers = [make_sessionmaker(e) for e in engines]
    small = anchored.model_copy(update={"audit_seal_batch_size": 7})
    try:
        for round_ in range(6):
            for i in range(25):
                audit.record(
                    db, actor="system", action="checkin.viewed", target_type="checkin", target_id=f"{round_}-{i}"
                )
            await db.commit()
            await asyncio.gather(*(sealing.seal_all(m, settings=small, now=clock()) for m in makers))
    finally:
        for engine in engines:
            await engine.dispose()
    seqs = list(await session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))))
    assert seqs == list(range(1, 151))
    report = await audit.verify_chain(session, keys=audit.keyring(anchored))
    assert report.ok and report.checked == 150 and report.unsealed == 0
    # Sealed in the order they were written (one writer per transaction here).
    targets = list(await session.exec(select(AuditEvent.target_id).order_by(col(AuditEvent.seq))))
    assert targets == [f"{r}-{i}" for r in range(6) for i in range(25)]
    assert (await verify_cli(anchored)).exit_code == 0


async def test_a_new_audit_key_seals_on_and_the_old_part_and_its_anchors_still_verify(
    db: AsyncSession, session: AsyncSession, anchored: Settings, clock: FakeClock, maker: Any
) -> None:
    first = anchored.model_copy(update={"audit_key": make_settings(anchored.database_url, audit_key=KEY_1).audit_key})
    for i in range(5):
        audit.record(db, actor="system", action="checkin.viewed", target_type="checkin", target_id=f"a{i}")
    await db.commit()
    await sealing.seal_all(maker, settings=first, now=clock())
    rotated = make_settings(
        anchored.database_url, audit_key=KEY_2, audit_old_keys=[KEY_1], audit_anchor_file=anchored.audit_anchor_file
    )
    for i in range(5):
        audit.record(db, actor="system", action="checkin.viewed", target_type="checkin", target_id=f"b{i}")
    await db.commit()
    await sealing.seal_all(maker, settings=rotated, now=clock())
    used = set(await session.exec(select(AuditEvent.key_id).distinct()))
    assert used == {audit.key_id(KEY_1.encode()), audit.key_id(KEY_2.encode())}
    ok = await verify_cli(rotated)
    assert ok.exit_code == 0 and "10 events verified, 2 anchor(s) held" in ok.output
    # Dropping the old key too early is caught, naming the key by its id.
    forgot = make_settings(anchored.database_url, audit_key=KEY_2, audit_anchor_file=anchored.audit_anchor_file)
    out = await verify_cli(forgot)
    assert out.exit_code == 1
    assert f"BROKEN at event 1: it was sealed with audit key {audit.key_id(KEY_1.encode())}" in out.output


async def test_the_default_key_is_derived_from_the_secret_and_an_explicit_one_takes_over(
    database_url: str,
) -> None:
    derived = audit.keyring(make_settings(database_url))
    assert derived.current == audit.derive_key(make_settings(database_url).secret())
    explicit = audit.keyring(make_settings(database_url, audit_key=KEY_1))
    assert explicit.current == KEY_1.encode()
    # Events sealed under the derived key before TRIM_AUDIT_KEY was set still verify.
    assert derived.current_id in explicit.by_id


async def test_the_worker_anchors_hourly_even_when_nothing_new_was_sealed(
    db: AsyncSession, anchored: Settings, clock: FakeClock, maker: async_sessionmaker[AsyncSession]
) -> None:
    audit.record(db, actor="system", action="checkin.viewed", target_type="checkin", target_id="x")
    await db.commit()
    worker = Worker(maker, anchored, clock=clock, sweeps=[])
    await worker.seal_audit()
    await worker.seal_audit()  # nothing new, not an hour yet: no second anchor
    assert len(anchored.audit_anchor_file.read_text().splitlines()) == 1
    clock.advance(minutes=61)
    await worker.seal_audit()
    lines = [json.loads(line) for line in anchored.audit_anchor_file.read_text().splitlines()]
    assert [a["seq"] for a in lines] == [1, 1]
