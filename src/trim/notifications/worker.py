"""The worker: run the periodic sweeps, then send what the outbox holds.

Several workers (and app processes with the worker inside) may run side by side. A
message is claimed before it is sent: its row gets this batch's token and a lease
(claimed_until). Only the claimant marks it sent, and a message whose claimant died is
claimed again once the lease runs out. While a batch is being sent, a heartbeat renews
the lease every third of it, so the lease can be short (a killed worker's messages wait
at most one lease) and a slow mail server still keeps its batch. On PostgreSQL the claim locks its rows with
SELECT ... FOR UPDATE SKIP LOCKED, so concurrent claims take different rows; on SQLite
(where SQLAlchemy silently drops FOR UPDATE) the one-writer database makes a
conditional UPDATE ... RETURNING a claim by itself.

At most once, while the worker lives; at least once, always. A worker killed after the
mail server's 250 and before its own "sent" write leaves a message that is sent again
once the lease runs out: no protocol over SMTP can close that window. It is kept to one
statement (an UPDATE on a connection held for the batch, committed as it runs), and the
resend carries the same Message-ID, so mail systems that drop duplicates drop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import utcnow
from trim.notifications import mail, rules
from trim.notifications.models import OutboxMessage
from trim.notifications.sweeps import RegisteredSweep, run_sweeps
from trim.privacy import sealing

log = logging.getLogger("trim.worker")

Clock = Callable[[], datetime]


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    given_up: int = 0
    released: int = 0


def _sendable(now: datetime) -> Any:
    return and_(
        col(OutboxMessage.sent_at).is_(None),
        col(OutboxMessage.failed_at).is_(None),
        col(OutboxMessage.next_attempt_at) <= now,
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now),
    )


async def claim_batch(
    session: AsyncSession, *, token: str, now: datetime, limit: int, lease: timedelta
) -> list[OutboxMessage]:
    """Claim up to `limit` messages that are ready (urgent first, then oldest). The caller
    commits at once, so the claim is visible to other workers before anything is sent."""
    candidates = (
        select(OutboxMessage.id)
        .where(_sendable(now))
        .order_by(col(OutboxMessage.urgent).desc(), col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
        .limit(limit)
    )
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        # Lock the rows first, skipping those another worker is claiming right now. (As a
        # subquery of the UPDATE, PostgreSQL may run it more than once and claim too many.)
        ids = list(await session.exec(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return []
        chosen: Any = col(OutboxMessage.id).in_(ids)
    else:
        # SQLite has one writer at a time: the conditional UPDATE ... RETURNING is the claim.
        chosen = and_(col(OutboxMessage.id).in_(candidates), _sendable(now))
    stmt = (
        update(OutboxMessage)
        .where(chosen)
        .values(claim_token=token, claimed_until=now + lease)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    rows = list((await session.exec(stmt)).scalars())
    rows.sort(key=lambda m: (not m.urgent, m.next_attempt_at, str(m.id)))
    return rows


async def renew_claim(session: AsyncSession, *, token: str, now: datetime, lease: timedelta) -> int:
    """Extend the lease on every message of this batch not yet settled; how many."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.claim_token) == token, col(OutboxMessage.sent_at).is_(None))
        .values(claimed_until=now + lease)
    )
    return int(result.rowcount or 0)


@dataclass
class _Lease:
    """Until when this batch is known to be ours (the last renewal that committed)."""

    until: datetime


