"""A read replica that accepts connections and never answers (a hung server, a firewall
that drops packets): the dashboard waits at most TRIM_REPLICA_CONNECT_TIMEOUT_SECONDS once,
answers from the primary, and does not try the replica again until
TRIM_REPLICA_RETRY_SECONDS have passed. No second PostgreSQL is needed: the "replica" is
a socket that takes connections and says nothing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in

CONNECT_TIMEOUT = 0.5
# Long enough that the few requests below fit in it on a machine busy with other tests.
RETRY = 3


class Silent:
    """A listening socket that accepts every connection, counts it, and never replies."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url  # a replica needs a PostgreSQL primary


@pytest.fixture
def settings_overrides(silent: Silent) -> dict[str, Any]:
    return {
        "database_replica_url": f"postgresql+asyncpg://postgres@127.0.0.1:{silent.port}/trim",
        "replica_connect_timeout_seconds": CONNECT_TIMEOUT,
        "replica_retry_seconds": RETRY,
    }


async def test_a_silent_replica_costs_one_short_wait_then_the_primary_serves(
    client: AsyncTestClient[Litestar], cast: Cast, silent: Silent
) -> None:
    async with signed_in(client, cast.lead) as lead:
        started = time.monotonic()
        first = await lead.get("/api/dashboard")
        waited = time.monotonic() - started
        assert first.status_code == 200 and first.json()["source"] == "primary"
        assert CONNECT_TIMEOUT <= waited < CONNECT_TIMEOUT + 5  # not the driver's minute
        assert silent.accepted == 1

        # Remembered: the next requests do not knock again until the retry time has passed.
        for url in ("/api/dashboard", "/dashboard", "/dashboard.csv"):
            assert (await lead.get(url)).status_code == 200
        assert silent.accepted == 1

        await asyncio.sleep(RETRY + 0.1)
        assert (await lead.get("/api/dashboard")).json()["source"] == "primary"
    assert silent.accepted == 2
