"""The periodic cadence as pure rules: first due at joining, then every cadence at the same
local time; a person in several groups is seen at the shortest cadence."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from trim.groups import rules

LONDON = ZoneInfo("Europe/London")


def test_first_periodic_checkin_falls_due_when_they_join() -> None:
    joined = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert rules.next_periodic_due(joined_at=joined, last_scheduled_for=None, cadence_days=180, zone=LONDON) == joined


def test_next_periodic_checkin_is_a_cadence_later_at_the_same_local_time() -> None:
    joined = datetime(2026, 1, 10, 9, tzinfo=UTC)  # 09:00 GMT
    nxt = rules.next_periodic_due(joined_at=joined, last_scheduled_for=joined, cadence_days=180, zone=LONDON)
    # 180 days later is in summer time: still 09:00 on the wall clock, 08:00 UTC.
    assert nxt == datetime(2026, 7, 9, 8, tzinfo=UTC)


def test_rejoining_after_the_last_one_starts_again_at_joining() -> None:
    last = datetime(2026, 1, 10, 9, tzinfo=UTC)
    rejoined = datetime(2026, 2, 1, 9, tzinfo=UTC)
    assert (
        rules.next_periodic_due(joined_at=rejoined, last_scheduled_for=last, cadence_days=90, zone=LONDON) == rejoined
    )


@pytest.mark.parametrize(("cadences", "expected"), [([], None), ([180], 180), ([180, 28, 90], 28)])
def test_the_shortest_cadence_wins(cadences: list[int], expected: int | None) -> None:
    assert rules.effective_cadence(cadences) == expected


@pytest.mark.parametrize(
    ("name", "cadence", "field"),
    [
        ("Control room", 180, None),
        ("", 180, "name"),
        ("x" * 81, 180, "name"),
        ("CSI", 6, "cadence_days"),
        ("CSI", 731, "cadence_days"),
        ("CSI", 7, None),
    ],
)
def test_group_definition_problems(name: str, cadence: int, field: str | None) -> None:
    problem = rules.group_problem(name, cadence)
    assert (problem[0] if problem else None) == field
