"""The dashboard's rules: small-number suppression, periods and months, check-in
timeliness, caseload bands. Pure functions of plain values; the clock is passed in.

Suppression, in plain words:

- Every count is kept beside the number of distinct people behind it (the people
  exposed to the incidents counted, the people the check-ins were about, the people
  flagged, referred or asking, the peers in a caseload band).
- A count that describes someone but fewer than k people (k = settings.small_cell_k)
  is shown as "<k". A zero describes no one and is shown.
- Each table's rows and columns add up to totals that are shown too, and a few
  figures add up to others (completed check-ins at an interval appear in two
  figures). Those identities are `Equation`s. A hidden cell must not follow from the
  shown numbers by adding and subtracting them, so further cells are hidden as "*"
  until none does ("complementary suppression"). The test of "follows from" is exact
  linear algebra over all the equations together, so it also covers derivations that
  combine several rows and columns, not only a single subtraction.
- Complements are chosen as statistics offices do it: a hidden cell is safe when it
  lies on a cycle of hidden cells (along its row, across a column, back along
  another row...), so for an exposed cell the cheapest chain of shown cells that
  closes such a cycle is hidden: as few cells as possible, small ones before large,
  inner cells before totals, and zeros last (a hidden zero protects nothing from a
  reader who knows the rule). The exact test above has the last word.
"""

from __future__ import annotations

import calendar
import heapq
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from trim.errors import FieldError, InvalidInput
from trim.followups.models import Outcome
from trim.followups.rules import is_missed

K = TypeVar("K", bound=Hashable)

COMPLEMENT = "*"

Shown = int | str


@dataclass(frozen=True)
class Count:
    """A count and the distinct people behind it.

    `people` may be a bound rather than the exact number (see `margin_people`), but
    always on the same side of k as the exact number, which is all suppression needs."""

    value: int
    people: int


@dataclass(frozen=True)
class Equation(Generic[K]):
    """An identity a reader knows: total = sum of parts (a row or column and its total)."""

    total: K
    parts: tuple[K, ...]

    @property
    def members(self) -> tuple[K, ...]:
        return (self.total, *self.parts)


def small_label(k: int) -> str:
    return f"<{k}"


def is_small(count: Count, k: int) -> bool:
    """Describes someone (or something), but fewer than k people."""
    return count.value > 0 and count.people < k


def margin_people(cell_people: Iterable[int], k: int) -> int | None:
    """People behind a total, from the people behind its cells, when that settles
    which side of k it is on: at least the largest cell, at most their sum. None
    when it does not (all cells under k, their sum k or more): count it exactly."""
    people = list(cell_people)
    largest, total = max(people, default=0), sum(people)
    if largest >= k:
        return largest
    if total < k:
        return total
    return None


# -- which hidden cells can be worked out -------------------------------------------------


def derivable(hidden: Iterable[K], equations: Sequence[Equation[K]]) -> set[K]:
    """The hidden cells whose value follows from the shown ones and the equations.

    Shown cells are constants, so only the hidden ones matter: a hidden cell is
    determined exactly when its unit vector lies in the row space of the equations
    restricted to the hidden cells, i.e. some row of the reduced row echelon form has
    that cell alone. Exact: fraction-free elimination in integers."""
    hidden_set = set(hidden)
    pivots: dict[K, dict[K, int]] = {}
    order: dict[K, int] = {}
    for equation in equations:
        row: dict[K, int] = {}
        for key, coefficient in ((equation.total, 1), *((part, -1) for part in equation.parts)):
            if key in hidden_set:
                row[key] = row.get(key, 0) + coefficient
                order.setdefault(key, len(order))
        row = {key: value for key, value in row.items() if value}
        for pivot in [key for key in row if key in pivots]:
            row = _eliminate(row, pivots[pivot], pivot)
        if not row:
            continue
        pivot = min(row, key=order.__getitem__)
        for key, other in list(pivots.items()):
            if pivot in other:
                pivots[key] = _eliminate(other, row, pivot)
        pivots[pivot] = row
    return {pivot for pivot, row in pivots.items() if len(row) == 1}


