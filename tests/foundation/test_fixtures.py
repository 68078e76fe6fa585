"""The shared fixtures keep their promise: what a test sees is what a fresh database and a
fresh app would give it, although engines, running apps and the cast's rows are reused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from tests.cast import CAST_ROLES, Cast, cast_on, make_person
from tests.conftest import START, Engines, FakeClock, RunningApps, _empty_tables, make_settings
from trim.accounts.models import Person
from trim.config import Settings
from trim.db import AsyncSession, metadata


async def _rows(session: AsyncSession) -> dict[str, int]:
    conn = await session.connection()
    counts = {}
    for table in metadata.sorted_tables:
        counts[table.name] = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    return {name: n for name, n in counts.items() if n}


async def _contents(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    conn = await session.connection()
    found = {}
    for table in metadata.sorted_tables:
        rows = [dict(r) for r in (await conn.execute(table.select())).mappings()]
        if rows:
            found[table.name] = sorted(rows, key=repr)
    return found


async def test_emptying_the_tables_leaves_no_row_anywhere(
    cast: Cast, session: AsyncSession, settings: Settings, _engines: Engines
) -> None:
    assert await _rows(session)  # the cast is there
    engine = _engines.kept(settings.database_url, autocommit=True)
    assert engine is not None
    await _empty_tables(engine)
    assert await _rows(session) == {}


async def test_the_cast_put_back_is_the_cast_make_cast_wrote(
    session: AsyncSession, settings: Settings, _engines: Engines
) -> None:
    engine = _engines.kept(settings.database_url, autocommit=True)
    assert engine is not None
    first = await cast_on(session, settings.database_url)
    written = await _contents(session)
    await _empty_tables(engine)
    again = await cast_on(session, settings.database_url)
    assert await _contents(session) == written
    for who in ("responder", "peer", "lead", "supervisor", "admin"):
        assert again.person(who).id == first.person(who).id
        assert again.person(who) in session  # loaded in this session, as make_cast leaves them
    assert again.station_a.name == "Station A"


async def test_a_database_with_rows_gets_make_cast_itself(
    session: AsyncSession, settings: Settings, _engines: Engines
) -> None:
    engine = _engines.kept(settings.database_url, autocommit=True)
    assert engine is not None
    kept = await cast_on(session, settings.database_url)  # now the rows are known
    await _empty_tables(engine)
    await make_person(session, name="Arranged First")  # the cast's rows would not fit after this
    await session.commit()
    cast = await cast_on(session, settings.database_url)
    assert cast.peer.id != kept.peer.id
    conn = await session.connection()
    assert (await conn.execute(select(func.count()).select_from(Person))).scalar_one() == 1 + len(CAST_ROLES)


def test_a_running_app_is_kept_per_settings_and_takes_each_tests_clock(
    database_url: str, _running_apps: RunningApps
) -> None:
    first_clock, second_clock = FakeClock(START), FakeClock(START)
    settings = make_settings(database_url)
    app = _running_apps.borrow(settings, first_clock)
    assert app.state.clock is first_clock and app.state.settings is settings
    same = make_settings(database_url)
    assert _running_apps.borrow(same, second_clock) is app
    assert app.state.clock is second_clock and app.state.settings is same
    other = _running_apps.borrow(make_settings(database_url, organisation_name="Elsewhere"), first_clock)
    assert other is not app
    assert _running_apps.is_running(app) and _running_apps.is_running(other)


def test_an_app_that_runs_the_worker_or_is_on_another_database_is_never_kept(database_url: str) -> None:
    assert RunningApps.can_keep(make_settings(database_url))
    assert not RunningApps.can_keep(make_settings(database_url, run_worker_in_app=True))
    assert not RunningApps.can_keep(make_settings("sqlite+aiosqlite:////tmp/not-this-run.db"))


def test_a_kept_app_that_a_test_changed_is_stopped(database_url: str, _running_apps: RunningApps) -> None:
    settings = make_settings(database_url, organisation_name="Changed by a test")
    app = _running_apps.borrow(settings, FakeClock(START))
    _running_apps.give_back(app)
    assert _running_apps.is_running(app)  # untouched: kept for the next test

    def seen(*_args: Any) -> None: ...

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", seen)
    _running_apps.give_back(app)
    assert not _running_apps.is_running(app)  # the listener would outlive the test
    fresh = _running_apps.borrow(settings, FakeClock(START))
    assert fresh is not app and _running_apps.is_running(fresh)
