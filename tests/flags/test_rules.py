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
