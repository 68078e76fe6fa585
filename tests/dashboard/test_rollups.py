"""The check-in figures and the figures keyed by incident from the rollups: equal to the
brute-force recount after random changes in random orders (check-ins recorded and
corrected, incidents moved and logged late, people added, removed and re-labelled,
flags raised and moved on, referrals offered and their stage changed, planning meetings
and routes recorded, briefings held, cases purged), suppressed exactly as counted live;
kept current by the marks the changes leave and the sweep that clears them; on both
databases."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.cast import actor_for
from tests.dashboard.brute import expected
from tests.dashboard.checks import assert_nothing_derivable
from tests.dashboard.seed import Programme, seed_programme
from tests.helpers import answers_for
from trim.accounts.models import Person
from trim.assessments import service as assessments
from trim.config import Settings
from trim.dashboard import rollups, rules
from trim.dashboard import service as dashboard
from trim.dashboard.figures import ALL, suppress_by_component
from trim.dashboard.models import (
    CheckinCell,
    CheckinRollup,
    ContactCell,
    ContactRollup,
    IncidentCell,
    IncidentRollup,
    RollupClaim,
    RollupMark,
    RollupState,
)
from trim.db import AsyncSession, make_sessionmaker
from trim.flags.models import Flag
from trim.flags.rules import CAUSES
from trim.followups.models import CheckIn
from trim.incidents import service as incidents
from trim.incidents.models import Exposure, Incident
from trim.planning.models import Briefing, BriefingAttendee, PlanningRecord, PlanningRoute
from trim.planning.rules import ROUTES
from trim.records import retention
from trim.referrals.models import CONSENTED_STATUSES, Referral
from trim.requests.models import PeerRequest

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CHECKIN_FIGURES = ("checkin_timeliness", "score_bands", "first_contact")
INCIDENT_FIGURES = ("incidents_by_month_kind", "flags", "referrals", "planning", "planning_routes", "briefings")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # k = 3 keeps a small organisation readable; a sample of 4 makes full samples common,
    # so the "at least" side of the samples is exercised as much as the exact one.
    return {"small_cell_k": 3, "dashboard_sample_size": 4}


async def _figures(db: AsyncSession, settings: Settings, programme: Programme, now: datetime, **given: str) -> Any:
    filters = await dashboard.read_filters(
        db,
        from_text=given.get("from_text"),
        to_text=given.get("to_text"),
        station_text=given.get("station_text"),
        kind_text=given.get("kind_text"),
        now=now,
        settings=settings,
    )
    lead = actor_for(programme.lead, ["lead"])
    return filters, await dashboard.dashboard(db, actor=lead, filters=filters, now=now, settings=settings)


async def _assert_matches_recount(
    db: AsyncSession, session: AsyncSession, settings: Settings, programme: Programme, *, now: datetime = NOW
) -> int:
    """Every figure of several filter choices equals the recount; the check-in figures
    and the figures keyed by incident came from the rollups. Returns the rolled-up cells
    compared."""
    choices: list[dict[str, str]] = [
        {},
        {"station_text": str(programme.stations[1].id)},
        {"kind_text": "difficult_rescue"},
        {"from_text": "2026-03-01", "to_text": "2026-08-31"},
        {"from_text": "2025-06-15", "to_text": "2026-11-02", "station_text": str(programme.stations[0].id)},
        {"from_text": "2025-09-10", "to_text": "2026-10-20"},
    ]
    compared = 0
    twins = await retention.live_twins(db, settings)
    for given in choices:
        filters, figures = await _figures(db, settings, programme, now, **given)
        # Only twins (a purged case and a live one) can fold a full sample below k: then that
        # figure is counted live, and still has to equal the recount (below).
        if not twins:
            assert figures.figures_as_of is not None, "the check-in figures were counted live"
            assert set(CHECKIN_FIGURES) <= figures.from_rollups, figures.from_rollups
        rolled = figures.from_rollups - set(CHECKIN_FIGURES)
        # People exposed with a station filter is counted live (a station's year is small).
        answered = set(INCIDENT_FIGURES) | (
            {"people_exposed", "peer_caseloads"} if filters.station_id is None else set()
        )
        if not twins:
            assert rolled == answered, "some figures keyed by incident were counted live"
        assert rolled <= answered
        # Exact people exposed from the bitsets, and caseloads from the packed pairs, twins
        # folded: never left to the live count.
        assert ("people_exposed" in rolled) == (filters.station_id is None)
        assert ("peer_caseloads" in rolled) == (filters.station_id is None)
        truth = await expected(session, filters=filters, now=now, settings=settings)
        got = figures.ledger.cells
        assert set(got) == set(truth.cells), (given, set(got) ^ set(truth.cells))
        for key, count in truth.cells.items():
            assert got[key].value == count.value, (given, key, got[key], count)
            assert rules.is_small(got[key], 3) == rules.is_small(count, 3), (given, key, got[key], count)
            compared += key[0] in CHECKIN_FIGURES or key[0] in rolled
        same_order = {key: truth.cells[key] for key in got}
        assert figures.ledger.shown == suppress_by_component(same_order, figures.ledger.equations, 3)
        assert_nothing_derivable(figures, k=3)
        # Median and 90th percentile of the hours to first contact: percentile_cont's own.
        contact = {g for figure, g in truth.stats if figure == "first_contact"}
        assert {g for figure, g in figures.stats if figure == "first_contact"} == contact, given
        for group in contact:
            mine, stat = figures.stats[("first_contact", group)], truth.stats[("first_contact", group)]
            assert mine.median == pytest.approx(stat.median, abs=1e-9), (given, group)
            assert mine.p90 == pytest.approx(stat.p90, abs=1e-9), (given, group)
            assert (mine.people < 3) == (stat.people < 3), (given, group)
        shown = figures.figure("first_contact").rows
        assert [row.values for row in shown] == [row.values for row in _shown_like(truth, figures).rows]
    return compared


def _shown_like(truth: Any, figures: Any) -> Any:
    """The first-contact figure as the recount's own numbers would show it."""
    from trim.dashboard.figures import Figure, Row, stat_values

    fig = Figure("first_contact", "", "", "", ("month",), ("contacted", "median_hours", "p90_hours"))
    for row in figures.figure("first_contact").rows:
        group = row.dims["month"]
        median, p90 = stat_values(truth.stats.get(("first_contact", group)), 3)
        fig.rows.append(Row(row.dims, {"contacted": row.values["contacted"], "median_hours": median, "p90_hours": p90}))
    return fig


