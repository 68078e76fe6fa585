"""The dashboard on a real streaming replica (TRIM_DATABASE_REPLICA_URL): a private
PostgreSQL primary and a standby made from it with `pg_basebackup -R` (tests/replica_pair.py),
one pair for the whole run. What the lead notices: figures written on the primary show up
read from the replica; with the replica stopped the dashboard still answers, from the
primary; with the replica behind it says "Figures as of HH:MM", or, too far behind, answers
from the primary; a read the replica drops part-way is done again on the primary.

These run in CI (.ci/run sets TRIM_REQUIRE_POSTGRES=1: without PostgreSQL's server programs
they fail there, and are skipped elsewhere), all on one xdist worker (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.cast import Cast, make_person, signed_in
from tests.conftest import REQUIRE_PG, START, FakeClock, _wipe, make_settings
from tests.helpers import make_incident
from tests.replica_pair import ReplicaPair, ReplicaPairError, Server, find_bin, up
from trim.analytics import Replica, analytics_session, read_session, remember_replica
from trim.config import Settings
from trim.db import AsyncSession
from trim.metrics.doctor import check_replica
from trim.migrations import upgrade

pytestmark = pytest.mark.replica

DATABASE = "trim_replica"


def url_of(server: Server) -> str:
    return server.url.rsplit("/", 1)[0] + "/" + DATABASE


@pytest.fixture(scope="session")
def pair() -> Iterator[ReplicaPair]:
    """A primary with trim's schema, and its streaming standby, for the whole run."""
    if find_bin() is None:
        message = "PostgreSQL's server programs (initdb, pg_basebackup) are not installed"
        if REQUIRE_PG:
            pytest.fail(message + " (TRIM_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    try:
        made = up()
    except ReplicaPairError as exc:
        if REQUIRE_PG:
            pytest.fail(f"{exc} (TRIM_REQUIRE_POSTGRES=1)")
        pytest.skip(str(exc))
    try:
        made.psql(made.primary, f"CREATE DATABASE {DATABASE}")
        upgrade(url_of(made.primary))
        made.wait_streaming()
        yield made
    finally:
        made.down()


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # A replica that failed is tried again after a second here (30 s by default); one a
    # moment behind (autovacuum writes on the primary too) has longer to catch up on a
    # machine busy with other tests than the 50 ms a deployment gives it.
    return {"replica_retry_seconds": 1, "replica_catch_up_ms": 500, **getattr(request, "param", {})}


@pytest.fixture
async def settings(pair: ReplicaPair, settings_overrides: dict[str, Any]) -> AsyncIterator[Settings]:
    """The app on the pair's primary, its dashboard reading from the standby. Afterwards the
    standby is running and replaying again and the primary is emptied."""
    yield make_settings(url_of(pair.primary), database_replica_url=url_of(pair.standby), **settings_overrides)
    if not pair.is_running(pair.standby):
        pair.start(pair.standby)
    pair.resume_replay()
    await _wipe(url_of(pair.primary))
    pair.wait_streaming()


def incidents(api: dict[str, Any]) -> int:
    """The dashboard's count of incidents in the period, all months and kinds."""
    rows = api["figures"]["incidents_by_month_kind"]["rows"]
    total = next(r["values"]["incidents"] for r in rows if r["dimensions"] == {"month": "all", "kind": "all"})
    assert isinstance(total, int)
    return total


async def log_incident(db: AsyncSession, session: AsyncSession, cast: Cast, settings: Settings) -> None:
    """An incident with k people exposed: enough for the dashboard to count it as a number."""
    people = [await make_person(session, station=cast.station_a) for _ in range(settings.small_cell_k)]
    await make_incident(
        db,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=people,
        occurred_at=START - timedelta(days=2),
        now=START,
        settings=settings,
    )


def reads(source: str, reason: str) -> float:
    return REGISTRY.get_sample_value("trim_analytics_reads_total", {"source": source, "reason": reason}) or 0.0


async def test_what_the_primary_records_the_dashboard_reads_from_the_replica(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
) -> None:
    async with signed_in(client, cast.lead) as lead:
        pair.wait_streaming()
        before = (await lead.get("/api/dashboard")).json()
        await log_incident(db, session, cast, settings)
        pair.wait_streaming()
        after = await lead.get("/api/dashboard")
        page = await lead.get("/dashboard")
        export = await lead.get("/dashboard.csv")
    assert before["source"] == "replica" and before["replica_as_of"] is None
    assert after.status_code == 200
    assert after.json()["source"] == "replica" and after.json()["replica_as_of"] is None  # caught up: live
    assert incidents(after.json()) == incidents(before) + 1
    assert page.status_code == 200 and "Figures as of" not in page.text
    assert export.status_code == 200 and export.headers["x-figures-source"] == "replica"
    assert "x-replica-as-of" not in export.headers


@pytest.mark.parametrize("settings_overrides", [{"replica_retry_seconds": 5}], indirect=True)
async def test_with_the_replica_stopped_the_dashboard_answers_from_the_primary(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
) -> None:
    unreachable, resting = reads("primary", "unreachable"), reads("primary", "resting")
    async with signed_in(client, cast.lead) as lead:
        pair.stop(pair.standby)
        await log_incident(db, session, cast, settings)
        answers = [await lead.get(url) for url in ("/api/dashboard", "/dashboard", "/dashboard.csv")]
        assert [a.status_code for a in answers] == [200, 200, 200]
        api = answers[0].json()
        assert api["source"] == "primary" and api["replica_as_of"] is None
        assert incidents(api) == 1  # live from the primary
        assert "Figures as of" not in answers[1].text
        assert answers[2].headers["x-figures-source"] == "primary"
        # Refused once; the next two did not knock again (the failure is remembered).
        assert reads("primary", "unreachable") == unreachable + 1
        assert reads("primary", "resting") == resting + 2

        # Back, it serves again once TRIM_REPLICA_RETRY_SECONDS have passed.
        pair.start(pair.standby)
        await asyncio.sleep(settings.replica_retry_seconds)
        pair.wait_streaming()
        again = (await lead.get("/api/dashboard")).json()
    assert again["source"] == "replica" and incidents(again) == 1


async def test_a_paused_replica_gives_figures_as_of_its_last_replayed_commit(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
    clock: FakeClock,
) -> None:
    async with signed_in(client, cast.lead) as lead:
        pair.wait_streaming()
        paused_at = datetime.now(UTC)
        pair.pause_replay()
        await log_incident(db, session, cast, settings)
        api = (await lead.get("/api/dashboard")).json()
        page = (await lead.get("/dashboard")).text
        export = await lead.get("/dashboard.csv")
    assert api["source"] == "replica"
    assert incidents(api) == 0  # the incident is on the primary, not yet on the replica
    as_of = datetime.fromisoformat(api["replica_as_of"])
    assert paused_at - timedelta(seconds=settings.replica_max_lag_seconds) <= as_of <= paused_at + timedelta(seconds=1)
    shown = as_of.astimezone(settings.zone).strftime("%H:%M")
    assert re.search(rf"Figures as of {shown}\b", page), page
    assert export.headers["x-figures-source"] == "replica"
    assert export.headers["x-replica-as-of"] == as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("settings_overrides", [{"replica_max_lag_seconds": 0}], indirect=True)
async def test_a_replica_behind_more_than_the_tolerance_gives_live_figures_from_the_primary(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
) -> None:
    lagging = reads("primary", "lagging")
    async with signed_in(client, cast.lead) as lead:
        pair.wait_streaming()
        assert (await lead.get("/api/dashboard")).json()["source"] == "replica"  # caught up: no lag at all
        pair.pause_replay()
        await log_incident(db, session, cast, settings)
        await asyncio.sleep(1.1)  # the replica's last replayed commit is now a second old
        api = (await lead.get("/api/dashboard")).json()
        page = (await lead.get("/dashboard")).text
    assert api["source"] == "primary" and api["replica_as_of"] is None
    assert incidents(api) == 1
    assert "Figures as of" not in page
    assert reads("primary", "lagging") == lagging + 2


async def test_a_read_the_replica_drops_part_way_is_done_again_on_the_primary(
    settings: Settings, db: AsyncSession, pair: ReplicaPair
) -> None:
    replica = Replica(settings)
    served_by: list[bool] = []

    async def work(session: AsyncSession) -> bool:
        conn = await session.connection()
        in_recovery = bool((await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one())
        served_by.append(in_recovery)
        if in_recovery:  # the replica's server ends this connection mid-read
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return in_recovery

    try:
        pair.wait_streaming()
        async with analytics_session(db, replica) as analytics:
            assert await analytics.read(work) is False
            assert analytics.read_from.source == "primary" and analytics.read_from.reason == "failed"
        assert served_by == [True, False]
        assert replica.resting  # the next reads go to the primary for a while
    finally:
        await replica.dispose()


async def test_the_dashboard_dropped_by_the_replica_on_its_second_connection_answers_from_the_primary(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dashboard reads on two connections at once (dashboard.service._beside): the
    replica ending the second one mid-read is the same failure as the first's, and the
    whole dashboard is read again from the primary, never a 500."""
    from trim.dashboard import caseloads

    caseload_cube = caseloads.caseload_cube
    dropped: list[bool] = []

    async def dropping(side: AsyncSession, **kw: Any) -> Any:
        conn = await side.connection()
        if bool((await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one()):
            dropped.append(True)
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return await caseload_cube(side, **kw)

    failed = reads("primary", "failed")
    async with signed_in(client, cast.lead) as lead:
        await log_incident(db, session, cast, settings)
        pair.wait_streaming()
        monkeypatch.setattr(caseloads, "caseload_cube", dropping)
        answer = await lead.get("/api/dashboard")
    assert dropped == [True]
    assert answer.status_code == 200
    assert answer.json()["source"] == "primary"
    assert incidents(answer.json()) == 1
    assert reads("primary", "failed") == failed + 1


async def test_a_read_that_writes_is_refused_on_the_replica_not_hidden_by_the_primary(
    settings: Settings, db: AsyncSession, pair: ReplicaPair
) -> None:
    replica = Replica(settings)

    async def work(session: AsyncSession) -> None:
        await (await session.connection()).execute(text("CREATE TEMPORARY TABLE scratch (n int)"))

    try:
        pair.wait_streaming()
        async with analytics_session(db, replica) as analytics:
            with pytest.raises(DBAPIError, match="read-only"):
                await analytics.read(work)
            assert analytics.read_from.source == "replica"
        assert not replica.resting
    finally:
        await replica.dispose()


async def test_code_handed_only_the_requests_session_reads_the_replica_through_read_session(
    settings: Settings, db: AsyncSession, pair: ReplicaPair
) -> None:
    async def in_recovery(session: AsyncSession) -> bool:
        return bool((await (await session.connection()).execute(text("SELECT pg_is_in_recovery()"))).scalar_one())

    replica = Replica(settings)
    try:
        async with read_session(db) as session:  # a command's session: no replica recorded
            assert session is db
        remember_replica(db, replica)  # as trim.deps.provide_db does for a request
        pair.wait_streaming()
        async with read_session(db) as session:
            assert session is not db and await in_recovery(session)
        with pytest.raises(DBAPIError):
            async with read_session(db) as session:
                await (await session.connection()).execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert replica.resting  # remembered: the next read goes to the primary
        async with read_session(db) as session:
            assert session is db and not await in_recovery(session)
    finally:
        await replica.dispose()


async def test_doctor_says_whether_the_dashboard_would_read_from_the_replica(
    settings: Settings, pair: ReplicaPair
) -> None:
    pair.wait_streaming()
    found = await check_replica(settings)
    assert found is not None and found.ok, found
    assert "a streaming standby, caught up" in found.says
    pair.stop(pair.standby)
    found = await check_replica(settings)
    assert found is not None and not found.ok
    assert "did not answer at TRIM_DATABASE_REPLICA_URL" in found.says
    assert await check_replica(settings.model_copy(update={"database_replica_url": None})) is None


async def test_the_board_report_reads_from_the_replica_and_answers_without_it(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    pair: ReplicaPair,
) -> None:
    quarter = f"{START.year}Q{(START.month - 1) // 3 + 1}"
    await log_incident(db, session, cast, settings)
    pair.wait_streaming()
    async with signed_in(client, cast.lead) as lead:
        live = reads("replica", "live")
        from_replica = await lead.get(f"/api/reports/quarterly?quarter={quarter}")
        assert from_replica.status_code == 200
        assert reads("replica", "live") == live + 1
        pair.stop(pair.standby)
        unreachable = reads("primary", "unreachable") + reads("primary", "resting")
        answers = [
            await lead.get(f"{path}?quarter={quarter}")
            for path in ("/api/reports/quarterly", "/api/reports/quarterly.csv", "/reports/quarterly")
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert reads("primary", "unreachable") + reads("primary", "resting") == unreachable + 3
    # The same figures either way: the replica had replayed everything.
    assert answers[0].json() == from_replica.json()
