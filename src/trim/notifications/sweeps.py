"""How periodic sweeps run.

A sweep is `async def sweep_x(session, *, now, settings) -> int` (how much it did). It
must be safe to run on several workers at the same moment: claim each item with a
conditional update or a unique constraint, never by "nobody else is running". Each sweep
runs in its own transaction; the runner commits it, or rolls it back and logs when it
fails, and goes on with the next. Each area's jobs.py exports its SWEEPS tuple; trim.jobs
composes them into the list every worker runs, without building the web app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import dialect_insert
from trim.notifications.models import SweepMark

log = logging.getLogger("trim.worker")


class Sweep(Protocol):
    def __call__(self, session: AsyncSession, *, now: datetime, settings: Settings) -> Awaitable[int]: ...


@dataclass(frozen=True)
class RegisteredSweep:
    name: str  # dotted, area first: "checkins.due"
    run: Sweep


async def run_sweeps(
    maker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    settings: Settings,
    sweeps: Sequence[RegisteredSweep],
) -> dict[str, int]:
    """Run each sweep once, each in its own transaction. Returns what each did (a failed
    one counts 0; the others still run)."""
    done: dict[str, int] = {}
    for sweep in sweeps:
        started = time.perf_counter()
        async with maker() as session:
            try:
                done[sweep.name] = int(await sweep.run(session, now=now, settings=settings))
                await session.commit()
            except Exception:
                await session.rollback()
                log.exception("sweep failed", extra={"sweep": sweep.name})
                done[sweep.name] = 0
                continue
        if done[sweep.name]:
            log.info(
                "sweep",
                extra={
                    "sweep": sweep.name,
                    "items": done[sweep.name],
                    "ms": round((time.perf_counter() - started) * 1000),
                },
            )
    return done


# -- marks: how far a sweep has got --------------------------------------------------------


async def read_mark(session: AsyncSession, name: str) -> datetime | None:
    """The sweep's mark, or None before its first run."""
    return (await session.exec(select(SweepMark.mark).where(SweepMark.name == name))).first()


async def advance_mark(session: AsyncSession, name: str, mark: datetime, *, now: datetime) -> None:
    """Move the mark forward to `mark` (never back: two workers may race to set it)."""
    stmt = dialect_insert(session, SweepMark).values(name=name, mark=mark, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"mark": stmt.excluded.mark, "updated_at": stmt.excluded.updated_at},
        where=col(SweepMark.mark) < stmt.excluded.mark,
    )
    await session.exec(stmt)