async def _refresh(db: AsyncSession, settings: Settings, now: datetime = NOW) -> int:
    done = await rollups.refresh(db, now=now, settings=settings)
    await db.commit()
    return done


async def _random_changes(db: AsyncSession, programme: Programme, settings: Settings, rng: random.Random) -> None:
    """A few changes of every kind that moves a check-in figure, in a random order."""
    lead = actor_for(programme.lead, ["lead"])
    peers = {p.id: p for p in programme.peers}

    async def record() -> None:
        open_ones = list(
            await db.exec(
                select(CheckIn).where(col(CheckIn.outcome).is_(None), col(CheckIn.due_at) < NOW - timedelta(days=1))
            )
        )
        open_ones = [c for c in open_ones if c.peer_id in peers and c.kind != "monitor"]
        if not open_ones:
            return
        checkin = rng.choice(sorted(open_ones, key=lambda c: c.id))
        outcome = rng.choice(["completed", "completed", "declined"])
        await assessments.record_checkin(
            db,
            actor=actor_for(peers[checkin.peer_id], ["responder", "peer"]),
            checkin_id=checkin.id,
            submission=assessments.Submission(
                outcome=outcome,
                answers=answers_for(checkin.kind, risk_yes=rng.choice([0, 5]), tsq_yes=0)
                if outcome == "completed"
                else {},
            ),
            now=NOW - timedelta(hours=rng.uniform(1, 20)),
            settings=settings,
        )

    async def correct() -> None:
        held = list(await db.exec(select(CheckIn).where(col(CheckIn.outcome) == "completed")))
        held = [c for c in held if c.peer_id in peers]
        for checkin in rng.sample(sorted(held, key=lambda c: c.id), min(3, len(held))):
            try:
                await assessments.correct_checkin(
                    db,
                    actor=actor_for(peers[checkin.peer_id], ["responder", "peer"]),
                    checkin_id=checkin.id,
                    submission=assessments.Submission(
                        outcome="completed", answers=answers_for(checkin.kind, risk_yes=rng.choice([0, 6]), tsq_yes=0)
                    ),
                    correction_reason="Wrong answers entered.",
                    now=NOW - timedelta(minutes=5),
                    settings=settings,
                )
                return
            except Exception:  # recorded by another peer: try the next
                await db.rollback()

    async def move() -> None:
        found = sorted(await db.exec(select(Incident).where(col(Incident.source) == "logged")), key=lambda i: i.id)
        incident = rng.choice(found)
        await incidents.change_incident(
            db,
            actor=lead,
            incident_id=incident.id,
            data=incidents.IncidentInput(
                occurred_at=incident.occurred_at - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23)),
                kind=rng.choice(["difficult_rescue", "suicide", incident.kind]),
                station_id=rng.choice(programme.stations).id,
                summary=incident.summary or "Moved.",
            ),
            now=NOW,
            settings=settings,
        )

    async def late_log() -> None:
        exposed = rng.sample(programme.responders, rng.randint(1, 4))
        await incidents.log_incident(
            db,
            actor=lead,
            data=incidents.IncidentInput(
                occurred_at=NOW - timedelta(days=rng.randint(200, 400)),
                kind="mass_casualty",
                station_id=rng.choice(programme.stations).id,
                summary="Logged late.",
                exposures=[incidents.ExposureRef("direct", p.id) for p in exposed],
            ),
            now=NOW,
            settings=settings,
        )

    async def remove() -> None:
        live = sorted(await db.exec(select(Exposure).where(col(Exposure.removed_at).is_(None))), key=lambda e: e.id)
        exposure = rng.choice(live)
        await incidents.remove_exposure(
            db, actor=lead, incident_id=exposure.incident_id, person_id=exposure.person_id, now=NOW
        )

    async def live_exposure() -> Exposure:
        live = sorted(await db.exec(select(Exposure).where(col(Exposure.removed_at).is_(None))), key=lambda e: e.id)
        return rng.choice(live)

    async def add_person() -> None:
        exposure = await live_exposure()
        on_it = {
            e.person_id for e in await db.exec(select(Exposure).where(Exposure.incident_id == exposure.incident_id))
        }
        person = rng.choice([p for p in programme.responders if p.id not in on_it])
        await incidents.add_exposure(
            db,
            actor=lead,
            incident_id=exposure.incident_id,
            ref=incidents.ExposureRef(rng.choice(["direct", "witness", "support"]), person.id),
            now=NOW,
            settings=settings,
        )

    async def relabel() -> None:
        exposure = await live_exposure()
        exposure.exposure = rng.choice([k for k in ("direct", "witness", "support") if k != exposure.exposure])
        db.add(exposure)

    async def raise_flag() -> None:
        exposure = await live_exposure()
        cause = rng.choice(list(CAUSES))
        db.add(
            Flag(
                person_id=exposure.person_id,
                exposure_id=exposure.id,
                cause=cause,
                cause_key=f"test:{cause}:{uuid.UUID(int=rng.getrandbits(128))}",
                raised_at=NOW - timedelta(days=1),
            )
        )

    async def move_flag_on() -> None:
        flags = sorted(await db.exec(select(Flag)), key=lambda f: f.id)
        if not flags:
            return
        flag = rng.choice(flags)
        referral = (await db.exec(select(Referral).where(Referral.flag_id == flag.id))).first()
        if referral is None:
            consent = rng.random() < 0.7
            db.add(
                Referral(
                    flag_id=flag.id,
                    person_id=flag.person_id,
                    consent=consent,
                    status=rng.choice(CONSENTED_STATUSES) if consent else "declined",
                    created_at=NOW - timedelta(hours=2),
                    created_by_id=programme.lead.id,
                )
            )
            flag.status = "referred" if consent else "declined"
        else:
            # A referral's stage moves on, or the answer recorded is corrected (as the product
            # keeps them: a "no" is declined, a "yes" has a consented stage).
            referral.consent = not referral.consent if rng.random() < 0.3 else referral.consent
            referral.status = rng.choice(CONSENTED_STATUSES) if referral.consent else "declined"
            db.add(referral)
            flag.status = rng.choice(["open", "referred", "declined", "closed"])
        db.add(flag)

    async def plan() -> None:
        exposure = await live_exposure()
        incident = await db.get(Incident, exposure.incident_id)
        assert incident is not None
        record = (await db.exec(select(PlanningRecord).where(PlanningRecord.incident_id == incident.id))).first()
        held_at = incident.occurred_at + timedelta(hours=rng.choice([2, 30, 100]))
        if record is None:
            record = PlanningRecord(incident_id=incident.id, held_at=held_at, recorded_by_id=programme.lead.id)
        record.held_at = held_at
        db.add(record)
        route = (await db.exec(select(PlanningRoute).where(PlanningRoute.exposure_id == exposure.id))).first()
        if route is None:
            route = PlanningRoute(incident_id=incident.id, exposure_id=exposure.id, route=ROUTES[0])
        route.route = rng.choice(ROUTES)
        db.add(route)

    async def brief() -> None:
        exposure = await live_exposure()
        incident = await db.get(Incident, exposure.incident_id)
        assert incident is not None
        briefing = Briefing(
            incident_id=incident.id,
            held_at=incident.occurred_at + timedelta(days=1),
            facilitator_id=rng.choice(programme.peers).id,
        )
        db.add(briefing)
        await db.flush()
        for person in rng.sample(programme.responders, rng.randint(0, 4)):
            db.add(BriefingAttendee(briefing_id=briefing.id, person_id=person.id))

    async def ask() -> None:
        # A request for a peer accepted now and then: a first contact for earlier incidents.
        person = rng.choice(programme.responders)
        created = NOW - timedelta(days=rng.randint(1, 300), hours=rng.randint(0, 23))
        accepted = rng.random() < 0.8
        db.add(
            PeerRequest(
                requester_id=person.id,
                requester_station_id=person.station_id,
                urgency=rng.choice(["today", "this_week", "when_convenient"]),
                contact_method="phone",
                status="accepted" if accepted else "open",
                created_at=created,
                accepted_at=created + timedelta(hours=rng.uniform(0.1, 50)) if accepted else None,
                accepted_by_id=programme.peers[0].id if accepted else None,
            )
        )

    async def accept() -> None:
        waiting = sorted(
            await db.exec(select(PeerRequest).where(col(PeerRequest.accepted_at).is_(None))), key=lambda r: r.id
        )
        if waiting:
            request = rng.choice(waiting)
            request.accepted_at, request.status = request.created_at + timedelta(hours=rng.uniform(1, 30)), "accepted"
            request.accepted_by_id = programme.peers[1].id
            db.add(request)

    async def reassign() -> None:
        # An open check-in given to another peer (directly: every path that changes the
        # peer must mark its incident, for the caseloads).
        open_ones = sorted(
            await db.exec(select(CheckIn).where(col(CheckIn.outcome).is_(None), col(CheckIn.incident_id).is_not(None))),
            key=lambda c: c.id,
        )
        if open_ones:
            checkin = rng.choice(open_ones)
            others = [p.id for p in programme.peers if p.id not in (checkin.person_id, checkin.peer_id)]
            checkin.peer_id = rng.choice(others)
            db.add(checkin)

    events = [record, record, record, correct, move, move, late_log, remove, ask, ask, accept, reassign, reassign]
    events += [add_person, relabel, raise_flag, raise_flag, move_flag_on, move_flag_on, plan, plan, brief]
    rng.shuffle(events)
    for event in events:
        await event()
        await db.commit()


