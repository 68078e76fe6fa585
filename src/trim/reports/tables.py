"""A report table (rows by columns with their totals), how it is counted and suppressed,
and times over a group shown only over at least k people. Pure."""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trim.dashboard import rules as dashboard_rules
from trim.dashboard.rules import Count, Equation, Shown

TOTAL = "total"

# -- tables -------------------------------------------------------------------------------------

Key = tuple[str, str]  # (row, column)


@dataclass
class Table:
    """One section's counts: rows by columns, with a total row and a total column."""

    id: str
    title: str
    counts: str  # what a cell counts
    rows: list[str]
    columns: list[str]
    row_labels: dict[str, str]
    column_labels: dict[str, str]
    cells: dict[Key, Count]
    note: str = ""
    shown: dict[Key, Shown] = field(default_factory=dict)

    def equations(self) -> list[Equation[Key]]:
        """Each row adds up to its total, each column to its total, and the totals too."""
        rows, columns = [*self.rows, TOTAL], [*self.columns, TOTAL]
        found = [Equation((r, TOTAL), tuple((r, c) for c in self.columns)) for r in rows]
        found += [Equation((TOTAL, c), tuple((r, c) for r in self.rows)) for c in columns]
        return found

    def all_keys(self) -> list[Key]:
        return [(r, c) for r in [*self.rows, TOTAL] for c in [*self.columns, TOTAL]]


@dataclass(frozen=True)
class Timing:
    """A time in hours over a group: median and 90th percentile, hidden under k people."""

    people: int
    median: float | None
    p90: float | None


@dataclass
class TimingTable:
    id: str
    title: str
    rows: list[str]
    row_labels: dict[str, str]
    timings: dict[str, Timing]
    note: str = ""


def build_table(
    *,
    id: str,
    title: str,
    counts: str,
    rows: Sequence[str],
    columns: Sequence[str],
    items: Iterable[tuple[str, str, uuid.UUID | None]],
    row_labels: dict[str, str],
    column_labels: dict[str, str],
    note: str = "",
) -> Table:
    """Count items (row, column, person; person None: an anonymous answer, one person each)
    into a table with its totals; the people behind each cell are counted too."""
    values: dict[Key, int] = {}
    people: dict[Key, set[object]] = {}
    for index, (row, column, person) in enumerate(items):
        who: object = person if person is not None else ("anonymous", index)
        for key in ((row, column), (row, TOTAL), (TOTAL, column), (TOTAL, TOTAL)):
            values[key] = values.get(key, 0) + 1
            people.setdefault(key, set()).add(who)
    table = Table(
        id, title, counts, list(rows), list(columns), row_labels, column_labels, {}, note
    )  # cells filled below, over every key so that zeros are cells too
    table.cells = {key: Count(values.get(key, 0), len(people.get(key, ()))) for key in table.all_keys()}
    return table


def suppress_table(table: Table, k: int) -> None:
    table.shown = dashboard_rules.suppress(table.cells, table.equations(), k)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def timing(hours: Sequence[tuple[uuid.UUID, float]], k: int) -> Timing:
    """Median and 90th percentile over the people behind them; none under k people."""
    people = len({person for person, _ in hours})
    if people < k:
        return Timing(people, None, None)
    values = [value for _, value in hours]
    median = statistics.median(values)
    p90 = percentile(values, 0.9)
    return Timing(people, round(median, 1), None if p90 is None else round(p90, 1))


def hours_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600
