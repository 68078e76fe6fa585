"""Suppression, periods, months, timeliness and caseload bands: pure rules, no database.

Two independent readers try to undo the suppression: one who subtracts (any row or
column with one unknown gives it away, repeatedly), and for two-way tables the exact
criterion (a hidden cell is safe only on a cycle of hidden cells)."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.dashboard.checks import subtraction_attack
from trim.dashboard import rollups, rules
from trim.dashboard.figures import ALL, cube_equations, cube_keys
from trim.dashboard.rules import COMPLEMENT, Count, Equation
from trim.errors import InvalidInput
from trim.followups.rules import checkin_status, is_missed

LONDON = ZoneInfo("Europe/London")

# -- helpers: two-way tables with totals ----------------------------------------------------


Key = tuple[int, int]


def two_way(
    inner: Sequence[Sequence[Count]], margin_people: dict[Key, int] | None = None
) -> tuple[dict[Key, Count], list[Equation[Key]]]:
    """A table with a total column (index n), a total row (index m) and a grand total.
    People behind a total: given, or the sum of its cells (everyone distinct)."""
    m, n = len(inner), len(inner[0])
    cells: dict[Key, Count] = {(i, j): inner[i][j] for i in range(m) for j in range(n)}

    def margin(key: Key, members: list[Key]) -> Count:
        value = sum(cells[x].value for x in members)
        people = (margin_people or {}).get(key, sum(cells[x].people for x in members))
        return Count(value, people)

    for i in range(m):
        cells[(i, n)] = margin((i, n), [(i, j) for j in range(n)])
    for j in range(n):
        cells[(m, j)] = margin((m, j), [(i, j) for i in range(m)])
    cells[(m, n)] = margin((m, n), [(i, j) for i in range(m) for j in range(n)])
    equations = [Equation((i, n), tuple((i, j) for j in range(n))) for i in range(m + 1)]
    equations += [Equation((m, j), tuple((i, j) for i in range(m))) for j in range(n + 1)]
    return cells, equations


def on_a_cycle(hidden: set[Key], m: int, n: int) -> set[Key]:
    """Hidden cells of an (m+1)x(n+1) table with totals that lie on a cycle of hidden
    cells (rows and columns as nodes, hidden cells as edges): exactly those that stay
    unknown. A bridge is determined by the totals."""
    safe = set()
    for cell in hidden:
        others = hidden - {cell}
        start, goal = ("r", cell[0]), ("c", cell[1])
        seen, todo = {start}, [start]
        while todo:
            side, index = todo.pop()
            for i, j in others:
                node = ("c", j) if side == "r" and i == index else ("r", i) if side == "c" and j == index else None
                if node is not None and node not in seen:
                    seen.add(node)
                    todo.append(node)
        if goal in seen:
            safe.add(cell)
    return safe


def check(cells: dict[Hashable, Count], equations: list[Equation[Hashable]], k: int) -> dict[Hashable, rules.Shown]:
    shown = rules.suppress(cells, equations, k)
    for key, count in cells.items():
        small = count.value > 0 and count.people < k
        assert (shown[key] == f"<{k}") == small, (key, count, shown[key])
        if not isinstance(shown[key], str):
            assert shown[key] == count.value
    assert subtraction_attack(shown, equations) == set()
    hidden = {key for key, value in shown.items() if isinstance(value, str)}
    assert rules.derivable(hidden, equations) == set()
    return shown


def people(*values: int) -> list[Count]:
    return [Count(v, v) for v in values]


# -- table-driven cases --------------------------------------------------------------------


ONE_WAY_CASES = [
    # cells (value = people), k, expected shown for cells then total
    ((10, 12, 9), 5, (10, 12, 9, 31)),  # nothing small
    ((1, 10, 12), 5, ("<5", COMPLEMENT, 12, 23)),  # the smaller other cell hides the first
    ((1, 2, 20), 5, ("<5", "<5", 20, 23)),  # two small cells protect each other
    ((0, 3, 20), 5, (0, "<5", COMPLEMENT, 23)),  # a zero is shown, and is no complement
    ((0, 0, 0), 5, (0, 0, 0, 0)),  # nothing at all: zeros everywhere
    ((1, 1, 1), 5, ("<5", "<5", "<5", "<5")),  # the total itself is about 3 people
    ((4, 5, 5), 5, ("<5", COMPLEMENT, 5, 14)),  # exactly k people is shown
    ((2, 9, 9), 2, (2, 9, 9, 20)),  # k = 2: two people is enough
]


@pytest.mark.parametrize(("values", "k", "want"), ONE_WAY_CASES)
def test_one_way_table(values: tuple[int, ...], k: int, want: tuple[rules.Shown, ...]) -> None:
    cells: dict[Hashable, Count] = dict(enumerate(people(*values)))
    cells["total"] = Count(sum(values), sum(values))
    shown = check(cells, [Equation("total", tuple(range(len(values))))], k)
    assert tuple(shown.values()) == want


def test_many_check_ins_of_few_people_are_small() -> None:
    # Seven check-ins, but all about two people: it describes two people.
    cells: dict[Hashable, Count] = {"a": Count(7, 2), "b": Count(30, 25), "total": Count(37, 26)}
    shown = check(cells, [Equation("total", ("a", "b"))], 5)
    assert shown == {"a": "<5", "b": COMPLEMENT, "total": 37}


def test_one_small_cell_in_a_two_way_table_hides_a_rectangle() -> None:
    cells, equations = two_way([people(2, 10, 12), people(9, 11, 14), people(20, 30, 40)])
    shown = check(dict(cells), list(equations), 5)
    hidden = {key for key, value in shown.items() if isinstance(value, str)}
    assert shown[(0, 0)] == "<5"
    assert len(hidden) == 4  # (0,0) and three more at the corners of a rectangle
    rows, cols = {i for i, _ in hidden}, {j for _, j in hidden}
    assert len(rows) == len(cols) == 2 and hidden == set(itertools.product(rows, cols))
    assert (3, 3) not in hidden  # the grand total stays


def test_small_cells_in_one_row_hide_its_total_only_if_needed() -> None:
    # A whole row about two people: the row total is small too; its column partners protect it.
    cells, equations = two_way([people(1, 1, 0), people(9, 11, 14), people(20, 30, 40)])
    shown = check(dict(cells), list(equations), 5)
    assert shown[(0, 3)] == "<5" and shown[(0, 2)] == 0


def test_identities_across_figures_are_respected() -> None:
    # Held check-ins appear in two figures: timeliness (on time + late) and score bands.
    cells: dict[Hashable, Count] = {
        "on_time": Count(2, 2),
        "late": Count(20, 20),
        "missed": Count(8, 8),
        "all": Count(30, 30),
        "held": Count(22, 22),
        "elevated": Count(6, 6),
        "not_elevated": Count(16, 16),
    }
    equations: list[Equation[Hashable]] = [
        Equation("all", ("on_time", "late", "missed")),
        Equation("held", ("elevated", "not_elevated")),
        Equation("held", ("on_time", "late")),
    ]
    shown = check(cells, equations, 5)
    assert shown["on_time"] == "<5"
    assert isinstance(shown["held"], str) or isinstance(shown["late"], str)


def test_exact_test_catches_what_single_subtractions_miss() -> None:
    # Two hidden cycles joined by one hidden cell: every row and column hides two cells,
    # yet the joining cell follows from the totals (it is a bridge).
    hidden = {(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 2), (2, 3), (3, 2), (3, 3)}
    cells, equations = two_way([people(*[5] * 4) for _ in range(4)])
    assert on_a_cycle(hidden, 4, 4) == hidden - {(1, 2)}
    assert rules.derivable(hidden, equations) == {(1, 2)}
    assert subtraction_attack({key: "*" if key in hidden else 5 for key in cells}, equations) == set()


def test_hierarchy_of_totals() -> None:
    # Referrals: offered = not consented + consented; consented = its statuses.
    cells: dict[Hashable, Count] = {
        "offered": Count(30, 30),
        "not_consented": Count(8, 8),
        "consented": Count(22, 22),
        "referred": Count(10, 10),
        "taken_up": Count(9, 9),
        "withdrawn": Count(3, 3),
    }
    equations: list[Equation[Hashable]] = [
        Equation("offered", ("not_consented", "consented")),
        Equation("consented", ("referred", "taken_up", "withdrawn")),
    ]
    shown = check(cells, equations, 5)
    assert shown["withdrawn"] == "<5" and shown["offered"] == 30
    assert sum(isinstance(v, str) for v in shown.values()) == 2


@pytest.mark.parametrize(
    ("cells", "k", "want"),
    [
        ([1, 2], 5, 3),  # all under k, sum under k: under k
        ([6, 1], 5, 6),  # one cell at least k: at least k
        ([3, 3], 5, None),  # between: count them
        ([], 5, 0),
    ],
)
def test_margin_people_settles_the_side_of_k(cells: list[int], k: int, want: int | None) -> None:
    assert rules.margin_people(cells, k) == want


# -- exhaustive small tables -------------------------------------------------------------------


def test_every_two_by_two_table_with_small_counts() -> None:
    for values in itertools.product(range(5), repeat=4):
        inner = [people(values[0], values[1]), people(values[2], values[3])]
        cells, equations = two_way(inner)
        shown = check(dict(cells), list(equations), 3)
        hidden = {key for key, value in shown.items() if isinstance(value, str)}
        assert on_a_cycle(hidden, 2, 2) == hidden, (values, shown)


def test_every_one_way_table_of_three() -> None:
    for values in itertools.product(range(7), repeat=3):
        cells: dict[Hashable, Count] = dict(enumerate(people(*values)))
        cells["total"] = Count(sum(values), sum(values))
        check(cells, [Equation("total", (0, 1, 2))], 4)


# -- properties ----------------------------------------------------------------------------------


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[Count]], dict[Key, int], int]:
    m, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    inner = []
    for _ in range(m):
        row = []
        for _ in range(n):
            value = draw(st.integers(0, 14))
            row.append(Count(value, draw(st.integers(min(value, 1), value)) if value else 0))
        inner.append(row)
    # People behind a total: between its largest cell and the sum (people can repeat).
    margins: dict[Key, int] = {}
    groups: dict[Key, list[Count]] = {(i, n): inner[i] for i in range(m)}
    groups.update({(m, j): [inner[i][j] for i in range(m)] for j in range(n)})
    groups[(m, n)] = [c for row in inner for c in row]
    for key, members in groups.items():
        low, high = max(c.people for c in members), sum(c.people for c in members)
        margins[key] = draw(st.integers(low, high))
    return inner, margins, draw(st.integers(2, 6))


@settings(max_examples=300, deadline=None)
@given(tables())
def test_no_hidden_cell_can_be_worked_out(table: tuple[list[list[Count]], dict[Key, int], int]) -> None:
    inner, margins, k = table
    cells, equations = two_way(inner, margins)
    shown = check(dict(cells), list(equations), k)
    hidden = {key for key, value in shown.items() if isinstance(value, str)}
    assert on_a_cycle(hidden, len(inner), len(inner[0])) == hidden


@settings(max_examples=100, deadline=None)
@given(tables(), tables())
def test_linked_tables_stay_protected(
    first: tuple[list[list[Count]], dict[Key, int], int], second: tuple[list[list[Count]], dict[Key, int], int]
) -> None:
    """Two tables and an identity between them (a total in one is two cells of the other)."""
    a, a_eq = two_way(first[0], first[1])
    b, b_eq = two_way(second[0], second[1])
    cells: dict[Hashable, Count] = {("a", *key): c for key, c in a.items()}
    cells.update({("b", *key): c for key, c in b.items()})
    equations: list[Equation[Hashable]] = [
        Equation(("a", *e.total), tuple(("a", *p) for p in e.parts)) for e in a_eq
    ] + [Equation(("b", *e.total), tuple(("b", *p) for p in e.parts)) for e in b_eq]
    m, n = len(first[0]), len(first[0][0])
    cells[("link",)] = Count(cells[("a", 0, 0)].value + cells[("a", 0, n)].value, cells[("a", m, n)].people)
    equations.append(Equation(("link",), (("a", 0, 0), ("a", 0, n))))
    check(cells, equations, min(first[2], second[2]))


# -- cubes ---------------------------------------------------------------------------------------


def test_cube_keys_and_equations() -> None:
    finest, totals = cube_keys([["a", "b"], ["x", "y"]], [{ALL: ["a", "b"]}, {ALL: ["x", "y"]}])
    assert finest == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert [key for key, _ in totals] == [("a", ALL), ("b", ALL), (ALL, "x"), (ALL, "y"), (ALL, ALL)]
    assert dict(totals)[(ALL, ALL)] == finest
    equations = cube_equations([["a", "b"], ["x", "y"]], [{ALL: ["a", "b"]}, {ALL: ["x", "y"]}])
    assert Equation(("a", ALL), (("a", "x"), ("a", "y"))) in equations
    assert Equation((ALL, ALL), ((ALL, "x"), (ALL, "y"))) in equations
    assert Equation((ALL, ALL), (("a", ALL), ("b", ALL))) in equations
    assert len(equations) == 6


# -- periods and months ------------------------------------------------------------------------


def test_default_period_covers_twelve_months_to_the_end_of_today() -> None:
    now = datetime(2026, 7, 15, 10, 30, tzinfo=UTC)
    period = rules.default_period(now, LONDON)
    end_of_today = datetime(2026, 7, 16, 0, 0, tzinfo=LONDON).astimezone(UTC)
    assert period == rules.Period(datetime(2025, 8, 1, 0, 0, tzinfo=LONDON).astimezone(UTC), end_of_today)
    labels = [m.label for m in rules.months(period, LONDON)]
    assert labels[0] == "2025-08" and labels[-1] == "2026-07" and len(labels) == 12


MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(first=MOMENTS, second=MOMENTS, nudge=st.integers(min_value=0, max_value=86_399))
@settings(max_examples=300, deadline=None)
def test_snapped_periods_are_whole_local_days_that_cover_what_was_asked(
    first: datetime, second: datetime, nudge: int
) -> None:
    start, end = sorted((first, second))
    if start == end:
        end += timedelta(seconds=1)
    period = rules.snap_to_days(start, end, LONDON)
    assert period.start <= start and end <= period.end
    for bound in (period.start, period.end):
        assert bound.astimezone(LONDON).time() == datetime.min.time()
    # Moving either end within its local day changes nothing: seconds cannot single anyone out.
    same_day_start = datetime.combine(start.astimezone(LONDON).date(), datetime.min.time(), LONDON)
    moved = min(same_day_start + timedelta(seconds=nudge), end - timedelta(microseconds=1))
    if moved.astimezone(LONDON).date() == start.astimezone(LONDON).date():
        assert rules.snap_to_days(moved, end, LONDON) == period
    first_day, last_day = rules.period_days(period, LONDON)
    assert first_day == start.astimezone(LONDON).date()
    assert last_day == (end - timedelta(microseconds=1)).astimezone(LONDON).date()


def test_months_follow_local_time_across_daylight_saving() -> None:
    period = rules.Period(datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC))
    found = rules.months(period, LONDON)
    assert [m.label for m in found] == ["2026-02", "2026-03", "2026-04"]
    assert found[0].start == period.start  # cut to the period
    assert found[1].start == datetime(2026, 3, 1, tzinfo=UTC)  # GMT
    assert found[1].end == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)  # April starts at 00:00 BST
    assert found[2].end == period.end
    assert rules.month_title("2026-03") == "Mar 2026"


@pytest.mark.parametrize(
    ("from_text", "to_text", "start", "end"),
    [
        ("2026-06-01", "2026-06-30", datetime(2026, 5, 31, 23, tzinfo=UTC), datetime(2026, 6, 30, 23, tzinfo=UTC)),
        # A date-time counts as its whole local day; the default end is the end of today.
        ("2026-01-10T08:00:00Z", None, datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
        # A date-time without a zone is local time; a date as the end means the whole day.
        ("2026-07-01T09:00", "2026-07-02", datetime(2026, 6, 30, 23, tzinfo=UTC), datetime(2026, 7, 2, 23, tzinfo=UTC)),
        # 00:30 BST on 1 July is still 30 June in UTC: the local day is what counts.
        (
            "2026-06-30T23:30:00Z",
            "2026-07-01T00:40:00+01:00",
            datetime(2026, 6, 30, 23, tzinfo=UTC),
            datetime(2026, 7, 1, 23, tzinfo=UTC),
        ),
        # An end at a local midnight is already a whole day.
        ("2026-03-01", "2026-03-02T00:00:00Z", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)),
        # Hours apart on one day still give the whole day.
        (
            "2026-03-04T10:00:01Z",
            "2026-03-04T10:00:05Z",
            datetime(2026, 3, 4, tzinfo=UTC),
            datetime(2026, 3, 5, tzinfo=UTC),
        ),
    ],
)
def test_periods_from_text_are_whole_local_days(
    from_text: str, to_text: str | None, start: datetime, end: datetime
) -> None:
    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    assert rules.period_from(from_text, to_text, now=now, zone=LONDON) == rules.Period(start, end)


@pytest.mark.parametrize(
    ("from_text", "to_text", "field"),
    [
        ("soon", None, "from"),
        (None, "2026-02-30", "to"),
        ("2026-05-02", "2026-05-01", "to"),
        ("2026-05-02T12:00", "2026-05-02T10:00", "to"),  # asked backwards, even within one day
        (None, "9999-12-31", "to"),
        ("2010-01-01", None, "from"),
    ],
)
def test_bad_periods_name_the_field(from_text: str | None, to_text: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        rules.period_from(from_text, to_text, now=datetime(2026, 11, 2, tzinfo=UTC), zone=LONDON)
    assert field in caught.value.field_messages()


# -- timeliness -----------------------------------------------------------------------------------

DUE = datetime(2026, 3, 10, 9, tzinfo=UTC)
WINDOW, GRACE = timedelta(days=2), timedelta(days=7)


@pytest.mark.parametrize(
    ("outcome", "recorded_after_due", "now_after_due", "want"),
    [
        ("completed", timedelta(hours=-3), timedelta(days=30), "on_time"),  # a little early is on time
        ("completed", timedelta(days=2) - timedelta(seconds=1), timedelta(days=30), "on_time"),
        ("completed", timedelta(days=2), timedelta(days=30), "late"),  # the window has closed
        ("completed", timedelta(days=20), timedelta(days=30), "late"),
        ("declined", timedelta(days=20), timedelta(days=30), "declined"),
        ("unreachable", timedelta(days=1), timedelta(days=30), "unreachable"),
        ("not_needed", timedelta(days=1), timedelta(days=30), "not_needed"),
        ("cancelled", timedelta(days=1), timedelta(days=30), None),
        (None, None, timedelta(days=-1), "pending"),  # upcoming
        (None, None, timedelta(days=1), "pending"),  # due
        (None, None, timedelta(days=8), "pending"),  # overdue, within the grace period
        (None, None, timedelta(days=9), "missed"),  # window and grace both passed
    ],
)
def test_timeliness(
    outcome: str | None, recorded_after_due: timedelta | None, now_after_due: timedelta, want: str | None
) -> None:
    recorded = DUE + recorded_after_due if recorded_after_due is not None else None
    now = DUE + now_after_due
    got = rules.timeliness(due_at=DUE, outcome=outcome, recorded_at=recorded, now=now, window=WINDOW, grace=GRACE)
    assert got == want
    # The same as the schedule's own rules: "missed" only ever for what is overdue.
    status = checkin_status(due_at=DUE, outcome=outcome, now=now, window=WINDOW)
    if got == "missed":
        assert status == "overdue" and is_missed(due_at=DUE, outcome=outcome, now=now, window=WINDOW, grace=GRACE)
    if got == "pending":
        assert status in ("upcoming", "due", "overdue")


@pytest.mark.parametrize(
    ("people_count", "band"), [(0, "none"), (1, "1-5"), (5, "1-5"), (6, "6-10"), (20, "11-20"), (21, "over 20")]
)
def test_caseload_bands(people_count: int, band: str) -> None:
    assert rules.caseload_band(people_count) == band


def test_hidden_like_and_share() -> None:
    assert rules.hidden_like(3, "<5", "*") == "<5"
    assert rules.hidden_like(3, 4) is None
    assert rules.share_percent(1, 3) == 33.3
    assert rules.share_percent(0, 0) is None


@pytest.mark.parametrize(
    ("recorded_after_due", "want"),
    [(timedelta(hours=1), "answered_themselves"), (timedelta(days=20), "answered_themselves")],
)
def test_a_checkin_answered_themselves_without_a_talk_is_not_a_conversation_held(
    recorded_after_due: timedelta, want: str
) -> None:
    now = DUE + timedelta(days=30)
    got = rules.timeliness(
        due_at=DUE,
        outcome="completed",
        recorded_at=DUE + recorded_after_due,
        now=now,
        window=WINDOW,
        grace=GRACE,
        self_completed=True,
    )
    assert got == want
    assert got not in ("on_time", "late")
    # The rollups' stored category says the same (they leave only the clock for later).
    assert rollups.category_of("completed", DUE + recorded_after_due, DUE, WINDOW, True) == want
    assert rollups.category_of("completed", DUE + timedelta(hours=1), DUE, WINDOW, False) == "on_time"
