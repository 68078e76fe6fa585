"""Every figure of the board's report against a brute-force recount over random
organisations, on both databases; no cell under k is shown and none can be worked out
from the report's own totals; only those who see the dashboard get it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.cast import actor_for
from tests.dashboard.checks import subtraction_attack
from tests.dashboard.seed import seed_programme
from tests.reports.brute import expected
from trim.config import Settings
from trim.dashboard.rules import derivable
from trim.db import AsyncSession
from trim.errors import NotFound
from trim.followups.models import CheckIn
from trim.incidents.models import Incident
from trim.planning import service as planning
from trim.reports import service as reports
from trim.reports.models import FeedbackAnswer
from trim.reports.rules import Report, report_equations
from trim.requests.models import PeerRequest

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # k = 3 keeps a small organisation readable (real numbers and hidden ones); the rules are the same for any k.
    return {"report_small_cell_k": 3}


async def _extras(db: AsyncSession, *, rng: random.Random, settings: Settings, lead: Any) -> None:
    """What the seeded programme lacks: planning meetings, periodic check-ins, feedback."""
    incidents = list(await db.exec(select(Incident).order_by(col(Incident.occurred_at), col(Incident.id))))
    for n, incident in enumerate(incidents):
        if n % 3 == 2 or incident.occurred_at > NOW - timedelta(days=3):
            continue
        held = incident.occurred_at + timedelta(hours=20 if n % 3 == 0 else 70)
        data = planning.PlanningInput(held_at=held, attendee_ids=[], routes=[])
        await planning.save_planning(db, actor=lead, incident_id=incident.id, data=data, now=NOW, settings=settings)
        await db.commit()
    # Periodic check-ins, as the periodic sweep makes them: no exposure, no incident.
    checkins = list(await db.exec(select(CheckIn).where(col(CheckIn.kind) == "day3").order_by(col(CheckIn.id))))
    for source in rng.sample(checkins, min(25, len(checkins))):
        due = NOW - timedelta(days=rng.uniform(0, 400))
        outcome = rng.choice(["completed", "declined", None, None, "cancelled"])
        recorded = due + timedelta(days=rng.uniform(0, 4)) if outcome else None
        db.add(
            CheckIn(
                exposure_id=None,
                incident_id=None,
                person_id=source.person_id,
                kind="periodic",
                offset_days=0,
                scheduled_for=due,
                due_at=due,
                outcome=outcome,
                recorded_at=recorded,
            )
        )
    # First contact on most accepted requests (the seed sets acceptance only).
    for request in await db.exec(select(PeerRequest).order_by(col(PeerRequest.created_at))):
        if request.accepted_at is not None and rng.random() < 0.8:
            request.first_contact_at = request.accepted_at + timedelta(hours=rng.uniform(0, 30))
            db.add(request)
    for _ in range(120):
        db.add(
            FeedbackAnswer(
                context=rng.choice(["request", "checkins"]),
                answered_on=date(2026, 11, 2) - timedelta(days=rng.randint(0, 420)),
                helpful=rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 5, 8])[0],
                ask_again=rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 9])[0],
                ease=rng.randint(1, 5),
            )
        )
    await db.commit()


def assert_safe(report: Report) -> None:
    """No cell under k shown; no hidden cell follows from the shown ones and the totals,
    neither by one subtraction along a row or column nor by solving all of them together."""
    label = f"<{report.k}"
    for table in report.tables:
        equations = table.equations()
        for key, count in table.cells.items():
            if count.value > 0 and count.people < report.k:
                assert table.shown[key] == label, (table.id, key, count)
            if isinstance(table.shown[key], int):
                assert table.shown[key] == count.value, (table.id, key)
        for equation in equations:
            unknown = [m for m in equation.members if isinstance(table.shown[m], str)]
            assert len(unknown) != 1, (table.id, equation, unknown)
        hidden = {key for key, value in table.shown.items() if isinstance(value, str)}
        assert derivable(hidden, equations) == set(), table.id
        assert subtraction_attack(table.shown, equations) == set(), table.id  # type: ignore[arg-type]
    # And across tables: figures one table shares with another (the same total twice).
    everything = {(t.id, *key): value for t in report.tables for key, value in t.shown.items()}
    joint = report_equations(report.tables, report.shared)
    assert derivable({key for key, value in everything.items() if isinstance(value, str)}, joint) == set()
    assert subtraction_attack(everything, joint) == set()  # type: ignore[arg-type]
    for timing in report.timings:
        for row, found in timing.timings.items():
            if found.people < report.k:
                assert found.median is None and found.p90 is None, (timing.id, row)


@pytest.mark.parametrize("seed", [8405, 31])
async def test_every_figure_equals_a_brute_force_recount(
    session: AsyncSession, db: AsyncSession, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    programme = await seed_programme(db, rng=rng, settings=settings, now=NOW, incidents_count=45)
    lead = actor_for(programme.lead, ["lead"])
    await _extras(db, rng=rng, settings=settings, lead=lead)
    asked = [{"quarter": "2026Q3"}, {"quarter": "2026Q1"}, {"from_month": "2025-09", "to_month": "2026-10"}]
    seen_hidden = seen_numbers = 0
    shown_times = {"first_contact": 0, "request_contact": 0}
    for given in asked:
        period = reports.period_of(
            quarter=given.get("quarter"),
            from_month=given.get("from_month"),
            to_month=given.get("to_month"),
            now=NOW,
            settings=settings,
        )
        report = await reports.quarterly(db, actor=lead, period=period, now=NOW, settings=settings)
        truth = await expected(session, period=period, now=NOW, settings=settings)
        for table in report.tables:
            assert table.cells == truth.cells[table.id], (given, table.id)
            seen_hidden += sum(isinstance(v, str) for v in table.shown.values())
            seen_numbers += sum(isinstance(v, int) and v >= 3 for v in table.shown.values())
        for timing in report.timings:
            for row, found in timing.timings.items():
                want = truth.timings[timing.id][row]
                got = None if found.median is None else (found.median, found.p90)
                assert got == (None if want is None else pytest.approx(want, abs=0.051)), (given, timing.id, row)
                shown_times[timing.id] += got is not None
        assert_safe(report)
    assert seen_hidden > 0 and seen_numbers > 0  # the organisations exercise both
    assert all(shown_times.values()), shown_times


async def test_at_the_default_k_a_small_organisation_shows_little_and_gives_nothing_away(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(5), settings=settings, now=NOW, incidents_count=30)
    lead = actor_for(programme.lead, ["lead"])
    strict = settings.model_copy(update={"report_small_cell_k": 10})
    period = reports.period_of(quarter=None, from_month="2025-08", to_month="2026-10", now=NOW, settings=strict)
    report = await reports.quarterly(db, actor=lead, period=period, now=NOW, settings=strict)
    assert report.k == 10
    assert_safe(report)
    # Rare kinds are grouped: every kind named has at least k people exposed.
    kinds = report.table("incidents")
    for row in kinds.rows:
        if row != "other":
            assert kinds.cells[(row, "total")].people >= 10, row


async def test_only_the_lead_gets_the_report(db: AsyncSession, settings: Settings, cast: Any) -> None:
    period = reports.period_of(quarter="2026Q4", from_month=None, to_month=None, now=NOW, settings=settings)
    for person, roles in (
        (cast.supervisor, ["supervisor"]),
        (cast.admin, ["admin"]),
        (cast.peer, ["responder", "peer"]),
        (cast.clinician, ["clinician"]),
        (cast.responder, ["responder"]),
    ):
        with pytest.raises(NotFound):
            await reports.quarterly(db, actor=actor_for(person, roles), period=period, now=NOW, settings=settings)
    report = await reports.quarterly(
        db, actor=actor_for(cast.lead, ["lead"]), period=period, now=NOW, settings=settings
    )
    assert report.title == "October 2026 to December 2026"