def _eliminate(row: dict[K, int], by: dict[K, int], column: K) -> dict[K, int]:
    """`row` with `column` cleared by a multiple of `by`, kept in lowest integer terms."""
    a, b = by[column], row.get(column, 0)
    if not b:
        return row
    result = {key: value * a for key, value in row.items()}
    for key, value in by.items():
        result[key] = result.get(key, 0) - value * b
    result = {key: value for key, value in result.items() if value}
    divisor = math.gcd(*result.values()) if result else 1
    return {key: value // divisor for key, value in result.items()} if divisor > 1 else result


# -- suppression ---------------------------------------------------------------------------


def suppress(cells: Mapping[K, Count], equations: Sequence[Equation[K]], k: int) -> dict[K, Shown]:
    """Every cell as it may be shown: its value, "<k" when it describes fewer than k
    people, or "*" when it is hidden so that no "<k" cell can be worked out."""
    small = {key for key, count in cells.items() if is_small(count, k)}
    hidden = protect(cells, equations, small)
    label = small_label(k)
    return {
        key: label if key in small else COMPLEMENT if key in hidden else count.value for key, count in cells.items()
    }


def protect(cells: Mapping[K, Count], equations: Sequence[Equation[K]], hidden: set[K]) -> set[K]:
    """Hide further cells until no hidden cell can be derived. For a cell that can be,
    hide the cheapest chain of shown cells that closes a cycle through it (a cell sits
    on two lines, its row and its column: a cycle of hidden cells leaves every one of
    them free to move); the exact test then decides whether more is needed."""
    hidden = set(hidden)
    position = {key: index for index, key in enumerate(cells)}
    lines: dict[K, list[int]] = {}
    totals: set[K] = set()
    for index, equation in enumerate(equations):
        totals.add(equation.total)
        for key in equation.members:
            lines.setdefault(key, []).append(index)

    def cost(key: K) -> float:
        # Fewer cells first, then small ones; totals and zeros only when nothing else will do.
        value = cells[key].value if key in cells else 0
        return (10_000 if value == 0 else 1_000 if key in totals else 10) + value

    while True:
        exposed = derivable(hidden, equations)
        if not exposed:
            return hidden
        target = min(exposed, key=lambda key: position.get(key, len(position)))
        chain = _cycle_through(target, equations, lines, hidden, cost)
        if chain:
            hidden |= chain
            continue
        complement = _complement_for(target, cells, equations, lines, totals, hidden, position)
        if complement is None:
            return hidden  # everything linked to it is hidden already
        hidden.add(complement)


def _cycle_through(
    target: K,
    equations: Sequence[Equation[K]],
    lines: Mapping[K, list[int]],
    hidden: set[K],
    cost: Callable[[K], float],
) -> set[K]:
    """The shown cells on the cheapest path joining two of the target's lines through
    other cells (hidden ones are free), i.e. what to hide to put the target on a cycle.
    Empty when the target is on one line only, or the cycle needs nothing new."""
    own = lines.get(target, [])
    if len(own) < 2:
        return set()
    best: tuple[float, set[K]] | None = None
    for start in own:
        goals = set(own) - {start}
        distance = {start: 0.0}
        via: dict[int, tuple[int, K]] = {}
        queue: list[tuple[float, int]] = [(0.0, start)]
        done: set[int] = set()
        while queue:
            spent, line = heapq.heappop(queue)
            if line in done:
                continue
            done.add(line)
            if line in goals:
                chain: set[K] = set()
                while line != start:
                    line, key = via[line]
                    if key not in hidden:
                        chain.add(key)
                if chain and (best is None or spent < best[0]):
                    best = (spent, chain)
                break
            for key in equations[line].members:
                if key == target:
                    continue
                step = 0.0 if key in hidden else cost(key)
                for following in lines[key]:
                    if following != line and spent + step < distance.get(following, float("inf")):
                        distance[following] = spent + step
                        via[following] = (line, key)
                        heapq.heappush(queue, (spent + step, following))
    return best[1] if best else set()


def _complement_for(
    target: K,
    cells: Mapping[K, Count],
    equations: Sequence[Equation[K]],
    lines: Mapping[K, list[int]],
    totals: set[K],
    hidden: set[K],
    position: Mapping[K, int],
) -> K | None:
    """One shown cell to hide for `target` when no cycle helps (a cell on one line only,
    or identities across figures): from its own lines, else lines further out."""
    seen_lines: set[int] = set()
    frontier = set(lines.get(target, []))
    while frontier:
        seen_lines |= frontier
        candidates = {key for index in frontier for key in equations[index].members if key not in hidden}
        if candidates:

            def rank(key: K) -> tuple[bool, bool, int, int]:
                value = cells[key].value if key in cells else 0
                return (value == 0, key in totals, value, position.get(key, len(position)))

            return min(candidates, key=rank)
        frontier = {
            index for i in frontier for key in equations[i].members for index in lines.get(key, [])
        } - seen_lines
    return None


def hidden_like(*shown: Shown) -> str | None:
    """For a figure computed from others (a share from two counts): the marker of the
    first hidden one it depends on, or None when all are shown."""
    return next((value for value in shown if isinstance(value, str)), None)


def share_percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# -- the period and its months ------------------------------------------------------------

MAX_MONTHS = 120


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC


@dataclass(frozen=True)
class Month:
    label: str  # "2026-01", in the organisation's zone
    start: datetime  # UTC, inclusive (the period's start for a partial first month)
    end: datetime  # UTC, exclusive


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant a local day starts."""
    return _local_midnight(day, zone)


def missed_as_of(now: datetime, zone: ZoneInfo) -> datetime:
    """The moment the dashboard's "missed" is counted at: the start of today (local), so
    that two requests on one day give the same figures however the clock moved between."""
    return _local_midnight(now.astimezone(zone).date(), zone)


def _first_of_month(year: int, month: int) -> date:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def snap_to_days(start: datetime, end: datetime, zone: ZoneInfo) -> Period:
    """The whole local days that cover [start, end): start back to its midnight, end on to
    the next midnight (an end already at midnight stays). Periods are whole days so that
    two overlapping requests a few seconds apart cannot single out one incident or person
    (design section 8)."""
    first = start.astimezone(zone).date()
    local_end = end.astimezone(zone)
    last = local_end.date()
    end_day = last if _local_midnight(last, zone) == end else last + timedelta(days=1)
    return Period(_local_midnight(first, zone), _local_midnight(end_day, zone))


def block_of(day: date) -> tuple[date, date]:
    """The block (days 1-7, 8-14, 15-21, 22-28, 29-end of a month) a day is in: its first
    and last day. Between days and months, so that a period starting mid-month reads a
    few blocks and at most six days at each end rather than every day."""
    first = day.replace(day=min(29, 1 + 7 * ((day.day - 1) // 7)))
    month_end = (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, min(first + timedelta(days=6), month_end) if first.day < 29 else month_end


def blocks_within(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole blocks within [first, last] (within one month: the leftovers of whole months), and the days left."""
    whole: list[date] = []
    days: list[tuple[date, date]] = []
    day = first
    while day <= last:
        start, end = block_of(day)
        if start == day and end <= last:
            whole.append(start)
            day = end + timedelta(days=1)
            continue
        stop = min(end, last)
        days.append((day, stop))
        day = stop + timedelta(days=1)
    return whole, days


def period_days(period: Period, zone: ZoneInfo) -> tuple[date, date]:
    """The first and last local day of a whole-day period (both included)."""
    return period.start.astimezone(zone).date(), (period.end - timedelta(microseconds=1)).astimezone(zone).date()


def default_period(now: datetime, zone: ZoneInfo) -> Period:
    """The last 12 months up to today: from the first of the month eleven months back
    (local time) to the end of today, so every month shown is whole but the current one."""
    local = now.astimezone(zone)
    return snap_to_days(_local_midnight(_first_of_month(local.year, local.month - 11), zone), now, zone)


def _parse_bound(text: str, zone: ZoneInfo, *, is_end: bool) -> datetime:
    """A date (the whole local day: its start, or for `to` its end) or a date-time
    (with a zone, or local time when it has none)."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return _local_midnight(day + timedelta(days=1) if is_end else day, zone)
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def period_from(from_text: str | None, to_text: str | None, *, now: datetime, zone: ZoneInfo) -> Period:
    """The period asked for, defaulting each end, snapped to whole local days (a date-time
    counts as its whole day); bad input is a 422 naming the field."""
    default = default_period(now, zone)
    errors: list[FieldError] = []
    bounds: dict[str, datetime] = {}
    for name, text, fallback in (("from", from_text, default.start), ("to", to_text, default.end)):
        if not text or not text.strip():
            bounds[name] = fallback
            continue
        try:
            bounds[name] = _parse_bound(text, zone, is_end=name == "to")
        except (ValueError, OverflowError):
            errors.append(FieldError(name, "Give a date as YYYY-MM-DD (or a date and time)."))
    if not errors and bounds["from"] >= bounds["to"]:
        errors.append(FieldError("to", "The end must come after the start."))
    period = None
    if not errors:
        try:
            period = snap_to_days(bounds["from"], bounds["to"], zone)
        except OverflowError:  # the last day there is has no next midnight
            errors.append(FieldError("to", "Give a date as YYYY-MM-DD (or a date and time)."))
    if period is not None and len(months(period, zone)) > MAX_MONTHS:
        errors.append(FieldError("from", f"Choose at most {MAX_MONTHS // 12} years."))
    if errors or period is None:
        raise InvalidInput("The dashboard filters are not valid: " + errors[0].message, errors)
    return period


def months(period: Period, zone: ZoneInfo) -> list[Month]:
    """The calendar months (in the organisation's zone) the period touches, each cut
    to the period, in order."""
    local = period.start.astimezone(zone)
    year, month = local.year, local.month
    found: list[Month] = []
    while True:
        first = _first_of_month(year, month)
        start = max(_local_midnight(first, zone), period.start)
        if start >= period.end:
            return found
        following = _first_of_month(year, month + 1)
        end = min(_local_midnight(following, zone), period.end)
        found.append(Month(f"{first.year:04d}-{first.month:02d}", start, end))
        year, month = following.year, following.month
        if len(found) > MAX_MONTHS:
            return found


def month_title(label: str) -> str:
    """'2026-01' -> 'Jan 2026'."""
    year, month = label.split("-")
    return f"{calendar.month_abbr[int(month)]} {year}"


# -- check-in timeliness -------------------------------------------------------------------

TIMELINESS = ("on_time", "late", "answered_themselves", "missed", "declined", "unreachable", "not_needed", "pending")
# Held: a conversation took place (or, answered_themselves, the person answered and preferred
# not to talk: scored, but not a conversation, design section 14).
HELD = ("on_time", "late", "answered_themselves")
TIMELINESS_LABELS = {
    "on_time": "On time",
    "late": "Late",
    "answered_themselves": "Answered themselves, no talk",
    "missed": "Missed",
    "declined": "Declined",
    "unreachable": "Unreachable",
    "not_needed": "Not needed",
    "pending": "Still open",
}


def timeliness(
    *,
    due_at: datetime,
    outcome: str | None,
    recorded_at: datetime | None,
    now: datetime,
    window: timedelta,
    grace: timedelta,
    self_completed: bool = False,
) -> str | None:
    """A check-in's dashboard category (None for a cancelled one, which is left out):
    answered themselves = completed from the person's own answers, with no conversation
    (not a conversation held, on time or late); on time = completed before its due window
    closed; late = completed after; missed = still open past the window and the grace
    period (followups' rule); pending = still open, not yet missed."""
    if outcome == Outcome.cancelled:
        return None
    if outcome == Outcome.completed and self_completed:
        return "answered_themselves"
    if outcome == Outcome.completed:
        return "on_time" if recorded_at is not None and recorded_at < due_at + window else "late"
    if outcome in (Outcome.declined, Outcome.unreachable, Outcome.not_needed):
        return outcome
    if outcome is None and is_missed(due_at=due_at, outcome=None, now=now, window=window, grace=grace):
        return "missed"
    return "pending"


# -- peer caseloads ------------------------------------------------------------------------

CASELOAD_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 0, "none"),
    (1, 5, "1-5"),
    (6, 10, "6-10"),
    (11, 20, "11-20"),
    (21, None, "over 20"),
)


def caseload_band(people: int) -> str:
    for low, high, label in CASELOAD_BANDS:
        if people >= low and (high is None or people <= high):
            return label
    return CASELOAD_BANDS[0][2]


def plain_number(value: float | int | str | None) -> float | int | str | None:
    """How the API and the CSV write a value: whole numbers without a fraction (3, not
    3.0); shares and hours keep theirs; markers and None as they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cover(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole months within [first, last] (their first days), and the days left over."""
    whole: list[date] = []
    partial: list[tuple[date, date]] = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        lo, hi = max(month, first), min(following - timedelta(days=1), last)
        if lo == month and hi == following - timedelta(days=1):
            whole.append(month)
        elif partial and partial[-1][1] + timedelta(days=1) == lo:
            partial[-1] = (partial[-1][0], hi)
        else:
            partial.append((lo, hi))
        month = following
    return whole, partial
