"""The real app served over HTTP on 127.0.0.1, for the browser journeys and the API fuzzer.

uvicorn runs in a background thread with its own event loop; the app talks to the test
PostgreSQL database like any deployment would. The clock is the tests' FakeClock, so
pages and screenshots show the same dates on every run, and a journey can move time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import uvicorn

from tests.conftest import FakeClock, _wipe, make_settings
from trim.app import create_app
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker

# A Monday morning in late November (GMT): the moment the live server believes it is.
LIVE_NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)

T = TypeVar("T")


@dataclass
class LiveServer:
    url: str
    settings: Settings
    clock: FakeClock

    def run_db(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work(session)` against the server's database and commit: for arranging data
        and for checking what a journey changed. Call it from plain (sync) tests."""
        return run_in_session(self.settings.database_url, work)


def run_in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return _in_own_thread(go)


def _in_own_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    # A thread of its own: the caller's thread may hold a paused event loop (Playwright's
    # sync API does), and asyncio.run refuses to start inside one.
    def run() -> T:
        return asyncio.run(make())

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _wait_until_healthy(url: str, thread: threading.Thread, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: object = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the live server stopped during start-up (last error: {last_error})")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:  # noqa: S310 - our loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.1)
    raise RuntimeError(f"the live server did not answer /health within {timeout:.0f}s (last error: {last_error})")


@contextmanager
def live_server(database_url: str, *, now: datetime = LIVE_NOW, **overrides: Any) -> Iterator[LiveServer]:
    """Serve the app on a free loopback port until the block ends; wipe the data after.

    The database starts empty (wiped first), so whoever seeds it knows exactly what is there."""
    _in_own_thread(lambda: _wipe(database_url))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {"cookie_secure": False, "base_url": url, "log_level": "WARNING"}
    values.update(overrides)
    settings = make_settings(database_url, **values)
    clock = FakeClock(now)
    config = uvicorn.Config(
        create_app(settings, clock=clock),
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="trim-live-server", daemon=True)
    thread.start()
    try:
        _wait_until_healthy(url, thread)
        yield LiveServer(url=url, settings=settings, clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        _in_own_thread(lambda: _wipe(database_url))
