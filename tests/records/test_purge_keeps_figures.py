"""`trim purge` keeps the dashboard's figures (issue 28, point 3).

A seeded organisation's cases are purged in random steps (successive, shrinking
retention cutoffs; a random order of ages). After every run each figure over the whole
period equals the one before any purge, and the brute-force recount: a person with a
purged case and a live one still counts once, although nothing in the database links
the two (the pairing is recomputed with the secret)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from tests.cast import actor_for
from tests.dashboard.brute import expected
from tests.dashboard.seed import seed_programme
from trim.accounts.models import Person
from trim.config import Settings
from trim.dashboard import service as dashboard
from trim.dashboard.figures import ALL
from trim.db import AsyncSession
from trim.incidents.models import Exposure
from trim.records.retention import purge

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"small_cell_k": 3}


async def _whole_period(db: AsyncSession, settings: Settings) -> dashboard.DashboardFilter:
    return await dashboard.read_filters(
        db, from_text="2025-01-01", to_text="2026-11-02", station_text=None, kind_text=None, now=NOW, settings=settings
    )


async def _figures(db: AsyncSession, settings: Settings, lead: Any) -> tuple[dict[Any, int], dict[Any, int]]:
    filters = await _whole_period(db, settings)
    figures = await dashboard.dashboard(db, actor=lead, filters=filters, now=NOW, settings=settings)
    values = {key: count.value for key, count in figures.ledger.cells.items()}
    people = {key: stat.people for key, stat in figures.stats.items()}
    await db.commit()
    return values, people


@pytest.mark.parametrize("seed", [2028, 7])
async def test_random_purge_orders_keep_every_figure(
    db: AsyncSession, session: AsyncSession, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    programme = await seed_programme(db, rng=rng, settings=settings, now=NOW, incidents_count=24)
    lead = actor_for(programme.lead, ["lead"])
    before, before_stats = await _figures(db, settings, lead)
    exposed_people = ("people_exposed", (ALL,), "people")
    assert before[exposed_people] > 0

    purged_any_twin = False
    cutoffs = sorted(rng.sample(range(1, 460), 6), reverse=True)
    for days in cutoffs:
        report = await purge(db, now=NOW, settings=settings.model_copy(update={"retention_days": days}))
        await db.commit()
        values, stats = await _figures(db, settings, lead)
        assert values == before, (days, {k: (before.get(k), v) for k, v in values.items() if before.get(k) != v})
        assert stats == before_stats, days
        truth = await expected(session, filters=await _whole_period(db, settings), now=NOW, settings=settings)
        assert {key: count.value for key, count in truth.cells.items()} == before, days
        # The case this test is about happened: someone now has a purged case and a live one.
        live = set((await session.exec(select(Exposure.person_id).where(col(Exposure.purged_at).is_(None)))).all())
        purged_any_twin |= bool(live & report.people)
    assert purged_any_twin
    # The stand-ins carry nothing that names anyone.
    for person in await session.exec(select(Person).where(col(Person.is_pseudonym).is_(True))):
        assert person.name == "De-identified" and person.station_id is None
