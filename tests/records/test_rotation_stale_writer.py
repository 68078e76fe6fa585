"""`trim keys rotate` with a process still writing under the old key (issue 28, point 2).

Fernet tokens carry no key id: the only honest all-clear is that the first key alone opens
every value. A web process still on the old key list keeps writing values only the old key
opens; rotate must name how many and say no key can be removed, and a rotate run after that
process is restarted must clear them. PostgreSQL only: the writer and the rotation really
run at once, on separate connections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from tests.cast import Cast
from tests.conftest import TEST_KEYS, FakeClock, make_settings
from tests.privacy.test_audit_keys_purge import cli, recorded_case
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.privacy import crypto
from trim.records import keys
from trim.records.keys import not_current, undecryptable
from trim.requests import service as requests


@pytest.fixture
def database_url(pg_only_url: str) -> Iterator[str]:
    yield pg_only_url


async def test_rotate_with_a_stale_writer_names_the_count_and_removes_nothing(
    db: AsyncSession,
    session: AsyncSession,
    cast: Cast,
    database_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = make_settings(database_url, encryption_keys=[TEST_KEYS[0]])
    await recorded_case(db, cast, old, clock)
    await db.commit()
    both = make_settings(database_url, encryption_keys=[TEST_KEYS[1], TEST_KEYS[0]])  # new key first
    engine = create_engine(database_url, pool_size=4)
    maker = make_sessionmaker(engine)
    stop = asyncio.Event()
    written: list[int] = []

    async def stale_writer(n: int) -> None:  # a web process not yet restarted: old key only
        i = 0
        while not stop.is_set():
            async with maker() as tx:
                await requests.submit(
                    tx,
                    actor=cast.actor("responder"),
                    now=clock(),
                    settings=old,
                    data=requests.RequestInput(
                        "today", "phone", f"020 7946 {(n * 1000 + i) % 10000:04d}", False, message=f"m{n}-{i}"
                    ),
                )
                await tx.commit()
            written.append(1)
            i += 1
            await asyncio.sleep(0)

    # Each pass's count waits until the stale writers have landed one more value since the
    # pass began: a fast rotation on a quiet machine must not slip between two writes and
    # miss the writer it is meant to catch (the count runs on the CLI's own thread).
    counting = keys.not_current

    async def count_after_a_write(tx: AsyncSession, settings: Settings) -> int:
        seen = len(written)
        for _ in range(2000):
            if stop.is_set() or len(written) > seen:
                break
            await asyncio.sleep(0.005)
        return await counting(tx, settings)

    monkeypatch.setattr(keys, "not_current", count_after_a_write)
    writers = [asyncio.create_task(stale_writer(n)) for n in range(3)]
    try:
        while not written:
            await asyncio.sleep(0.01)
        first = await cli(both, "keys", "rotate", "--batch", "3")
    finally:
        stop.set()
        await asyncio.gather(*writers)
        monkeypatch.setattr(keys, "not_current", counting)
    assert first.exit_code != 0, first.output
    assert "can be removed" not in first.output
    found = re.search(r"(\d+) values are still not under key", first.output)
    assert found, first.output
    reported = int(found.group(1))
    left = await not_current(session, both)
    # The writer kept writing after the count, so now there are at least as many.
    assert 0 < reported <= left

    # The stale process is restarted (it stopped); the next rotate clears what it wrote.
    second = await cli(both, "keys", "rotate")
    await engine.dispose()
    assert second.exit_code == 0, second.output
    assert "older keys can be removed" in second.output
    assert await not_current(session, both) == 0
    only_new = make_settings(database_url, encryption_keys=[TEST_KEYS[1]])
    assert await undecryptable(session, only_new) == 0
    raw = await session.exec(text("SELECT message_encrypted FROM peer_requests"))  # type: ignore[call-overload]
    assert len([crypto.decrypt(only_new, m) for m in raw.scalars()]) == len(written)
