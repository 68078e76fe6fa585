"""Watchful waiting's pure rules, exhaustive over their small space (no database)."""

from __future__ import annotations

from datetime import date
from itertools import product

import pytest

from trim.flags import rules
from trim.flags.rules import ScheduledCheckin
from trim.followups.models import Outcome

OUTCOMES = [o.value for o in Outcome]


@pytest.mark.parametrize(("outcome", "persistent", "tsq"), list(product(OUTCOMES, [False, True], [False, True])))
def test_the_monitor_checkin_closes_only_when_held_and_nothing_persists(
    outcome: str, persistent: bool, tsq: bool
) -> None:
    verdict = rules.monitor_verdict(outcome=outcome, persistent=persistent, tsq_flagged=tsq)
    if outcome == Outcome.completed:
        assert verdict == ("reopen" if persistent or tsq else "close")
    elif outcome == Outcome.cancelled:
        assert verdict is None  # cancelled with the exposure: nothing was learnt
    else:
        assert verdict == "reopen"  # no news is never "settled": a person decides again


@pytest.mark.parametrize("days", range(0, 40))
def test_the_peer_picks_between_the_bounds(days: int) -> None:
    problem = rules.monitor_days_problem(days, shortest=7, longest=28)
    assert (problem is None) == (7 <= days <= 28)
    if problem:
        assert "7" in problem and "28" in problem


def test_the_monitor_checkin_is_n_days_from_today_counted_from_the_incident() -> None:
    assert rules.monitor_offset(incident_day=date(2026, 11, 1), today=date(2026, 11, 29), days=14) == 42
    assert rules.monitor_offset(incident_day=date(2026, 11, 1), today=date(2026, 11, 1), days=7) == 7


def test_an_extra_checkin_makes_a_run_but_is_never_the_last_scheduled() -> None:
    scheduled = [ScheduledCheckin(3, "completed"), ScheduledCheckin(28, "completed", persistent=True)]
    watched = [*scheduled, ScheduledCheckin(42, "completed", persistent=True, extra=True)]
    assert rules.exposure_flags(scheduled, consecutive=2) == {"elevated_last"}
    # The day-28 persistence and the monitor's make a run; the monitor is not "the last".
    assert rules.exposure_flags(watched, consecutive=2) == {"consecutive_elevated", "elevated_last"}
    settled = [*scheduled, ScheduledCheckin(42, "completed", persistent=False, extra=True)]
    assert rules.exposure_flags(settled, consecutive=2) == {"elevated_last"}
    calm = [ScheduledCheckin(3, "completed"), ScheduledCheckin(28, "completed")]
    assert (
        rules.exposure_flags([*calm, ScheduledCheckin(42, "completed", persistent=True, extra=True)], consecutive=2)
        == set()
    )


def _periodic(*checkins: tuple[str | None, bool]) -> list[tuple[str, ScheduledCheckin]]:
    """Periodic check-ins every 30 days, keyed p0, p1, ...: (outcome, persistent) each."""
    return [(f"p{i}", ScheduledCheckin(30 * i, outcome, persistent=p)) for i, (outcome, p) in enumerate(checkins)]


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # Declining never counts: two (or three) in a row raise nothing.
        ([("declined", False), ("declined", False)], set()),
        ([("declined", False), ("declined", False), ("declined", False)], set()),
        ([("completed", True), ("declined", False)], set()),
        # One persistent check-in alone: a cadence has no "last scheduled" check-in.
        ([("completed", False), ("completed", True)], set()),
        # Two in a row raise once, where the run reaches two; declines between neither break nor make it.
        ([("completed", True), ("completed", True)], {("consecutive_elevated", "p1")}),
        (
            [("completed", True), ("declined", False), ("unreachable", False), ("completed", True)],
            {("consecutive_elevated", "p3")},
        ),
        # A longer run is the same cause, raised once; a new run after a calm one raises again.
        ([("completed", True)] * 3, {("consecutive_elevated", "p1")}),
        (
            [("completed", True), ("completed", True), ("completed", False), ("completed", True), ("completed", True)],
            {("consecutive_elevated", "p1"), ("consecutive_elevated", "p4")},
        ),
        # An open one between waits; a cancelled one is skipped like a decline.
        ([("completed", True), (None, False), ("completed", True)], set()),
        ([("completed", True), ("cancelled", False), ("completed", True)], {("consecutive_elevated", "p2")}),
    ],
)
def test_periodic_flags_never_count_a_decline(
    history: list[tuple[str | None, bool]], expected: set[tuple[str, str]]
) -> None:
    assert rules.periodic_flags(_periodic(*history), consecutive=2) == expected


def test_periodic_tsq_positive_is_keyed_by_its_checkin() -> None:
    checkins = [("a", ScheduledCheckin(0, "completed", tsq_flagged=True)), ("b", ScheduledCheckin(30, "declined"))]
    assert rules.periodic_flags(checkins, consecutive=2) == {("tsq_positive", "a")}
