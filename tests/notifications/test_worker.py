"""The worker against a real SMTP server on loopback: reminders arrive once, survive the
server being down, and are never doubled by several workers."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock, make_settings
from tests.helpers import checkins_of, make_incident
from tests.notifications.conftest import SUMMARY, MailServer, Workers, free_port, leaks, outbox, text_of, wait_for
from trim.accounts import service as accounts
from trim.app import create_app
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession, utcnow
from trim.followups.models import CheckinReminder
from trim.notifications import service as notifications
from trim.notifications.worker import Outbox, claim_batch


async def _incident(session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, people: list[Any]) -> None:
    await make_incident(
        session,
        actor=cast.actor("lead"),
        station=cast.station_a,
        people=people,
        occurred_at=clock() - timedelta(hours=1),
        now=clock(),
        settings=settings,
        summary=SUMMARY,
    )


async def test_a_due_checkin_sends_exactly_one_reminder(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    await _incident(session, cast, clock, settings, [cast.responder])
    day3 = (await checkins_of(session, cast.responder))[0]
    worker = workers.new()
    await worker.tick()
    assert smtp_server.messages == []  # not due yet: nothing to say

    clock.set(day3.due_at + timedelta(minutes=1))
    await worker.tick()
    await worker.tick()  # sweep and send again: nothing new
    await workers.new().tick()  # and another worker, later
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    peer = cast.peer if day3.peer_id == cast.peer.id else cast.other_peer
    assert message["To"] == peer.email
    assert message["Subject"] == "You have a check-in due"
    assert f"https://testserver.local/checkins/{day3.id}" in text_of(message)
    assert message["Message-ID"].startswith("<") and message["Auto-Submitted"] == "auto-generated"
    (row,) = await outbox(session)
    assert row.sent_at == clock() and row.claim_token is None and row.attempts == 0


async def test_smtp_down_loses_nothing_and_retries_with_backoff(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers
) -> None:
    down = MailServer(port=free_port())  # nothing listening yet
    worker = workers.new(smtp_url=down.url, smtp_timeout_seconds=2)
    await accounts.set_roles(
        session, actor=cast.actor("admin"), person_id=cast.responder.id, roles=["responder", "peer"], now=clock()
    )
    await session.commit()
    sent_at = clock()

    await worker.tick()
    (row,) = await outbox(session)
    assert (row.attempts, row.sent_at, row.claim_token) == (1, None, None)
    assert row.next_attempt_at == sent_at + timedelta(seconds=settings.mail_retry_base_seconds)
    assert row.last_error is not None and "@" not in row.last_error

    clock.advance(seconds=settings.mail_retry_base_seconds + 1)
    await worker.tick()  # still down: the wait doubles
    (row,) = await outbox(session)
    assert row.attempts == 2
    assert row.next_attempt_at == clock() + timedelta(seconds=2 * settings.mail_retry_base_seconds)

    down.start()  # the server is back
    try:
        clock.advance(seconds=settings.mail_retry_base_seconds)  # not yet: backoff respected
        await worker.tick()
        assert down.messages == []
        clock.advance(seconds=settings.mail_retry_base_seconds + 1)
        await worker.tick()
        await worker.tick()
        assert [m["To"] for m in down.messages] == [cast.responder.email]
        assert not leaks(down.messages[0])
        (row,) = await outbox(session)
        assert row.sent_at == clock() and row.attempts == 2
    finally:
        down.stop()


async def test_a_crashed_workers_claim_is_retried_after_its_lease(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer, settings: Settings
) -> None:
    assert await notifications.enqueue(
        session, person_id=cast.lead.id, kind="escalation", subject="Waiting", body="Something waits.", now=clock()
    )
    await session.commit()
    # A worker claims the message and dies before sending it.
    crashed = workers.new()
    async with crashed.maker() as claim_session:
        claimed = await claim_batch(claim_session, token="dead", now=clock(), limit=10, lease=settings.mail_lease)
        await claim_session.commit()
    assert len(claimed) == 1

    survivor = workers.new()
    await survivor.tick()
    assert smtp_server.messages == []  # the lease still holds
    clock.advance(seconds=settings.mail_lease_seconds)
    await survivor.tick()
    await survivor.tick()
    assert [m["Subject"] for m in smtp_server.messages] == ["Waiting"]


async def test_urgent_messages_are_sent_first(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    for n in range(3):
        await notifications.enqueue(
            session, person_id=cast.peer.id, kind="flag", subject=f"Flag {n}", body="b", now=clock()
        )
        clock.advance(seconds=1)
    await notifications.enqueue(
        session, person_id=cast.peer.id, kind="urgent_flag", subject="Urgent", body="b", now=clock()
    )
    await session.commit()
    await workers.new(mail_batch_size=2).tick()
    assert [m["Subject"] for m in smtp_server.messages] == ["Urgent", "Flag 0"]


async def test_a_refused_address_is_given_up_after_the_second_attempt(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    async def refuse(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 No such user here"

    smtp_server.inbox.handle_RCPT = refuse  # type: ignore[attr-defined]
    await notifications.enqueue(
        session, email="gone@example.org", kind="escalation", subject="S", body="b", now=clock()
    )
    await session.commit()
    worker = workers.new()  # the default settings
    await worker.tick()
    (row,) = await outbox(session)
    assert (row.attempts, row.failed_at, row.last_error) == (1, None, "SMTPRecipientsRefused 550")
    assert row.next_attempt_at == clock() + timedelta(seconds=30)  # one more try, soon
    clock.set(row.next_attempt_at)
    await worker.tick()
    (row,) = await outbox(session)
    assert (row.attempts, row.failed_at) == (2, clock())
    clock.advance(days=1)
    await worker.tick()  # given up: never tried again
    assert (await outbox(session))[0].attempts == 2


async def test_a_busy_answer_is_not_given_up_after_two_attempts(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    async def busy(server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "451 Try again later"

    smtp_server.inbox.handle_RCPT = busy  # type: ignore[attr-defined]
    await notifications.enqueue(
        session, email="busy@example.org", kind="escalation", subject="S", body="b", now=clock()
    )
    await session.commit()
    worker = workers.new()
    for _ in range(4):
        await worker.tick()
        (row,) = await outbox(session)
        clock.set(row.next_attempt_at)
    assert (row.attempts, row.failed_at) == (4, None)


async def test_two_workers_sweeping_and_sending_at_once_send_each_message_once(
    session: AsyncSession, cast: Cast, clock: FakeClock, settings: Settings, workers: Workers, smtp_server: MailServer
) -> None:
    people = [cast.responder] + [await make_person(session, station=cast.station_a) for _ in range(23)]
    await session.commit()
    await _incident(session, cast, clock, settings, people)
    for who in ("clinician", "other_clinician", "supervisor"):  # some role changes in the same backlog
        await accounts.set_roles(
            session, actor=cast.actor("admin"), person_id=cast.person(who).id, roles=["responder"], now=clock()
        )
    # And plenty already waiting, so the two workers claim side by side many times over.
    waiting = [
        notifications.Message("flag", f"Flag {n}", "A flag needs you.", person_id=cast.lead.id) for n in range(60)
    ]
    assert await notifications.enqueue_many(session, waiting, now=clock()) == 60
    await session.commit()
    clock.advance(days=5, hours=1)  # every day3 check-in is overdue: one reminder each

    first, second = (
        workers.new(mail_batch_size=2, sweep_batch_size=5),
        workers.new(mail_batch_size=2, sweep_batch_size=5),
    )

    async def drain(worker: Any) -> None:
        for _ in range(40):
            await worker.tick()

    await asyncio.gather(drain(first), drain(second))

    ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    rows = await outbox(session)
    assert len(rows) == 3 + 60 + 24  # role changes, the waiting ones, one overdue reminder per check-in
    assert all(r.sent_at is not None for r in rows)
    assert len(ids) == len(rows) and set(ids.values()) == {1}
    reminders = await session.exec(select(CheckinReminder.stage, func.count()).group_by(col(CheckinReminder.stage)))
    assert dict(reminders.all()) == {"overdue": 24}


async def test_the_demo_runs_the_worker_inside_the_app_and_stops_it_cleanly(
    database_url: str, cast: Cast, clock: FakeClock, smtp_server: MailServer, session: AsyncSession
) -> None:
    settings = make_settings(database_url, run_worker_in_app=True, worker_poll_seconds=0.05, smtp_url=smtp_server.url)
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        async with signed_in(client, cast.admin) as admin:
            await admin.get("/admin/people")
            person = await accounts.person_view(session, cast.responder.id)
            form = {
                "name": person.name,
                "staff_number": person.staff_number,
                "email": person.email,
                "station_id": str(person.station_id),
                "roles": ["responder", "peer"],
            }
            response = await admin.post(f"/admin/people/{person.id}", data=form)
            assert response.status_code == 200, response.text
        await wait_for(lambda: len(smtp_server.messages) == 1)
        task = app.state.worker_task
        assert not task.done()
    assert task.done() and not task.cancelled() and task.exception() is None
    assert smtp_server.messages[0]["Subject"] == "Your roles have changed"


@pytest.mark.parametrize("stage", ["due", "overdue"])
async def test_no_reminder_carries_a_name_a_station_or_the_summary(
    stage: str,
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    settings: Settings,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    # The responder's peer, and the lead for a second responder nobody can take.
    await _incident(session, cast, clock, settings, [cast.responder])
    await accounts.set_availability(session, actor=cast.actor("peer"), available=False, now=clock())
    await accounts.set_availability(session, actor=cast.actor("other_peer"), available=False, now=clock())
    await session.commit()
    await _incident(session, cast, clock, settings, [cast.supervisor])
    clock.advance(days=3 if stage == "due" else 6)
    worker = workers.new()
    await worker.tick()
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    if stage == "due":
        assert subjects == ["A check-in is due with no peer assigned", "You have a check-in due"]
    else:
        assert subjects == ["A check-in is overdue", "A check-in is overdue with no peer assigned"]
    for message in smtp_server.messages:
        assert leaks(message) == [], text_of(message)


async def _trim_cli(settings: Settings, *args: str, smtp_url: str) -> Any:
    env = {
        "TRIM_DATABASE_URL": settings.database_url,
        "TRIM_SECRET_KEY": settings.secret(),
        "TRIM_ENCRYPTION_KEYS": f'["{settings.fernet_keys()[0]}"]',
        "TRIM_SMTP_URL": smtp_url,
        "TRIM_MAIL_FROM": "Peer support <trim@example.org>",
    }
    runner = CliRunner()
    return await anyio.to_thread.run_sync(lambda: runner.invoke(main, list(args), env=env))


async def test_trim_worker_once_sends_what_is_waiting(
    settings: Settings, session: AsyncSession, cast: Cast, smtp_server: MailServer
) -> None:
    await notifications.enqueue(
        session, person_id=cast.lead.id, kind="escalation", subject="Waiting", body="Something waits.", now=utcnow()
    )
    await session.commit()
    result = await _trim_cli(settings, "worker", "--once", smtp_url=smtp_server.url)
    assert result.exit_code == 0, result.output
    assert [(m["To"], m["From"]) for m in smtp_server.messages] == [
        (cast.lead.email, "Peer support <trim@example.org>")
    ]
    refused = await _trim_cli(settings, "worker", smtp_url="http://mail:25")
    assert refused.exit_code != 0
    assert "TRIM_SMTP_URL must start with smtp:// or smtps://" in refused.output


# -- the lease: short, renewed while a batch is sent, and a crash's only window ----------


def _real_time_outbox(workers: Workers, **overrides: Any) -> Outbox:
    """An outbox sender on the wall clock, as a deployed worker runs (the heartbeat sleeps
    in real time)."""
    worker = workers.new(**overrides)
    return Outbox(worker.maker, worker.settings, utcnow)


async def test_a_slow_batch_stays_claimed_while_it_is_sent(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    original = smtp_server.inbox.handle_DATA

    async def slow(server: Any, smtp_session: Any, envelope: Any) -> str:
        await asyncio.sleep(1.2)  # a slow mail server: 4 messages take longer than the lease
        return await original(server, smtp_session, envelope)

    smtp_server.inbox.handle_DATA = slow  # type: ignore[method-assign]
    for n in range(4):
        await notifications.enqueue(
            session, person_id=cast.lead.id, kind="flag", subject=f"Flag {n}", body="b", now=clock()
        )
    await session.commit()
    sender = _real_time_outbox(workers, mail_lease_seconds=3)
    other = _real_time_outbox(workers, mail_lease_seconds=3)

    batch = asyncio.create_task(sender.send_pending())
    while not all(row.claim_token for row in await outbox(session)):  # the sender has claimed
        await asyncio.sleep(0.05)
    taken_by_other = 0
    while not batch.done():
        taken_by_other += (await other.send_pending()).claimed
        await asyncio.sleep(0.25)
    report = await batch

    assert (report.claimed, report.sent, report.released) == (4, 4, 0)
    assert taken_by_other == 0  # the renewed lease kept the batch ours past its first 3 s
    assert sorted(m["Subject"] for m in smtp_server.messages) == [f"Flag {n}" for n in range(4)]
    assert all(row.sent_at is not None and row.claim_token is None for row in await outbox(session))


async def test_a_killed_workers_batch_is_resumed_within_the_short_lease(
    session: AsyncSession, cast: Cast, clock: FakeClock, workers: Workers, smtp_server: MailServer
) -> None:
    for n in range(3):
        await notifications.enqueue(
            session, person_id=cast.lead.id, kind="flag", subject=f"Flag {n}", body="b", now=clock()
        )
    await session.commit()
    lease = timedelta(seconds=3)
    killed = workers.new()
    async with killed.maker() as claim_session:  # claims its batch, then is SIGKILLed
        assert len(await claim_batch(claim_session, token="killed", now=utcnow(), limit=10, lease=lease)) == 3
        await claim_session.commit()
    started = utcnow()

    survivor = _real_time_outbox(workers, mail_lease_seconds=3)
    while len(smtp_server.messages) < 3:
        await survivor.send_pending()
        assert utcnow() - started < lease + timedelta(seconds=2), "the killed worker's batch waited too long"
        await asyncio.sleep(0.2)
    assert utcnow() - started >= lease - timedelta(seconds=0.5)  # not before its lease ran out
    assert len(smtp_server.messages) == 3


async def test_a_crash_after_the_servers_250_resends_with_the_same_message_id(
    session: AsyncSession,
    cast: Cast,
    clock: FakeClock,
    settings: Settings,
    workers: Workers,
    smtp_server: MailServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await notifications.enqueue(session, person_id=cast.lead.id, kind="flag", subject="Once", body="b", now=clock())
    await session.commit()

    async def killed_before_recording(self: Outbox, *args: Any) -> bool:
        raise asyncio.CancelledError  # the process dies right after the server's 250

    crashing = workers.new()
    monkeypatch.setattr(Outbox, "_record_sent", killed_before_recording)
    with pytest.raises(asyncio.CancelledError):
        await crashing.outbox.send_pending()
    monkeypatch.undo()
    assert len(smtp_server.messages) == 1
    (row,) = await outbox(session)
    assert row.sent_at is None and row.claim_token is not None  # the claim outlives the crash

    survivor = workers.new()
    await survivor.tick()
    assert len(smtp_server.messages) == 1  # not within the lease
    clock.advance(seconds=settings.mail_lease_seconds)
    await survivor.tick()
    await survivor.tick()
    first, again = smtp_server.messages
    assert first["Message-ID"] == again["Message-ID"]  # a duplicate mail systems can drop
    (row,) = await outbox(session)
    assert row.sent_at == clock() and row.claim_token is None
