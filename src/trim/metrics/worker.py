"""The worker, counted: each sweep's last run and duration, mail sent and given up, events
sealed, and the end of every round (the figure that goes stale when the worker dies)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import utcnow
from trim.metrics.registry import worker_metrics
from trim.notifications.sweeps import RegisteredSweep
from trim.notifications.worker import Clock, Outbox, SendReport, Worker


def observed(sweep: RegisteredSweep) -> RegisteredSweep:
    """The same sweep, timed and counted under its name."""
    metrics = worker_metrics()
    inner = sweep.run

    async def run(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
        started = time.perf_counter()
        try:
            done = await inner(session, now=now, settings=settings)
        except Exception:
            metrics.sweep_failures.labels(sweep.name).inc()
            raise
        metrics.sweep_items.labels(sweep.name).inc(done)
        metrics.sweep_duration.labels(sweep.name).set(time.perf_counter() - started)
        metrics.sweep_last_run.labels(sweep.name).set_to_current_time()
        return done

    return replace(sweep, run=run)


class ObservedOutbox(Outbox):
    async def send_pending(self) -> SendReport:
        report = await super().send_pending()
        metrics = worker_metrics()
        metrics.mail_sent.inc(report.sent)
        metrics.mail_retrying.inc(report.retrying)
        metrics.mail_given_up.inc(report.given_up)
        return report


class ObservedWorker(Worker):
    """`trim worker`'s worker: the same rounds, with its figures kept."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        sweeps: Sequence[RegisteredSweep],
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(maker, settings, sweeps=[observed(s) for s in sweeps], clock=clock)
        self.outbox = ObservedOutbox(self.maker, self.settings, self.clock)
        metrics = worker_metrics()
        for sweep in sweeps:
            # Every sweep shows from the start, so "never ran" is visible as a 0 timestamp.
            metrics.sweep_last_run.labels(sweep.name)
            metrics.sweep_failures.labels(sweep.name)

    async def seal_audit(self) -> int:
        sealed = await super().seal_audit()
        worker_metrics().audit_sealed.inc(sealed)
        return sealed

    async def tick(self) -> bool:
        busy = await super().tick()
        worker_metrics().last_round.set_to_current_time()
        return busy