@pytest.mark.parametrize("seed", [8405, 77])
async def test_rollup_figures_match_a_recount_after_random_changes(
    session: AsyncSession, db: AsyncSession, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    programme = await seed_programme(db, rng=rng, settings=settings, now=NOW)
    assert await _refresh(db, settings) > 0
    assert await _assert_matches_recount(db, session, settings, programme) > 20
    await _random_changes(db, programme, settings, rng)
    assert list(await session.exec(select(RollupMark))), "the changes marked their incidents"
    await _refresh(db, settings)
    assert list(await session.exec(select(RollupMark))) == []
    await _assert_matches_recount(db, session, settings, programme)
    # Purge every closed case: still counted, as stand-ins (one person with a live case too).
    report = await retention.purge(db, now=NOW + timedelta(days=settings.retention_days + 30), settings=settings)
    await db.commit()
    assert report.exposures > 0
    await _refresh(db, settings)
    cells = list(await session.exec(select(CheckinCell)))
    stand_ins = {p.id.hex for p in await session.exec(select(Person).where(col(Person.is_pseudonym)))}
    assert any(set(c.sample.split(",")) & stand_ins for c in cells), "the rollups hold the stand-ins"
    by_incident = list(await session.exec(select(IncidentCell)))
    assert any(set(c.sample.split(",")) & stand_ins for c in by_incident), "so do the incident cells"
    await _assert_matches_recount(db, session, settings, programme)
    await _random_changes(db, programme, settings, rng)
    await _refresh(db, settings)
    await _assert_matches_recount(db, session, settings, programme)


async def test_rebuilding_a_range_from_scratch_gives_the_same_rollups(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(5), settings=settings, now=NOW, incidents_count=15)
    await _refresh(db, settings)
    await _random_changes(db, programme, settings, random.Random(6))
    await _refresh(db, settings)

    async def contents() -> tuple[list[tuple[Any, ...]], ...]:
        cells = sorted(
            (c.incident_id, c.day, c.interval, c.category, c.band, c.missed_from, c.checkins, c.sample)
            for c in await session.exec(select(CheckinCell))
        )
        sums = sorted(
            (r.grain, r.start, r.kind, r.interval, r.category, r.band, r.missed_from, r.checkins, r.sample)
            for r in await session.exec(select(CheckinRollup))
        )
        contact_cells = sorted(
            (c.incident_id, c.day, c.kind, c.bucket, c.contacts, c.hours, c.sample)
            for c in await session.exec(select(ContactCell))
        )
        contact_sums = sorted(
            (r.grain, r.start, r.kind, r.bucket, r.contacts, r.hours, r.sample)
            for r in await session.exec(select(ContactRollup))
        )
        by_incident = sorted(
            (c.incident_id, c.day, c.station_id, c.kind, c.figure, c.d0, c.d1, c.count, c.sample)
            for c in await session.exec(select(IncidentCell))
        )
        incident_sums = sorted(
            (r.grain, r.start, r.kind, r.figure, r.d0, r.d1, r.count, r.sample)
            for r in await session.exec(select(IncidentRollup))
        )
        return cells, sums, contact_cells, contact_sums, by_incident, incident_sums

    incremental = await contents()
    assert incremental[2] and {r[0] for r in incremental[3]} == {"day", "block", "month"}
    assert {r[0] for r in incremental[1]} == {"day", "block", "month"}
    assert incremental[4] and incremental[5], "the incident cells and rollups have rows"
    for model in (CheckinCell, CheckinRollup, ContactCell, ContactRollup, IncidentCell, IncidentRollup):
        await session.exec(model.__table__.delete())  # type: ignore[attr-defined]
    first, last = (NOW - timedelta(days=900)).date(), NOW.date()
    assert await rollups.rebuild_range(db, first=first, last=last, settings=settings) > 0
    await db.commit()
    assert await contents() == incremental


async def test_two_requests_seconds_apart_on_one_day_agree(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(12), settings=settings, now=NOW, incidents_count=15)
    # An open check-in whose grace period ends between the two requests.
    open_after_incidents = (col(CheckIn.outcome).is_(None), col(CheckIn.incident_id).is_not(None))
    checkin = (await db.exec(select(CheckIn).where(*open_after_incidents).order_by(col(CheckIn.id)))).first()
    assert checkin is not None
    checkin.due_at = NOW + timedelta(seconds=2) - settings.due_window - settings.missed_grace
    db.add(checkin)
    await db.commit()
    await _refresh(db, settings)
    _, first = await _figures(db, settings, programme, NOW)
    _, second = await _figures(db, settings, programme, NOW + timedelta(seconds=5))
    assert first.ledger.shown == second.ledger.shown
    assert first.ledger.cells == second.ledger.cells
    # Tomorrow it is missed.
    _, tomorrow = await _figures(db, settings, programme, NOW + timedelta(days=1))
    missed = ("checkin_timeliness", (checkin.kind, "missed"), "checkins")
    assert tomorrow.ledger.cells[missed].value == first.ledger.cells[missed].value + 1


async def test_the_answer_says_how_fresh_it_is(session: AsyncSession, db: AsyncSession, settings: Settings) -> None:
    programme = await seed_programme(db, rng=random.Random(3), settings=settings, now=NOW, incidents_count=8)
    _, live = await _figures(db, settings, programme, NOW)
    assert live.figures_as_of is None  # never built: counted live
    await _refresh(db, settings, NOW - timedelta(minutes=1))
    _, rolled = await _figures(db, settings, programme, NOW)
    assert rolled.figures_as_of == NOW - timedelta(minutes=1) and not rolled.changes_waiting
    # The same numbers, hidden alike (people may be bounds, on the same side of k).
    assert {key: c.value for key, c in rolled.ledger.cells.items()} == {
        key: c.value for key, c in live.ledger.cells.items()
    }
    assert rolled.ledger.shown == live.ledger.shown
    incident = (await db.exec(select(Incident).order_by(col(Incident.id)))).first()
    assert incident is not None
    await incidents.change_incident(
        db,
        actor=actor_for(programme.lead, ["lead"]),
        incident_id=incident.id,
        data=incidents.IncidentInput(
            occurred_at=incident.occurred_at - timedelta(days=3),
            kind=incident.kind,
            station_id=programme.stations[2].id,
            summary="Moved.",
        ),
        now=NOW,
        settings=settings,
    )
    await db.commit()
    _, stale = await _figures(db, settings, programme, NOW)
    assert stale.changes_waiting


async def test_the_sweep_waits_between_refreshes_and_the_marks_keep(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    from trim.dashboard.jobs import sweep_rollups

    programme = await seed_programme(db, rng=random.Random(5), settings=settings, now=NOW, incidents_count=6)
    assert await sweep_rollups(db, now=NOW, settings=settings) > 0  # never built: at once
    await db.commit()
    await _random_changes(db, programme, settings, random.Random(6))
    waiting = len(list(await db.exec(select(RollupMark))))
    assert waiting > 0
    soon = NOW + timedelta(seconds=settings.dashboard_refresh_seconds - 1)
    assert await sweep_rollups(db, now=soon, settings=settings) == 0  # refreshed lately: it waits
    assert len(list(await db.exec(select(RollupMark)))) == waiting  # nothing lost meanwhile
    later = NOW + timedelta(seconds=settings.dashboard_refresh_seconds)
    assert await sweep_rollups(db, now=later, settings=settings) > 0
    await db.commit()
    assert list(await session.exec(select(RollupMark))) == []
    await _assert_matches_recount(db, session, settings, programme, now=later)
    # Other settings: rebuilt at once, whatever the time since the last refresh.
    other = settings.model_copy(update={"dashboard_sample_size": settings.dashboard_sample_size + 1})
    assert await sweep_rollups(db, now=later, settings=other) > 0


async def test_a_sample_smaller_than_k_falls_back_to_counting_live(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(4), settings=settings, now=NOW, incidents_count=8)
    await _refresh(db, settings)
    _, rolled = await _figures(db, settings, programme, NOW)
    small = settings.model_copy(update={"small_cell_k": 5})
    _, live = await _figures(db, small, programme, NOW)
    assert rolled.figures_as_of is not None and live.figures_as_of is None
    assert {key: c.value for key, c in rolled.ledger.cells.items()} == {
        key: c.value for key, c in live.ledger.cells.items()
    }


async def test_a_second_worker_at_the_same_moment_does_nothing(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a second worker waits for the first to commit")
    programme = await seed_programme(db, rng=random.Random(9), settings=settings, now=NOW, incidents_count=6)
    await _refresh(db, settings)
    await _random_changes(db, programme, settings, random.Random(10))
    assert await rollups.refresh(db, now=NOW, settings=settings) > 0  # the first worker, not yet committed
    assert await rollups.refresh(session, now=NOW, settings=settings) == 0  # the state row is taken
    await db.commit()
    assert list(await session.exec(select(RollupMark))) == []
    await _assert_matches_recount(db, session, settings, programme)


async def test_a_recording_of_an_incident_being_rebuilt_does_not_wait_for_the_rebuild(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    """The sweep takes its marks in a short transaction of its own: a recording whose
    trigger marks the same incident again goes through while the rebuild is still open,
    and its mark waits for the next sweep."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: every write waits for the sweep's transaction")
    programme = await seed_programme(db, rng=random.Random(31), settings=settings, now=NOW, incidents_count=6)
    await _refresh(db, settings)
    peers = {p.id: p for p in programme.peers}
    due = select(CheckIn).where(col(CheckIn.outcome).is_(None), col(CheckIn.due_at) < NOW - timedelta(days=1))
    checkin = next(
        c for c in await session.exec(due.order_by(col(CheckIn.id))) if c.peer_id in peers and c.kind != "monitor"
    )
    session.add(RollupMark(incident_id=checkin.incident_id))
    await session.commit()
    assert await rollups.refresh(db, now=NOW, settings=settings) > 0  # the rebuild, not yet committed

    async def record() -> None:
        async with make_sessionmaker(db.bind)() as other:  # type: ignore[arg-type]
            await assessments.record_checkin(
                other,
                actor=actor_for(peers[checkin.peer_id], ["responder", "peer"]),
                checkin_id=checkin.id,
                submission=assessments.Submission(outcome="declined", answers={}),
                now=NOW - timedelta(hours=2),
                settings=settings,
            )
            await other.commit()

    await asyncio.wait_for(record(), timeout=15)  # before: waited for the rebuild's commit
    await db.commit()
    await session.refresh(checkin)  # as loaded before another session recorded it
    assert [m.incident_id for m in await session.exec(select(RollupMark))] == [checkin.incident_id]
    assert list(await session.exec(select(RollupClaim))) == []
    await _refresh(db, settings)
    await _assert_matches_recount(db, session, settings, programme)


async def test_claims_of_a_sweep_that_failed_are_rebuilt_by_the_next(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(33), settings=settings, now=NOW, incidents_count=6)
    await _refresh(db, settings)
    await _random_changes(db, programme, settings, random.Random(34))
    assert list(await session.exec(select(RollupMark)))
    async with make_sessionmaker(db.bind)() as sweeper:  # type: ignore[arg-type]
        assert await rollups.refresh(sweeper, now=NOW, settings=settings) > 0
        await sweeper.rollback()  # the rebuild failed after its marks were taken
    if db.get_bind().dialect.name == "postgresql":
        assert list(await session.exec(select(RollupClaim))), "taken apart, the claims outlive the rebuild"
    else:
        assert list(await session.exec(select(RollupMark))), "taken in the sweep's transaction, the marks come back"
    _, waiting = await rollups.freshness(session)
    assert waiting
    assert await _refresh(db, settings) > 0
    assert list(await session.exec(select(RollupClaim))) == []
    assert list(await session.exec(select(RollupMark))) == []
    await _assert_matches_recount(db, session, settings, programme)


async def test_a_switched_off_peer_leaves_the_caseloads_at_once(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    """Which peers are active is read live: switching one off needs no sweep."""
    programme = await seed_programme(db, rng=random.Random(41), settings=settings, now=NOW, incidents_count=8)
    await _refresh(db, settings)
    _, before = await _figures(db, settings, programme, NOW)
    assert "peer_caseloads" in before.from_rollups
    total = before.ledger.cells[("peer_caseloads", (ALL,), "peers")].value
    peer = programme.peers[0]
    peer.active = False
    db.add(peer)
    await db.commit()
    _, after = await _figures(db, settings, programme, NOW)
    assert "peer_caseloads" in after.from_rollups
    assert after.ledger.cells[("peer_caseloads", (ALL,), "peers")].value == total - 1
    await _assert_matches_recount(db, session, settings, programme)


async def test_rollups_built_with_other_settings_are_not_read_until_rebuilt(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(21), settings=settings, now=NOW, incidents_count=8)
    await _refresh(db, settings)
    # A longer grace period moves "missed": the rollups built with the old one are not used.
    longer = settings.model_copy(update={"missed_grace_days": settings.missed_grace_days + 20})
    _, live = await _figures(db, longer, programme, NOW)
    assert live.figures_as_of is None
    await _refresh(db, longer)
    _, rebuilt = await _figures(db, longer, programme, NOW)
    assert rebuilt.figures_as_of is not None
    assert {key: c.value for key, c in rebuilt.ledger.cells.items()} == {
        key: c.value for key, c in live.ledger.cells.items()
    }
    assert rebuilt.ledger.shown == live.ledger.shown


async def test_periodic_and_self_answered_checkins_are_counted_apart(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(31), settings=settings, now=NOW, incidents_count=10)
    await _refresh(db, settings)
    filters, figures = await _figures(db, settings, programme, NOW)
    assert figures.figures_as_of is not None
    cells = figures.ledger.cells
    every = list(await session.exec(select(CheckIn)))
    periodic = [
        c
        for c in every
        if c.kind == "periodic" and c.outcome != "cancelled" and filters.period.start <= c.due_at < filters.period.end
    ]
    assert periodic and cells[("periodic_checkins", ("all", "all"), "checkins")].value == len(periodic)
    # Not among the check-ins after incidents.
    assert all(key[1][0] != "periodic" for key in cells if key[0] == "checkin_timeliness")
    held_alone = cells[("checkin_timeliness", ("all", "answered_themselves"), "checkins")].value
    in_period = {
        i.id
        for i in await session.exec(select(Incident))
        if filters.period.start <= i.occurred_at < filters.period.end and i.source == "logged"
    }
    assert held_alone == sum(
        1 for c in every if c.incident_id in in_period and c.outcome == "completed" and c.self_completed
    )
    assert held_alone > 0
    # A kind of incident chosen: periodic check-ins have none, so nothing is counted there.
    _, by_kind = await _figures(db, settings, programme, NOW, kind_text="difficult_rescue")
    assert all(count.value == 0 for key, count in by_kind.ledger.cells.items() if key[0] == "periodic_checkins")


async def test_rollups_built_before_answered_themselves_was_apart_are_rebuilt(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    programme = await seed_programme(db, rng=random.Random(32), settings=settings, now=NOW, incidents_count=6)
    await _refresh(db, settings)
    state = (await db.exec(select(RollupState))).one()
    state.built_with = state.built_with.split(";categories=")[0]  # as main built them before
    db.add(state)
    await db.commit()
    _, stale = await _figures(db, settings, programme, NOW)
    assert stale.figures_as_of is None, "rollups without the category are not read"
    await _refresh(db, settings)
    _, rebuilt = await _figures(db, settings, programme, NOW)
    assert rebuilt.figures_as_of is not None
    assert {key: c.value for key, c in rebuilt.ledger.cells.items()} == {
        key: c.value for key, c in stale.ledger.cells.items()
    }


async def test_missed_moves_with_the_day_without_a_rebuild(
    session: AsyncSession, db: AsyncSession, settings: Settings
) -> None:
    # Blocks and months hold open check-ins by the month they are missed from; as the days
    # pass, they are missed, still open, or (within that month) counted from their days.
    programme = await seed_programme(db, rng=random.Random(41), settings=settings, now=NOW)
    await _refresh(db, settings)
    for later in (0, 1, 6, 13, 29, 44, 75):
        await _assert_matches_recount(db, session, settings, programme, now=NOW + timedelta(days=later))
