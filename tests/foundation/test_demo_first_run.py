"""`trim demo`'s first run: the sign-ins stay on screen (the log goes to a file in the demo
folder, and it says where), and it says which peers have check-ins to record."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from trim.cli import main


def test_demo_prints_whom_to_sign_in_as_and_where_the_log_goes(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--folder", str(folder), "--port", "8123"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "trim demo: http://127.0.0.1:8123" in out
    assert "Responders who can sign in too: responder1@" in out
    assert "Peers with check-ins waiting now" in out
    assert re.search(r"peer\d@demo\.trim\.example  \([^)]+\): \d+ due, \d+ overdue", out)
    assert f"The app's log (JSON lines) is written to {folder / 'trim.log'}" in out
    assert '"level"' not in out  # no JSON log line scrolled the list away

    # The demo's dashboard is not mostly empty: at k=5 every chart shows at least one figure.
    with ThreadPoolExecutor(1) as thread:  # its own event loop, whatever the test runner holds
        shown = thread.submit(asyncio.run, _numbers_shown_per_chart(folder)).result()
    assert shown and all(shown.values()), shown


async def _numbers_shown_per_chart(folder: Path) -> dict[str, int]:
    from sqlmodel import select

    from trim.accounts.actor import Actor
    from trim.accounts.models import Person
    from trim.dashboard import rules, service
    from trim.dashboard.queries import DashboardFilter
    from trim.db import create_engine, make_sessionmaker, utcnow
    from trim.demo import demo_settings

    settings = demo_settings(folder, "127.0.0.1", 8123)
    assert settings.small_cell_k == 5
    engine = create_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            lead = (await session.exec(select(Person).where(Person.email == "lead@demo.trim.example"))).one()
            actor = Actor(
                id=lead.id, name=lead.name, email=lead.email, roles=frozenset({"lead"}), station_id=lead.station_id
            )
            now = utcnow()
            figures = await service.dashboard(
                session,
                actor=actor,
                filters=DashboardFilter(period=rules.default_period(now, settings.zone)),
                now=now,
                settings=settings,
            )
    finally:
        await engine.dispose()
    return {
        name: sum(1 for row in figure.rows for v in row.values.values() if isinstance(v, int | float) and v)
        for name, figure in figures.figures.items()
    }
