"""Waiting for a conversation's next message without polling the database.

A reader that already has every message asks with `wait`: the answer comes when the
other side writes (or the conversation changes state), or empty when the wait is over.
While it waits it holds no database connection.

On PostgreSQL, a write says so with NOTIFY in its own transaction (delivered when it
commits, never for a write that rolls back); each process keeps one connection that
LISTENs and wakes its waiters for that request. A lost listening connection is made
again on the next wait, and every waiter also looks again every RECHECK_SECONDS, so a
notification missed while it was being made again delays an answer, never loses it.
SQLite (the embedded, one-process set-up) has no NOTIFY: waiters look again every
SQLITE_RECHECK_SECONDS instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel.ext.asyncio.session import AsyncSession

CHANNEL = "trim_conversation"
RECHECK_SECONDS = 5.0
SQLITE_RECHECK_SECONDS = 0.5
MAX_WAIT_SECONDS = 25
# How long an open conversation's page waits on each ask (under proxies' usual 30 s idle limit).
PAGE_WAIT_SECONDS = 20

log = logging.getLogger(__name__)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def announce(session: AsyncSession, request_id: uuid.UUID) -> None:
    """In the writer's transaction: wake whoever waits on this request once it commits."""
    if is_postgres(session):
        await session.exec(
            text("SELECT pg_notify(:channel, :payload)").bindparams(channel=CHANNEL, payload=str(request_id))
        )  # type: ignore[call-overload]


class _Listener:
    """One LISTENing connection per process and database, and the waiters it wakes."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.connection: asyncpg.Connection | None = None
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.lock = asyncio.Lock()

    def _wake(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        for event in self.waiters.get(payload, ()):
            event.set()

    def _lost(self, _connection: Any) -> None:
        self.connection = None

    async def ensure(self) -> bool:
        """Listening now (True), or not reachable (False: waiters fall back to looking again)."""
        if self.connection is not None and not self.connection.is_closed():
            return True
        async with self.lock:
            if self.connection is not None and not self.connection.is_closed():
                return True
            try:
                connection = await asyncpg.connect(self.dsn, timeout=5)
                await connection.add_listener(CHANNEL, self._wake)
                connection.add_termination_listener(self._lost)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("conversation listener unavailable: %s", type(exc).__name__)
                return False
            self.connection = connection
            return True

    async def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await self.connection.close()
            self.connection = None


# Per event loop (a connection belongs to the loop that made it), then per database.
_listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Listener]] = weakref.WeakKeyDictionary()


def _listener_for(session: AsyncSession) -> _Listener:
    url = session.get_bind().engine.url
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    mine = _listeners.setdefault(asyncio.get_running_loop(), {})
    if dsn not in mine:
        mine[dsn] = _Listener(dsn)
    return mine[dsn]


async def close_listeners() -> None:
    """At shutdown: close this loop's listening connections."""
    mine = _listeners.pop(asyncio.get_running_loop(), {})
    for listener in mine.values():
        await listener.close()


async def wait_for(
    session: AsyncSession,
    request_id: uuid.UUID,
    changed: Callable[[], Awaitable[bool]],
    *,
    seconds: float,
) -> bool:
    """Wait until `changed()` is true (True) or `seconds` pass (False). `changed` reads
    through `session`; between looks the session's transaction is ended, so no
    connection is held while waiting."""
    if seconds <= 0:
        return await changed()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(seconds, MAX_WAIT_SECONDS)
    postgres = is_postgres(session)
    listener = _listener_for(session) if postgres else None
    event = asyncio.Event()
    key = str(request_id)
    if listener is not None:
        listener.waiters.setdefault(key, set()).add(event)
    try:
        while True:
            # Listening before looking: a write that commits between the look and the wait still wakes us.
            listening = await listener.ensure() if listener is not None else False
            if await changed():
                return True
            await session.rollback()  # reads only: end the transaction, give the connection back
            left = deadline - loop.time()
            if left <= 0:
                return False
            recheck = RECHECK_SECONDS if listening else (SQLITE_RECHECK_SECONDS if not postgres else 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(left, recheck))
            event.clear()
    finally:
        if listener is not None:
            waiting = listener.waiters.get(key)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del listener.waiters[key]