class Outbox:
    """Sending one claimed batch, settling each message as it goes."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock) -> None:
        self.maker = maker
        self.settings = settings
        self.clock = clock

    async def _settle(self, message: OutboxMessage, token: str, **values: Any) -> bool:
        """Update a message we hold the claim on, and drop the claim; False if we lost it."""
        async with self.maker() as session:
            result = await session.exec(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message.id,
                    col(OutboxMessage.claim_token) == token,
                    col(OutboxMessage.sent_at).is_(None),
                )
                .values(claim_token=None, claimed_until=None, **values)
            )
            await session.commit()
            return bool(result.rowcount)

    @property
    def renew_every(self) -> timedelta:
        return self.settings.mail_lease / 3

    async def _keep_claimed(self, token: str, lease: _Lease) -> None:
        """The heartbeat: renew the batch's lease every third of it until cancelled. A
        failed renewal (database away) is logged; the sender stops before the lease ends."""
        while True:
            await asyncio.sleep(self.renew_every.total_seconds())
            now = self.clock()
            try:
                async with self.maker() as session:
                    await renew_claim(session, token=token, now=now, lease=self.settings.mail_lease)
                    await session.commit()
            except Exception as exc:  # noqa: BLE001 - the heartbeat must outlive a bad moment
                log.warning("could not renew the outbox lease", extra={"error": type(exc).__name__})
                continue
            lease.until = now + self.settings.mail_lease

    def _engine(self) -> AsyncEngine:
        bind = self.maker.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

    async def _record_sent(self, conn: AsyncConnection, message: OutboxMessage, token: str) -> bool:
        """The one statement between the mail server's 250 and "sent": on a connection
        already held, committed as it runs (PostgreSQL) or in its own short transaction."""
        stmt = (
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message.id,
                col(OutboxMessage.claim_token) == token,
                col(OutboxMessage.sent_at).is_(None),
            )
            .values(claim_token=None, claimed_until=None, sent_at=self.clock(), last_error=None)
        )
        if conn.dialect.name == "postgresql":
            result = await conn.execute(stmt)
        else:
            async with conn.begin():
                result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def _failed(self, message: OutboxMessage, token: str, exc: BaseException, report: SendReport) -> None:
        attempts = message.attempts + 1
        now = self.clock()
        error = mail.describe_error(exc)
        # A refusal (5xx) is tried once more (a server can refuse by mistake, briefly), then
        # given up: backing off for hours would not change the answer.
        if mail.is_permanent(exc) and attempts >= self.settings.mail_max_attempts:
            await self._settle(message, token, attempts=attempts, failed_at=now, last_error=error)
            report.given_up += 1
            log.error("email given up", extra={"outbox_id": str(message.id), "kind": message.kind, "error": error})
            return
        delay = rules.retry_delay(
            attempts,
            base_seconds=self.settings.mail_retry_base_seconds,
            max_seconds=self.settings.mail_retry_max_seconds,
        )
        await self._settle(message, token, attempts=attempts, next_attempt_at=now + delay, last_error=error)
        report.retrying += 1

    async def send_pending(self) -> SendReport:
        """Claim a batch, send it over one SMTP connection, mark each message as it goes."""
        token = str(uuid.uuid4())
        async with self.maker() as session:
            claimed = await claim_batch(
                session,
                token=token,
                now=self.clock(),
                limit=self.settings.mail_batch_size,
                lease=self.settings.mail_lease,
            )
            await session.commit()
        report = SendReport(claimed=len(claimed))
        if not claimed:
            return report
        try:
            target = mail.parse_smtp_url(self.settings.smtp_url, default_timeout=self.settings.smtp_timeout_seconds)
            smtp = await mail.connect(target)
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            log.warning("mail server unavailable; will retry", extra={"error": mail.describe_error(exc)})
            for message in claimed:
                await self._failed(message, token, exc, report)
            return report
        lease = _Lease(until=min(m.claimed_until for m in claimed if m.claimed_until is not None))
        heartbeat = asyncio.create_task(self._keep_claimed(token, lease), name="trim-outbox-lease")
        try:
            async with self._engine().connect() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execution_options(isolation_level="AUTOCOMMIT")
                await self._send_each(smtp, conn, claimed, token, report, lease=lease)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
        log.info(
            "outbox",
            extra={"sent": report.sent, "retrying": report.retrying, "given_up": report.given_up},
        )
        return report

    async def _send_each(
        self,
        smtp: aiosmtplib.SMTP,
        conn: AsyncConnection,
        claimed: Sequence[OutboxMessage],
        token: str,
        report: SendReport,
        *,
        lease: _Lease,
    ) -> None:
        for index, message in enumerate(claimed):
            if self.clock() + self.renew_every >= lease.until:
                # The heartbeat has missed a renewal (the database is away): another worker
                # may soon take these over, so hand the rest back untouched.
                for rest in claimed[index:]:
                    report.released += await self._settle(rest, token)
                return
            try:
                await smtp.send_message(mail.build_email(message, self.settings))
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._failed(message, token, exc, report)
                if mail.is_connection_failure(exc):
                    log.warning("mail server went away; will retry", extra={"error": mail.describe_error(exc)})
                    for rest in claimed[index + 1 :]:
                        await self._failed(rest, token, exc, report)
                    return
                continue
            if await self._record_sent(conn, message, token):
                report.sent += 1
            else:
                log.warning("claim lost before the send was recorded", extra={"outbox_id": str(message.id)})


class Worker:
    """One worker: sweeps, then the outbox, every poll interval (at once again while busy)."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        sweeps: Sequence[RegisteredSweep],
        clock: Clock = utcnow,
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.clock = clock
        self.sweeps = sweeps
        self.outbox = Outbox(maker, settings, clock)

    async def seal_audit(self) -> int:
        """Seal the audit events committed since the last round (and anchor the head); a
        failure is logged and the round goes on: the events wait for the next one."""
        try:
            report = await sealing.seal_and_anchor(self.maker, settings=self.settings, now=self.clock())
        except Exception:
            log.exception("audit sealing failed; trying again next round")
            return 0
        return report.sealed

    async def tick(self) -> bool:
        """One round; True when there is probably more to do straight away."""
        sealed = await self.seal_audit()
        done = await run_sweeps(self.maker, now=self.clock(), settings=self.settings, sweeps=self.sweeps)
        # The sweeps' own audit events (reminders sent, purges) are sealed in the same round.
        sealed += await self.seal_audit()
        report = await self.outbox.send_pending()
        full_sweep = any(n >= self.settings.sweep_batch_size for n in done.values())
        return (
            full_sweep or report.sent >= self.settings.mail_batch_size or sealed >= self.settings.audit_seal_batch_size
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set. A failing round (database down) is logged and retried."""
        log.info("worker started", extra={"poll_seconds": self.settings.worker_poll_seconds})
        while not stop.is_set():
            try:
                busy = await self.tick()
            except Exception:
                log.exception("worker round failed; trying again")
                busy = False
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)
        log.info("worker stopped")


@contextlib.asynccontextmanager
async def running(worker: Worker, *, grace_seconds: float = 10.0) -> Any:
    """Run a worker as a task for the duration of a block (the app's lifespan); on the way
    out ask it to stop, and cancel it if it has not within the grace period."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="trim-worker")
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=grace_seconds)
        except TimeoutError:
            log.warning("worker did not stop in time; cancelled")
