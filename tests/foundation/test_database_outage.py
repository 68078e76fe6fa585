"""When PostgreSQL goes away (a restart, a network cut) people are told to try again in
a moment (503 with Retry-After), not shown a crash; and the app recovers by itself when
the database is back, without a restart.

The app reaches PostgreSQL through a TCP relay the test can cut, which is what a
restart or a network fault looks like from the app's side."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import make_person, sign_in
from trim import db
from trim.db import AsyncSession


class Relay:
    """A TCP relay to PostgreSQL that can drop every connection and refuse new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.open.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for end in (source, target):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection now and refuse new ones, as a restarting server does."""
        self.up = False
        with self.lock:
            for end in self.open:
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.open.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relay(pg_only_url: str) -> Iterator[Relay]:
    relay = Relay(("127.0.0.1", 5432))
    yield relay
    relay.close()


@pytest.fixture
def database_url(pg_only_url: str, relay: Relay) -> str:
    assert "@127.0.0.1:5432/" in pg_only_url, pg_only_url
    return pg_only_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{relay.port}/")


async def test_database_outage_answers_503_and_the_app_recovers_by_itself(
    client: AsyncTestClient[Litestar], session: AsyncSession, relay: Relay
) -> None:
    peer = await make_person(session, roles=["responder", "peer"])
    await sign_in(client, peer.email)
    assert (await client.get("/api/checkins")).status_code == 200

    relay.cut()
    try:
        api = await client.get("/api/checkins")
        assert api.status_code == 503, api.text
        assert api.headers["retry-after"] == "5"
        assert api.json()["detail"] == "The service is briefly unavailable."

        page = await client.get("/checkins", headers={"accept": "text/html"})
        assert page.status_code == 503
        assert "Briefly unavailable" in page.text and "try again in a moment" in page.text

        health = await client.get("/health")
        assert health.status_code == 503
    finally:
        relay.restore()

    # Back without restarting anything: the pool throws away its dead connections.
    again = await client.get("/api/checkins")
    assert again.status_code == 200, again.text
    assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}


async def test_connections_left_idle_across_a_restart_are_replaced_without_an_error(
    client: AsyncTestClient[Litestar], session: AsyncSession, relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pooled connection is pinged only when idle for a moment (trim.db): one that sat in
    # the pool while the server restarted is found dead before use and replaced.
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    peer = await make_person(session, roles=["responder", "peer"])
    await sign_in(client, peer.email)
    assert (await client.get("/api/checkins")).status_code == 200

    relay.cut()  # every pooled connection dies; nobody asks anything meanwhile
    await anyio.sleep(0.3)
    relay.restore()

    for _ in range(3):
        answer = await client.get("/api/checkins")
        assert answer.status_code == 200, answer.text
