"""Where the dashboard and reports read: a streaming replica of the database when one is
set (TRIM_DATABASE_REPLICA_URL) and current enough, the primary otherwise.

A read first asks the primary how far it has flushed its WAL and the replica how far it
has replayed it (one short query each). A replica that has replayed that far holds every
change committed before the read began: its figures are live. One a moment behind (this
very request may just have written the session's last-seen time) is given
TRIM_REPLICA_CATCH_UP_MS to get there, which streaming usually takes. One still behind holds
everything up to its last replayed commit (pg_last_xact_replay_timestamp): while that is
at most TRIM_REPLICA_MAX_LAG_SECONDS old the figures come from the replica and say "as of"
that time; older, they come from the primary. The replay timestamp alone would mislead:
with nothing written on the primary it grows old while the replica is fully caught up,
which is why the positions are compared first. (The primary's flush position is what a
standby can have received; a commit made with synchronous_commit off is visible a moment
before it is flushed, so such a commit can be missing from "live" figures for that moment.)

A replica that is down, unreachable or refusing costs one short wait
(TRIM_REPLICA_CONNECT_TIMEOUT_SECONDS); the process then remembers the failure and reads
from the primary for TRIM_REPLICA_RETRY_SECONDS before trying it again. A read that fails
on the replica part-way (the server went away, or cancelled the query for a conflict with
recovery) is done again on the primary. Either way the answer is the figures, with a
warning in the log and in trim_analytics_reads_total, never an error page.

The way in: `Analytics.read(work)` runs `work(session)` on the chosen database. A request
gets an Analytics from the `analytics` dependency (trim.deps.AnalyticsDb); a command or job
opens one with `analytics_session(primary, open_replica(settings))`. Code that is handed a
session rather than a piece of work (the reports' report_session) opens
`read_session(primary)` on the request's session instead. Reads only: the replica refuses
writes, so an audit event or any other change goes through the request's own `db`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from trim.config import Settings
from trim.db import create_engine, make_sessionmaker
from trim.metrics.registry import ANALYTICS_READS, REPLICA_LAG
from trim.web import database_unreachable

log = logging.getLogger("trim.analytics")

T = TypeVar("T")

Source = Literal["replica", "primary"]
# Why a read went to the primary although a replica is set up (or that none is): it failed
# to answer now, or did a short while ago (resting: not tried again yet), or is too far
# behind, or is no standby, or failed part-way through the read.
Reason = Literal["no_replica", "unreachable", "resting", "lagging", "not_standby", "failed"]

# Errors only a standby raises on a read: a query cancelled for a conflict with recovery,
# or the database dropped under it. Anything else (a read-only violation, a bad query) is a
# bug in the read and is raised, not hidden by reading the primary instead.
RECOVERY_CONFLICT_SQLSTATES = ("40001", "57P04")

PROBE = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(), clock_timestamp()"
)
PRIMARY_FLUSHED = text("SELECT pg_current_wal_flush_lsn()::text")


# -- the rule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadFrom:
    """Where a read was served. `as_of` is None when the figures are live; otherwise they
    hold every change committed up to it (the replica is `lag` behind the primary)."""

    source: Source
    as_of: datetime | None = None
    lag: timedelta | None = None
    reason: Reason | None = None


PRIMARY = ReadFrom("primary", reason="no_replica")


@dataclass(frozen=True)
class ReplicaPosition:
    """What a replica says of itself: whether it is a standby, the WAL position it has
    replayed, the commit time of the last transaction replayed, and its clock."""

    in_recovery: bool
    replayed: int | None
    last_replayed_commit: datetime | None
    clock: datetime


def parse_lsn(value: str) -> int:
    """A PostgreSQL WAL position ("16/B374D848") as a number that orders like it."""
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def is_standby(replica: ReplicaPosition) -> bool:
    """Replaying a primary's WAL. Not so once promoted (or never a standby): then nothing
    says how its data relates to our primary's."""
    return replica.in_recovery and replica.replayed is not None


def caught_up(primary_flushed: int, replica: ReplicaPosition) -> bool:
    """Has the replica replayed all the primary had flushed?"""
    return replica.replayed is not None and replica.replayed >= primary_flushed


