"""The sign-in limit holds under concurrency (issue 26 item 7): forty wrong passwords sent
at once gave 25 answers of 401 against a limit of 10, because each request counted the
failures, then checked the password, then wrote its failure. Now each attempt takes a
place in an atomic counter before its password is checked.

Tried for real: forty HTTP clients at once against the app served by uvicorn on
PostgreSQL (with the production argon2 cost, so the checks overlap as they would), and
forty database sessions at once calling the service, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from tests.cast import PASSWORD, make_person
from tests.conftest import FakeClock
from tests.live_server import LiveServer, _in_own_thread, live_server
from trim.accounts import signin
from trim.accounts.models import Person, SigninCounter
from trim.accounts.passwords import hash_password_sync
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import InvalidInput, TooManyAttempts

pytestmark = pytest.mark.slow

CLIENTS = 40


async def _person(session: AsyncSession) -> Person:
    person = await make_person(session, roles=["responder"])
    person.password_hash = hash_password_sync(PASSWORD, profile="default")  # the real cost
    session.add(person)
    return person


def _all_at_once(url: str, bodies: list[dict[str, str]]) -> Counter[int]:
    """POST every body to /api/session at the same moment, each from its own client."""

    async def go() -> Counter[int]:
        start = asyncio.Event()
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for _ in bodies]

        async def one(client: httpx.AsyncClient, body: dict[str, str]) -> int:
            await start.wait()
            return (await client.post("/api/session", json=body)).status_code

        try:
            tasks = [asyncio.create_task(one(c, b)) for c, b in zip(clients, bodies, strict=True)]
            await asyncio.sleep(0.2)  # every task waiting at the line
            start.set()
            return Counter(await asyncio.gather(*tasks))
        finally:
            for client in clients:
                await client.aclose()

    return _in_own_thread(go)


@pytest.fixture
def live(pg_only_url: str) -> Any:
    with live_server(pg_only_url, argon2_profile="default") as server:
        yield server


def test_forty_concurrent_wrong_passwords_get_at_most_ten_401s(live: LiveServer) -> None:
    person = live.run_db(_person)
    statuses = _all_at_once(live.url, [{"email": person.email, "password": f"guess number {n}"} for n in range(40)])
    assert statuses[401] == live.settings.signin_max_failures == 10, statuses
    assert statuses[429] == CLIENTS - 10, statuses
    # The limit holds for the right password too, so the guesses learnt nothing.
    with httpx.Client(base_url=live.url) as http:
        right = http.post("/api/session", json={"email": person.email, "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0

    async def counts(session: AsyncSession) -> list[int]:
        return sorted((await session.exec(select(SigninCounter.count))).all())

    assert live.run_db(counts) == [10, 10]  # the account, and the address


def test_sixty_concurrent_guesses_across_accounts_get_at_most_fifty_401s_from_one_address(
    live: LiveServer,
) -> None:
    bodies = [{"email": f"nobody-{uuid.uuid4().hex[:8]}@example.org", "password": "guess guess"} for _ in range(60)]
    statuses = _all_at_once(live.url, bodies)
    assert statuses[401] == live.settings.signin_max_failures_per_address == 50, statuses
    assert statuses[429] == 10, statuses


def test_concurrent_right_passwords_are_not_counted(live: LiveServer) -> None:
    # Fewer at once than the limit: each takes a place while its password is checked and
    # gives it back when it is right, so nothing is left counted against anyone.
    person = live.run_db(_person)
    statuses = _all_at_once(live.url, [{"email": person.email, "password": PASSWORD} for _ in range(8)])
    assert statuses == Counter({200: 8})

    async def counts(session: AsyncSession) -> list[int]:
        return sorted((await session.exec(select(SigninCounter.count))).all())

    assert live.run_db(counts) == [0, 0]


async def test_forty_sessions_at_once_take_at_most_ten_places(
    session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    person = await make_person(session, roles=["responder"])
    engine = create_engine(settings.database_url, pool_size=CLIENTS)
    maker = make_sessionmaker(engine)
    start = asyncio.Event()

    async def attempt(n: int) -> str:
        async with maker() as db:
            await start.wait()
            try:
                await signin.authenticate(
                    db, email=person.email, password=f"guess {n}", address="10.0.0.7", now=clock(), settings=settings
                )
            except InvalidInput:
                outcome = "wrong"
            except TooManyAttempts:
                outcome = "limited"
            else:
                outcome = "in"
            await db.commit()
            return outcome

    try:
        tasks = [asyncio.create_task(attempt(n)) for n in range(CLIENTS)]
        await asyncio.sleep(0.1)
        start.set()
        outcomes = Counter(await asyncio.gather(*tasks))
    finally:
        await engine.dispose()
    assert outcomes == Counter({"wrong": 10, "limited": CLIENTS - 10})
    counted = await session.exec(select(SigninCounter.count).where(col(SigninCounter.key).startswith("account:")))
    assert counted.all() == [10]


async def test_counters_are_swept_once_their_window_has_passed(
    session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    from trim.accounts import jobs

    for n in range(3):
        with pytest.raises(InvalidInput):
            await signin.authenticate(
                session, email="x@example.org", password="no", address=f"10.0.0.{n}", now=clock(), settings=settings
            )
    assert len((await session.exec(select(SigninCounter))).all()) == 4  # one account, three addresses
    clock.advance(minutes=settings.signin_window_minutes - 1)
    assert await jobs.sweep_signin_counters(session, now=clock(), settings=settings) == 0
    clock.advance(minutes=1)
    assert await jobs.sweep_signin_counters(session, now=clock(), settings=settings) == 4
    assert (await session.exec(select(SigninCounter))).all() == []
