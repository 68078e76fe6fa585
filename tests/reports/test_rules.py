"""The report's pure rules: the period, suppression of a table against its own sums,
and rare kinds grouped as "other"."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dashboard.checks import subtraction_attack
from trim.dashboard.rules import Count, derivable
from trim.errors import InvalidInput
from trim.reports.period import period_title, previous_quarter, quarter_period, report_period
from trim.reports.rules import (
    CONTEXTS,
    QUESTIONS,
    SCALE,
    FeedbackRecord,
    IncidentRecord,
    grouped_kinds,
    links,
    referral_stage,
    report_equations,
    suppress_together,
)
from trim.reports.tables import TOTAL, Table, build_table, suppress_table, timing

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("quarter", "start", "end"),
    [
        # Q4: BST ends in October, so the first of October is 23:00 UTC the day before.
        ("2026Q4", datetime(2026, 9, 30, 23, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("2026q1", datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(2026, 3, 31, 23, 0, tzinfo=UTC)),
        (" 2026-Q2 ", datetime(2026, 3, 31, 23, 0, tzinfo=UTC), datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
    ],
)
def test_a_quarter_is_its_three_whole_months_in_the_organisations_zone(
    quarter: str, start: datetime, end: datetime
) -> None:
    period = quarter_period(quarter, LONDON)
    assert (period.start, period.end) == (start, end)


def test_a_month_range_includes_both_months_and_the_default_is_the_last_whole_quarter() -> None:
    period = report_period(quarter=None, from_month="2026-02", to_month="2026-02", now=NOW, zone=LONDON)
    assert period_title(period, LONDON) == "February 2026"
    wide = report_period(quarter=None, from_month="2025-11", to_month="2026-04", now=NOW, zone=LONDON)
    assert period_title(wide, LONDON) == "November 2025 to April 2026"
    assert previous_quarter(NOW, LONDON) == "2026Q4"
    assert previous_quarter(datetime(2026, 8, 1, tzinfo=UTC), LONDON) == "2026Q2"
    default = report_period(quarter=None, from_month=None, to_month=None, now=NOW, zone=LONDON)
    assert default == quarter_period("2026Q4", LONDON)


@pytest.mark.parametrize(
    ("quarter", "from_month", "to_month", "field"),
    [
        ("2026Q5", None, None, "quarter"),
        ("Q4", None, None, "quarter"),
        ("0000Q1", None, None, "quarter"),
        ("٢٠٢٦Q1", None, None, "quarter"),
        (None, "2026-01", "9999-12", "to"),
        (None, "2026-13", "2026-12", "from"),
        (None, "2026-05", None, "to"),
        (None, "2026-05", "2026-01", "to"),
        (None, "2020-01", "2026-01", "from"),
    ],
)
def test_a_period_that_is_not_one_names_the_field(
    quarter: str | None, from_month: str | None, to_month: str | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        report_period(quarter=quarter, from_month=from_month, to_month=to_month, now=NOW, zone=LONDON)
    assert caught.value.errors[0].field == field


def test_a_flags_referral_stage_is_its_furthest() -> None:
    assert referral_stage([]) is None
    assert referral_stage(["withdrawn", "taken_up"]) == "taken_up"
    assert referral_stage(["contact_made", "closed"]) == "waiting"
    assert referral_stage(["not_taken_up"]) == "not_taken_up"


def test_a_time_is_shown_only_over_k_people() -> None:
    people = [uuid.uuid4() for _ in range(4)]
    assert timing([(people[0], 5.0), (people[0], 7.0), (people[1], 9.0)], 3).median is None
    found = timing([(p, float(h)) for p, h in zip(people, (1, 2, 3, 10), strict=True)], 3)
    assert (found.median, found.p90) == (2.5, 7.9)


def test_rare_kinds_are_grouped_as_other() -> None:
    people = [uuid.uuid4() for _ in range(12)]
    when = datetime(2026, 10, 5, tzinfo=UTC)
    rescue, child, suicide = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    incidents = [
        IncidentRecord(rescue, when, "difficult_rescue", None),
        IncidentRecord(child, when, "child_death", None),
        IncidentRecord(suicide, when, "suicide", None),
    ]
    exposed = {rescue: set(people[:10]), child: set(people[:2]), suicide: {people[11]}}
    assert grouped_kinds(incidents, exposed, 10) == {
        "difficult_rescue": "difficult_rescue",
        "child_death": "other",
        "suicide": "other",
    }


ROWS, COLUMNS = ["2026-10", "2026-11", "2026-12"], ["a", "b", "c", "d"]
PEOPLE = [uuid.UUID(int=n) for n in range(1, 40)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ROWS), st.sampled_from(COLUMNS), st.sampled_from(PEOPLE)), min_size=0, max_size=80
    ),
    st.integers(min_value=2, max_value=12),
)
def test_no_cell_under_k_is_shown_and_none_can_be_worked_out(items: list[tuple[str, str, uuid.UUID]], k: int) -> None:
    table = build_table(
        id="t",
        title="t",
        counts="things",
        rows=ROWS,
        columns=COLUMNS,
        items=items,
        row_labels={},
        column_labels={},
    )
    suppress_table(table, k)
    for key, count in table.cells.items():
        # Counted right, totals included.
        r, c = key
        chosen = [i for i in items if r in (TOTAL, i[0]) and c in (TOTAL, i[1])]
        assert count == Count(len(chosen), len({i[2] for i in chosen}))
        if count.value > 0 and count.people < k:
            assert table.shown[key] == f"<{k}"
        elif not isinstance(table.shown[key], str):
            assert table.shown[key] == count.value
    equations = table.equations()
    # The report's own equations: a row or column with exactly one hidden cell gives it away.
    for equation in equations:
        assert sum(isinstance(table.shown[m], str) for m in equation.members) != 1, equation
    hidden = {key for key, value in table.shown.items() if isinstance(value, str)}
    assert derivable(hidden, equations) == set()
    assert subtraction_attack(table.shown, equations) == set()  # type: ignore[arg-type]


def _feedback_tables(records: list[FeedbackRecord]) -> list[Table]:
    return [
        build_table(
            id=f"feedback_{question}",
            title=question,
            counts="answers",
            rows=list(CONTEXTS),
            columns=SCALE,
            items=[(f.context, str(getattr(f, question)), None) for f in records],
            row_labels={},
            column_labels={},
        )
        for question in QUESTIONS
    ]


def test_tables_that_share_a_figure_are_suppressed_together() -> None:
    # Every answer answers all three questions, so the three tables' row totals are the same
    # numbers: one table's hidden total can be read off another's.
    rng = random.Random(32)
    records = [
        FeedbackRecord(rng.choice(["request", "checkins"]), date(2026, 10, 1), *(rng.randint(1, 5) for _ in range(3)))
        for _ in range(rng.randint(3, 25))
    ]
    alone = _feedback_tables(records)
    for table in alone:
        suppress_table(table, 3)
    every = {(t.id, *key): value for t in alone for key, value in t.shown.items()}
    hidden = {key for key, value in every.items() if isinstance(value, str)}
    assert derivable(hidden, report_equations(alone, links(alone)))  # table by table leaks

    together = _feedback_tables(records)
    suppress_together(together, links(together), 3)
    every = {(t.id, *key): value for t in together for key, value in t.shown.items()}
    hidden = {key for key, value in every.items() if isinstance(value, str)}
    assert derivable(hidden, report_equations(together, links(together))) == set()
    for table in together:
        for key, count in table.cells.items():
            if 0 < count.people < 3:
                assert table.shown[key] == "<3"