def choose_source(primary_flushed: int, replica: ReplicaPosition, *, max_lag: timedelta) -> ReadFrom:
    """The replica when it holds everything the primary has flushed (live) or is at most
    `max_lag` behind (as of its last replayed commit); the primary otherwise."""
    if not is_standby(replica):
        return ReadFrom("primary", reason="not_standby")
    if caught_up(primary_flushed, replica):
        return ReadFrom("replica", lag=timedelta(0))
    if replica.last_replayed_commit is None:
        return ReadFrom("primary", reason="lagging")  # behind, and since when is unknown
    lag = max(timedelta(0), replica.clock - replica.last_replayed_commit)
    if lag > max_lag:
        return ReadFrom("primary", lag=lag, reason="lagging")
    return ReadFrom("replica", as_of=replica.last_replayed_commit, lag=lag)


def as_of_text(read_from: ReadFrom, zone: ZoneInfo) -> str | None:
    """ "14:05" (organisation's zone) for figures that are behind, with the day when it is not
    the replica's today ("Tue 1 Dec, 23:58"); None for live figures."""
    if read_from.as_of is None:
        return None
    local = read_from.as_of.astimezone(zone)
    today = (read_from.as_of + (read_from.lag or timedelta(0))).astimezone(zone).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%a %-d %b, %H:%M")


def replica_failed(exc: BaseException) -> bool:
    """Did a read fail because of the replica (gone, unreachable, a recovery conflict),
    rather than because of the read itself?"""
    if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in RECOVERY_CONFLICT_SQLSTATES:
        return True
    return database_unreachable(exc)


# -- the replica of one process ----------------------------------------------------------------


