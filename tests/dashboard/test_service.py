"""Every figure against a brute-force recount of a seeded random organisation, on both
databases; suppression holds on what comes out; only the lead may ask."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.cast import actor_for
from tests.dashboard.brute import expected
from tests.dashboard.checks import assert_nothing_derivable
from tests.dashboard.seed import seed_programme
from trim.accounts.actor import Actor
from trim.config import Settings
from trim.dashboard import rules
from trim.dashboard import service as dashboard
from trim.dashboard.figures import ALL, suppress_by_component
from trim.db import AsyncSession
from trim.errors import InvalidInput, NotFound
from trim.incidents.models import Exposure, Incident
from trim.planning import service as planning
from trim.planning.rules import ROUTES

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # k = 3 keeps a small organisation readable; the rules are the same for any k.
    return {"small_cell_k": 3}


async def _filters(db: AsyncSession, settings: Settings, **given: str | None) -> dashboard.DashboardFilter:
    return await dashboard.read_filters(
        db,
        from_text=given.get("from_text"),
        to_text=given.get("to_text"),
        station_text=given.get("station_text"),
        kind_text=given.get("kind_text"),
        now=NOW,
        settings=settings,
    )


async def _plan_some(db: AsyncSession, *, lead: Actor, settings: Settings, rng: random.Random) -> None:
    """Planning meetings on time, late or not at all, with every route, and briefings."""
    incidents = list(await db.exec(select(Incident).where(col(Incident.occurred_at) < NOW - timedelta(days=4))))
    for n, incident in enumerate(sorted(incidents, key=lambda i: (i.occurred_at, i.kind, i.summary))):
        if n % 3 == 2:
            continue  # no planning meeting recorded
        exposures = list(await db.exec(select(Exposure).where(Exposure.incident_id == incident.id)))
        routes = [
            planning.RouteInput(e.person_id, rng.choice(ROUTES), "Not there at the time")
            for e in exposures
            if e.removed_at is None and rng.random() < 0.5
        ]
        held = incident.occurred_at + timedelta(hours=24 if n % 3 == 0 else 72)
        await planning.save_planning(
            db,
            actor=lead,
            incident_id=incident.id,
            data=planning.PlanningInput(held_at=held, attendee_ids=[], routes=routes),
            now=NOW,
            settings=settings,
        )
        if n % 2 == 0 and exposures:
            await planning.record_briefing(
                db,
                actor=lead,
                incident_id=incident.id,
                held_at=held,
                facilitator_id=lead.person_id,
                attendee_ids=[e.person_id for e in exposures[: rng.randint(1, len(exposures))]],
                now=NOW,
                settings=settings,
            )
    await db.commit()


async def test_figures_match_a_brute_force_recount(session: AsyncSession, db: AsyncSession, settings: Settings) -> None:
    programme = await seed_programme(db, rng=random.Random(8405), settings=settings, now=NOW)
    lead = actor_for(programme.lead, ["lead"])
    await _plan_some(db, lead=lead, settings=settings, rng=random.Random(20))
    choices: list[dict[str, str | None]] = [
        {},
        {"station_text": str(programme.stations[1].id)},
        {"kind_text": "difficult_rescue"},
        {"from_text": "2026-03-01", "to_text": "2026-08-31"},
        {"from_text": "2025-06-15T12:00:00Z", "to_text": "2026-11-02", "station_text": str(programme.stations[0].id)},
    ]
    checked_stats = 0
    for given in choices:
        filters = await _filters(db, settings, **given)
        figures = await dashboard.dashboard(db, actor=lead, filters=filters, now=NOW, settings=settings)
        truth = await expected(session, filters=filters, now=NOW, settings=settings)
        got = figures.ledger.cells
        assert set(got) == set(truth.cells), (given, set(got) ^ set(truth.cells))
        for key, count in truth.cells.items():
            assert got[key].value == count.value, (given, key, got[key], count)
            # The people behind it may be a bound, but always on the same side of k.
            assert rules.is_small(got[key], settings.small_cell_k) == rules.is_small(count, 3), (given, key)
        # With the same counts, in the same order, the same cells are hidden.
        same_order = {key: truth.cells[key] for key in got}
        assert figures.ledger.shown == suppress_by_component(same_order, figures.ledger.equations, 3)
        assert set(figures.stats) == set(truth.stats), given
        for key, stat in truth.stats.items():
            mine = figures.stats[key]
            assert mine.people == stat.people, (given, key)
            assert mine.median == pytest.approx(stat.median, abs=1e-6), (given, key)
            assert mine.p90 == pytest.approx(stat.p90, abs=1e-6), (given, key)
            checked_stats += 1
        assert_nothing_derivable(figures, k=3)
        # The seeded organisation is big enough to show real numbers, and small enough to hide some.
        shown = list(figures.ledger.shown.values())
        if not given:
            assert any(isinstance(v, int) and v >= 3 for v in shown)
            assert "<3" in shown and "*" in shown
            assert figures.figure("checkin_timeliness").value("checkins", interval=ALL, timeliness=ALL) != 0
            for p in ("on_time", "late", "not_held"):
                assert truth.cells[("planning", (p,), "incidents")].value > 0, p
            assert all(truth.cells[("planning_routes", (r,), "exposures")].value > 0 for r in ROUTES)
            assert truth.cells[("briefings", (ALL,), "briefings")].value > 0
    assert checked_stats > 5


async def test_small_numbers_are_shown_as_less_than_k_everywhere(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(11), settings=settings, now=NOW, incidents_count=12)
    figures = await dashboard.dashboard(
        db, actor=actor_for(programme.lead, ["lead"]), filters=await _filters(db, settings), now=NOW, settings=settings
    )
    for key, count in figures.ledger.cells.items():
        if count.value > 0 and count.people < 3:
            assert figures.ledger.shown[key] == "<3", key
    for fig in figures.figures.values():
        for row in fig.rows:
            for measure, value in row.values.items():
                assert value is None or isinstance(value, int | float) or value in ("<3", "*"), (fig.id, measure)
    assert_nothing_derivable(figures, k=3)


@pytest.mark.parametrize("who", ["responder", "peer", "clinician", "supervisor", "admin"])
async def test_only_the_lead_may_see_the_dashboard(db: AsyncSession, cast: Any, settings: Settings, who: str) -> None:
    filters = await _filters(db, settings)
    with pytest.raises(NotFound):
        await dashboard.dashboard(db, actor=cast.actor(who), filters=filters, now=NOW, settings=settings)
    figures = await dashboard.dashboard(db, actor=cast.actor("lead"), filters=filters, now=NOW, settings=settings)
    assert figures.figure("incidents_by_month_kind").value("incidents", month=ALL, kind=ALL) == 0


async def test_bad_filters_are_named(db: AsyncSession, cast: Any, settings: Settings) -> None:
    cases = [
        ({"from_text": "yesterday"}, "from"),
        ({"to_text": "2026-13-01"}, "to"),
        ({"from_text": "2026-05-01", "to_text": "2026-04-01"}, "to"),
        ({"from_text": "2001-01-01"}, "from"),
        ({"station_text": "not-a-station"}, "station_id"),
        ({"station_text": "6f1c3f3e-0000-4000-8000-000000000000"}, "station_id"),
        ({"kind_text": "fire"}, "kind"),
    ]
    for given, field in cases:
        with pytest.raises(InvalidInput) as caught:
            await _filters(db, settings, **given)
        assert field in caught.value.field_messages(), given


async def test_default_period_is_the_last_twelve_months(db: AsyncSession, settings: Settings) -> None:
    filters = await _filters(db, settings)
    assert filters.period.end == datetime(2026, 11, 3, 0, 0, tzinfo=UTC)  # the end of today (GMT)
    assert filters.period.start == datetime(2025, 12, 1, 0, 0, tzinfo=UTC)  # GMT in December
    assert [m.label for m in rules.months(filters.period, settings.zone)][::11] == ["2025-12", "2026-11"]
    narrow = await _filters(db, settings, from_text="2026-06-01", to_text="2026-06-30")
    assert narrow.period.start == datetime(2026, 5, 31, 23, 0, tzinfo=UTC)  # BST
    assert narrow.period.end - narrow.period.start == timedelta(days=30)
