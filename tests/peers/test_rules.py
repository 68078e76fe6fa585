"""The choice of a peer with peer care (design sections 5 and 13), as pure functions:
every combination of exposed, same station, manager, lapsed, resting, at cap and load."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from trim.followups.rules import PeerCandidate
from trim.peers import rules
from trim.peers.rules import Standing

TODAY = date(2026, 12, 2)
PERSON = uuid.uuid4()
STATION = uuid.uuid4()
OTHER_STATION = uuid.uuid4()


def peer(
    name: str, *, station: uuid.UUID | None = OTHER_STATION, open_checkins: int = 0, **kw: str | None
) -> PeerCandidate:
    return PeerCandidate(id=uuid.uuid4(), name=name, station_id=station, open_checkins=open_checkins, **kw)  # type: ignore[arg-type]


# One axis per rule: (name, applies?) -> the peer and standing that break it.
FLAGS = ("exposed", "same_station", "manager", "lapsed", "resting", "at_cap")


def build(flags: dict[str, bool]) -> tuple[PeerCandidate, Standing, set[uuid.UUID], str | None]:
    c = peer(
        "P",
        station=STATION if flags["same_station"] else OTHER_STATION,
        staff_number="M1" if flags["manager"] else "S9",
    )
    standing = Standing(
        lapses_on=TODAY - timedelta(days=1) if flags["lapsed"] else TODAY + timedelta(days=30),
        resting_until=TODAY + timedelta(days=3) if flags["resting"] else TODAY - timedelta(days=1),
        open_people=8 if flags["at_cap"] else 7,
        cap=8,
    )
    exposed = {c.id} if flags["exposed"] else set()
    return c, standing, exposed, "M1"


@pytest.mark.parametrize("combo", list(itertools.product([False, True], repeat=len(FLAGS))))
def test_a_peer_is_chosen_only_when_no_rule_rules_them_out(combo: tuple[bool, ...]) -> None:
    flags = dict(zip(FLAGS, combo, strict=True))
    c, standing, exposed, manager = build(flags)
    chosen = rules.choose_peer(
        [(c, standing)],
        today=TODAY,
        person_id=PERSON,
        person_station_id=STATION,
        exposed_ids=exposed,
        avoid_same_station=True,
        person_staff_number="S1",
        person_manager_staff_number=manager,
    )
    assert (chosen is not None) == (not any(combo))
    reason = rules.rejection(
        c,
        standing,
        today=TODAY,
        person_station_id=STATION,
        exposed_ids=exposed,
        avoid_same_station=True,
        person_staff_number="S1",
        person_manager_staff_number=manager,
    )
    assert (reason is None) == (not any(combo))


def test_among_qualifying_peers_the_fewest_open_wins_and_the_others_are_skipped() -> None:
    busy = peer("Busy", open_checkins=5)
    quiet = peer("Quiet", open_checkins=1)
    resting = peer("Resting", open_checkins=0)
    lapsed = peer("Lapsed", open_checkins=0)
    full = peer("Full", open_checkins=0)
    chosen = rules.choose_peer(
        [
            (busy, Standing(open_people=2)),
            (quiet, Standing(open_people=1)),
            (resting, Standing(resting_until=TODAY)),
            (lapsed, Standing(lapses_on=TODAY)),
            (full, Standing(open_people=3, cap=3)),
        ],
        today=TODAY,
        person_id=PERSON,
        person_station_id=STATION,
        exposed_ids=set(),
        avoid_same_station=True,
    )
    assert chosen is not None and chosen.name == "Quiet"


def test_rest_ends_after_its_last_day_and_training_lapses_on_its_day() -> None:
    assert rules.is_resting(TODAY, TODAY) and not rules.is_resting(TODAY - timedelta(days=1), TODAY)
    assert rules.is_lapsed(TODAY, TODAY) and not rules.is_lapsed(TODAY + timedelta(days=1), TODAY)
    assert not rules.is_lapsed(None, TODAY)  # nothing to renew: not lapsed
    assert rules.lapse_date([None, date(2027, 5, 1), date(2027, 1, 1)]) == date(2027, 1, 1)


def test_the_room_under_a_cap_is_carried_so_a_batch_stops_at_the_cap() -> None:
    (fit,) = rules.fit_candidates([(peer("A"), Standing(open_people=6, cap=8))], TODAY)
    assert fit.room == 2
    from trim.followups.rules import choose_peer

    full = [fit.__class__(**{**fit.__dict__, "room": 0})]
    assert (
        choose_peer(full, person_id=PERSON, person_station_id=None, exposed_ids=set(), avoid_same_station=False) is None
    )


@pytest.mark.parametrize(
    ("rejections", "said"),
    [
        ([("Bravo", "at_cap"), ("Bravo", "at_cap")], "every peer at Bravo is at their cap"),
        ([("Bravo", "resting")], "every peer at Bravo is resting"),
        (
            [("Alpha", "same_station"), ("Bravo", "at_cap"), ("Bravo", "lapsed")],
            "every peer at Alpha is at the person's own station; peers at Bravo: 1 training lapsed, 1 at their cap",
        ),
        ([], "there are no active peer supporters"),
    ],
)
def test_the_lead_reads_why_nobody_qualifies(rejections: list[tuple[str, str]], said: str) -> None:
    assert rules.nobody_reason(rejections) == said


@pytest.mark.parametrize(
    ("days_before", "notice"),
    [(61, None), (60, "lapse_soon"), (1, "lapse_soon"), (0, "lapsed"), (-5, "lapsed")],
)
def test_the_lead_is_told_sixty_days_ahead_and_on_the_day(days_before: int, notice: str | None) -> None:
    due = TODAY + timedelta(days=days_before)
    assert rules.lapse_notice_due(due, TODAY, ahead_days=60) == notice
    assert rules.lapse_notice_due(None, TODAY, ahead_days=60) is None


def test_the_message_names_the_date_and_nobody() -> None:
    subject, body = rules.lapse_message("lapse_soon", date(2027, 1, 5))
    assert "5 January 2027" in body and "refresher" in subject


def test_quiet_clock_runs_from_overdue_and_restarts_on_a_move_or_a_contact_attempt() -> None:
    due = datetime(2026, 11, 1, 9, tzinfo=UTC)
    window, quiet = timedelta(days=2), timedelta(days=3)
    overdue_at = due + window
    assert not rules.is_quiet(
        due_at=due,
        window=window,
        started_at=None,
        attempted_at=None,
        quiet=quiet,
        now=overdue_at + quiet - timedelta(seconds=1),
    )
    assert rules.is_quiet(
        due_at=due, window=window, started_at=None, attempted_at=None, quiet=quiet, now=overdue_at + quiet
    )
    tried = overdue_at + timedelta(days=2)
    assert not rules.is_quiet(
        due_at=due, window=window, started_at=None, attempted_at=tried, quiet=quiet, now=overdue_at + quiet
    )
    assert rules.is_quiet(
        due_at=due, window=window, started_at=None, attempted_at=tried, quiet=quiet, now=tried + quiet
    )
    moved = overdue_at + timedelta(days=10)
    assert not rules.is_quiet(
        due_at=due, window=window, started_at=moved, attempted_at=None, quiet=quiet, now=moved + timedelta(days=1)
    )


def test_rest_dates_in_the_past_or_too_far_ahead_are_refused() -> None:
    assert rules.rest_problem(TODAY, today=TODAY, max_days=180) is None
    assert rules.rest_problem(TODAY - timedelta(days=1), today=TODAY, max_days=180)
    assert rules.rest_problem(TODAY + timedelta(days=181), today=TODAY, max_days=180)


def test_supervision_falls_due_after_the_last_one_held_or_after_joining() -> None:
    assert rules.supervision_due(None, since=date(2026, 1, 1), every_days=90) == date(2026, 4, 1)
    assert rules.supervision_due(date(2026, 6, 1), since=date(2026, 1, 1), every_days=90) == date(2026, 8, 30)


@pytest.mark.parametrize(("days_after", "due"), [(0, False), (1, True), (7, True), (8, False), (-3, False)])
def test_a_peer_is_told_from_the_day_after_their_rest_for_a_week(days_after: int, due: bool) -> None:
    assert rules.rest_over_due(TODAY - timedelta(days=days_after), TODAY) is due
    assert rules.rest_over_due(None, TODAY) is False