class Replica:
    """The replica's engine in this process, and what the process remembers of its failures."""

    def __init__(self, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not settings.database_replica_url:
            raise ValueError("TRIM_DATABASE_REPLICA_URL is not set")
        self.settings = settings
        self.engine = create_engine(
            settings.database_replica_url,
            pool_size=settings.database_pool_size,
            connect_timeout=settings.replica_connect_timeout_seconds,
        )
        self.sessionmaker = make_sessionmaker(self.engine)
        self._monotonic = monotonic
        self._resting_until: float | None = None
        self._last_reason: Reason | None = None

    @property
    def resting(self) -> bool:
        """Failed a short while ago: the primary serves until the retry time has passed."""
        return self._resting_until is not None and self._monotonic() < self._resting_until

    def failed(self, exc: BaseException, *, during: str) -> None:
        """Remember a failure: no read tries the replica for TRIM_REPLICA_RETRY_SECONDS."""
        self._resting_until = self._monotonic() + self.settings.replica_retry_seconds
        self._last_reason = "unreachable"
        log.warning(
            "read replica failed %s (%s); reading from the primary for %d s",
            during,
            type(exc).__name__,
            self.settings.replica_retry_seconds,
        )

    def chose(self, read_from: ReadFrom) -> None:
        """Log when the replica starts or stops serving for lag or being no standby, not each read."""
        if read_from.reason == self._last_reason:
            return
        self._last_reason = read_from.reason
        if read_from.reason in ("lagging", "not_standby"):
            lag = f"{read_from.lag.total_seconds():.0f} s behind" if read_from.lag is not None else "behind"
            what = lag if read_from.reason == "lagging" else "not a standby (promoted?)"
            log.warning("read replica is %s; reading from the primary", what)
        elif read_from.source == "replica":
            log.info("reading from the replica again")

    async def position(self, session: AsyncSession) -> ReplicaPosition:
        row = (await (await session.connection()).execute(PROBE)).one()
        in_recovery, replayed, last_commit, clock = row
        return ReplicaPosition(bool(in_recovery), parse_lsn(replayed) if replayed else None, last_commit, clock)

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_replica(settings: Settings) -> Replica | None:
    """The replica for these settings, or None when none is set up."""
    return Replica(settings) if settings.database_replica_url else None


# -- one use ------------------------------------------------------------------------------------


class Analytics:
    """The reads of one request or command: on the replica when it will do, else the primary
    session given (the request's own). `read_from` says where the last read was served."""

    def __init__(self, primary: AsyncSession, replica: Replica | None) -> None:
        self.primary = primary
        self.replica = replica
        self.read_from: ReadFrom = PRIMARY
        self._chosen: AsyncSession | None = None

    async def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work(session)` on the replica or the primary; redone on the primary when the
        replica fails part-way."""
        session = await self.session()
        if session is self.primary or self.replica is None:
            return await work(session)
        try:
            return await work(session)
        except Exception as exc:
            if not replica_failed(exc):
                raise
            self.replica.failed(exc, during="during a read")
            await self._drop(session)
            self._chosen = self.primary
            self._served(ReadFrom("primary", reason="failed"))
            return await work(self.primary)

    async def close(self) -> None:
        if self._chosen is not None and self._chosen is not self.primary:
            await self._chosen.close()
        self._chosen = None

    async def session(self) -> AsyncSession:
        """The session reads go to (chosen on first use): the replica's, or the primary."""
        if self._chosen is None:
            self._chosen = await self._choose()
        return self._chosen

    async def _choose(self) -> AsyncSession:
        replica = self.replica
        if replica is None:
            self._served(PRIMARY)
            return self.primary
        if replica.resting:
            self._served(ReadFrom("primary", reason="resting"))
            return self.primary
        settings = replica.settings
        flushed = parse_lsn((await (await self.primary.connection()).execute(PRIMARY_FLUSHED)).scalar_one())
        session = replica.sessionmaker()
        catch_up = settings.replica_catch_up_ms / 1000
        try:
            # The connect has its own timeout; this one also bounds a server that accepts
            # connections but does not answer.
            async with asyncio.timeout(settings.replica_connect_timeout_seconds + catch_up):
                position = await replica.position(session)
                # A replica a moment behind (this very request may have just written the
                # session's last-seen time) usually catches up in a few milliseconds.
                deadline = time.monotonic() + catch_up
                while is_standby(position) and not caught_up(flushed, position) and time.monotonic() < deadline:
                    await asyncio.sleep(catch_up / 10)
                    position = await replica.position(session)
        except Exception as exc:  # noqa: BLE001 - whatever the replica says, the primary serves
            replica.failed(exc, during="to answer")
            await self._drop(session)
            self._served(ReadFrom("primary", reason="unreachable"))
            return self.primary
        read_from = choose_source(flushed, position, max_lag=timedelta(seconds=settings.replica_max_lag_seconds))
        replica.chose(read_from)
        if read_from.lag is not None:
            REPLICA_LAG.set(read_from.lag.total_seconds())
        self._served(read_from)
        if read_from.source == "primary":
            await session.close()
            return self.primary
        return session

    def _served(self, read_from: ReadFrom) -> None:
        self.read_from = read_from
        reason = read_from.reason or ("behind" if read_from.as_of is not None else "live")
        ANALYTICS_READS.labels(read_from.source, reason).inc()

    @staticmethod
    async def _drop(session: AsyncSession) -> None:
        """Let go of a session on a failed replica without waiting on it (no rollback sent)."""
        with suppress(Exception):  # the connection is already lost
            await session.invalidate()


# Where a request's own session keeps its process's replica (trim.deps.provide_db), so code
# handed only that session can still read from the replica (read_session).
REPLICA_INFO = "trim.replica"


def remember_replica(session: AsyncSession, replica: Replica | None) -> None:
    session.info[REPLICA_INFO] = replica


def replica_of(session: AsyncSession) -> Replica | None:
    """The replica recorded on a request's session; None on any other (a command's, a job's)."""
    replica: Replica | None = session.info.get(REPLICA_INFO)
    return replica


@asynccontextmanager
async def analytics_session(primary: AsyncSession, replica: Replica | None = None) -> AsyncIterator[Analytics]:
    """Reads beside `primary`, a session on TRIM_DATABASE_URL: on `replica` (a command or job
    passes open_replica(settings)), or by default on the one recorded on a request's session.
    A request handler takes the `analytics` dependency instead (trim.deps.AnalyticsDb)."""
    analytics = Analytics(primary, replica or replica_of(primary))
    try:
        yield analytics
    finally:
        await analytics.close()


@asynccontextmanager
async def read_session(primary: AsyncSession, replica: Replica | None = None) -> AsyncIterator[AsyncSession]:
    """A session to read from, for code that takes a session rather than handing over its
    work: the replica's when it will do, else `primary` itself. A replica that fails inside
    the block is remembered (the next reads go to the primary) and the error raised: only
    Analytics.read can do the work again on the primary."""
    async with analytics_session(primary, replica) as analytics:
        session = await analytics.session()
        try:
            yield session
        except Exception as exc:
            if analytics.replica is not None and session is not primary and replica_failed(exc):
                analytics.replica.failed(exc, during="during a read")
            raise
