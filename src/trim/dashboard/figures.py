"""The dashboard's figures: what each one counts and who is behind it, and how counts
from the database become rows a person may read (suppressed together, in one pass,
because some figures add up to parts of others)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import product

from trim.dashboard import rules
from trim.dashboard.rules import Count, Equation, Shown

ALL = "all"

Value = int | float | str | None  # a number, "<k", "*", or None where nothing was measured


@dataclass(frozen=True)
class Cube:
    """Counts over some dimensions, finest cells and totals (ALL, or a named group of
    values), before suppression, with the equations that tie totals to their parts."""

    dims: tuple[str, ...]
    cells: dict[tuple[str, ...], Count]
    equations: list[Equation[tuple[str, ...]]]


Shape = tuple[tuple[tuple[str, ...], ...], tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]]


def _shape(domains: Sequence[Sequence[str]], groups: Sequence[Mapping[str, Sequence[str]]]) -> Shape:
    """A cube's domains and groups as a hashable value (every request asks for the same few)."""
    return (
        tuple(tuple(domain) for domain in domains),
        tuple(tuple((name, tuple(part)) for name, part in group.items()) for group in groups),
    )


@lru_cache(maxsize=512)
def _keys(
    shape: Shape,
) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[tuple[str, ...], tuple[tuple[str, ...], ...]], ...]]:
    domains = shape[0]
    groups = [dict(group) for group in shape[1]]
    finest = list(product(*domains))
    finest_set = set(finest)
    choices = [list(domain) + list(group) for domain, group in zip(domains, groups, strict=True)]
    totals = []
    for key in product(*choices):
        if key in finest_set:
            continue
        members = tuple(
            cell
            for cell in finest
            if all(
                part == value if part not in group else value in group[part]
                for part, value, group in zip(key, cell, groups, strict=True)
            )
        )
        totals.append((key, members))
    return tuple(finest), tuple(totals)


def cube_keys(
    domains: Sequence[Sequence[str]], groups: Sequence[Mapping[str, Sequence[str]]]
) -> tuple[list[tuple[str, ...]], list[tuple[tuple[str, ...], list[tuple[str, ...]]]]]:
    """The finest keys, and every total with the finest keys it adds up. Worked out once
    per shape: the dashboard asks for the same few cubes on every request."""
    finest, totals = _keys(_shape(domains, groups))
    return list(finest), [(key, list(members)) for key, members in totals]


@lru_cache(maxsize=512)
def _equations(shape: Shape) -> tuple[Equation[tuple[str, ...]], ...]:
    groups = [dict(group) for group in shape[1]]
    _, totals = _keys(shape)
    equations = []
    for key, _members in totals:
        for axis, part in enumerate(key):
            if part in groups[axis]:
                parts = tuple((*key[:axis], value, *key[axis + 1 :]) for value in groups[axis][part])
                equations.append(Equation(key, parts))
    return tuple(equations)


def cube_equations(
    domains: Sequence[Sequence[str]], groups: Sequence[Mapping[str, Sequence[str]]]
) -> list[Equation[tuple[str, ...]]]:
    """For every total and every dimension it totals over: total = sum of the cells
    one level down along that dimension (rows, columns, and totals of totals)."""
    return list(_equations(_shape(domains, groups)))


@dataclass(frozen=True)
class Stat:
    """Median and 90th percentile of a time, in hours, over a group of people."""

    median: float | None
    p90: float | None
    people: int


@dataclass
class Row:
    dims: dict[str, str]
    values: dict[str, Value]


@dataclass
class Figure:
    id: str
    title: str
    counts: str  # what its counts count
    people: str  # who "the people behind it" are, for suppression
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    note: str = ""

    def value(self, measure: str, **dims: str) -> Value:
        for row in self.rows:
            if all(row.dims.get(name) == value for name, value in dims.items()):
                return row.values.get(measure)
        raise KeyError((measure, dims))


FIGURES: dict[str, tuple[str, str, str, str]] = {
    # id: (title, what the counts count, who the people behind them are, note)
    "incidents_by_month_kind": (
        "Incidents by month and kind",
        "incidents",
        "the people exposed to those incidents",
        "An incident is counted in the month it happened (organisation's time zone).",
    ),
    "people_exposed": (
        "People exposed",
        "people and exposures (one person at one incident)",
        "the people exposed",
        "A person exposed to several incidents is one person but several exposures; "
        "so people by kind of exposure can add up to more than the total.",
    ),
    "checkin_timeliness": (
        "Check-ins: on time, late, missed, declined",
        "check-ins",
        "the people the check-ins are about",
        "On time: held before the due window closed. Late: held after. Missed: still open after the "
        "window and the grace period. Still open: not yet missed. Answered themselves, no talk: the person "
        "answered the questions themselves and preferred not to talk, so no conversation was held. "
        "Cancelled check-ins are left out.",
    ),
    "periodic_checkins": (
        "Periodic check-ins (high-exposure roles)",
        "periodic check-ins",
        "the people the check-ins are about",
        "Periodic check-ins have no incident: they are counted apart from the check-ins after incidents, by "
        "the month they were due and the person's current station, and not at all when a kind of incident is "
        "chosen. The same categories as above.",
    ),
    "first_contact": (
        "Time from incident to first contact",
        "exposures with a first contact",
        "the people contacted",
        "First contact: the first check-in held or declined, or a request for a peer accepted after the "
        "incident. Hours; median and 90th percentile. Exposures with no contact yet are not included.",
    ),
    "score_bands": (
        "Risk indicator scores over time",
        "check-ins held",
        "the people the check-ins are about",
        "The share of check-ins held whose risk indicator score was elevated, by interval and by the month "
        "of the incident. Check-ins the person answered themselves without a talk are scored, so they are "
        "counted here too.",
    ),
    "flags": (
        "Flags by cause and outcome",
        "flags",
        "the people flagged",
        "Flags not tied to an incident (several incidents in a short time; a safety concern raised when "
        "asking for a peer; anything raised at a periodic check-in) are counted by the date raised and the "
        "person's current station, and left out when a kind of incident is chosen.",
    ),
    "referrals": (
        "Referrals offered, consented, taken up",
        "referrals",
        "the people referred",
        "Offered: every referral discussed. Consented: the person agreed; then its latest status. "
        "Referrals not tied to an incident are counted by the date offered and the person's current station.",
    ),
    "requests": (
        "Requests for a peer",
        "requests",
        "the people asking",
        "Requests have no incident: they are counted by the date asked and the station the person was at "
        "when they asked; the kind of incident does not apply to them. Hours to acceptance: median and "
        "90th percentile over accepted requests.",
    ),
    "peer_caseloads": (
        "Peer supporters' caseloads",
        "peer supporters",
        "the peer supporters",
        "How many people each active peer supporter has an open check-in with, from incidents in the "
        "chosen range; counts of peers only, no names.",
    ),
    "planning": (
        "Planning meetings held on time",
        "incidents",
        "the people exposed to those incidents",
        "On time: a planning meeting recorded within the planning window (TRIM_PLANNING_DUE_HOURS, 48 hours "
        "by default) of the incident; late: recorded after it; not held: none recorded yet.",
    ),
    "planning_routes": (
        "Routes chosen at planning meetings",
        "people on incidents with a planning meeting (one person at one incident)",
        "the people exposed",
        "Risk assessment is the default: the check-ins logging scheduled. Briefing only and no action "
        "cancel the person's check-ins; they can still ask for a peer at any time.",
    ),
    "briefings": (
        "Group briefings",
        "briefings held",
        "the people who came",
        "Briefings about the period's incidents, by the month of the incident. A briefing records only the "
        "date, who led it and who came.",
    ),
}


def new_figure(figure_id: str, dimensions: tuple[str, ...], measures: tuple[str, ...]) -> Figure:
    title, counts, people, note = FIGURES[figure_id]
    return Figure(figure_id, title, counts, people, dimensions, measures, note=note)


CellKey = tuple[str, tuple[str, ...], str]  # (figure id, dimension values, measure)


class Ledger:
    """Every count on the dashboard and every identity between them, suppressed together."""

    def __init__(self) -> None:
        self.cells: dict[CellKey, Count] = {}
        self.equations: list[Equation[CellKey]] = []
        self.shown: dict[CellKey, Shown] = {}

    def add_cube(
        self, figure_id: str, cube: Cube, place: Callable[[tuple[str, ...]], tuple[tuple[str, ...], str]]
    ) -> None:
        """Put a cube's cells on the ledger; `place` maps a cube key to (row dims, measure)."""

        def key(cube_key: tuple[str, ...]) -> CellKey:
            dims, measure = place(cube_key)
            return (figure_id, dims, measure)

        for cube_key, count in cube.cells.items():
            self.cells[key(cube_key)] = count
        for equation in cube.equations:
            self.equations.append(Equation(key(equation.total), tuple(key(p) for p in equation.parts)))

    def link(self, total: CellKey, parts: Sequence[CellKey]) -> None:
        """An identity between figures a reader could use."""
        self.equations.append(Equation(total, tuple(parts)))

    def settle(self, k: int) -> None:
        self.shown = suppress_by_component(self.cells, self.equations, k)

    def get(self, figure_id: str, dims: tuple[str, ...], measure: str) -> Shown:
        return self.shown[(figure_id, dims, measure)]


def suppress_by_component(
    cells: Mapping[CellKey, Count], equations: Sequence[Equation[CellKey]], k: int
) -> dict[CellKey, Shown]:
    """`rules.suppress` on each group of cells linked by equations (the same answer as
    on the whole, since unlinked groups cannot tell anything about each other; faster)."""
    parent: dict[Hashable, Hashable] = {key: key for key in cells}

    def find(key: Hashable) -> Hashable:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for equation in equations:
        first = find(equation.total)
        for part in equation.parts:
            root = find(part)
            if root != first:
                parent[root] = first
    groups: dict[Hashable, list[CellKey]] = {}
    for key in cells:
        groups.setdefault(find(key), []).append(key)
    owner = {key: root for root, keys in groups.items() for key in keys}
    by_group: dict[Hashable, list[Equation[CellKey]]] = {}
    for equation in equations:
        by_group.setdefault(owner[equation.total], []).append(equation)
    shown: dict[CellKey, Shown] = {}
    for root, keys in groups.items():
        shown.update(rules.suppress({key: cells[key] for key in keys}, by_group.get(root, []), k))
    return shown


def stat_values(stat: Stat | None, k: int) -> tuple[Value, Value]:
    """A median and 90th percentile, or "<k" for both when fewer than k people are behind them."""
    if stat is None or stat.median is None:
        return None, None
    if stat.people < k:
        label = rules.small_label(k)
        return label, label
    return round(stat.median, 1), round(stat.p90 if stat.p90 is not None else stat.median, 1)


@dataclass
class Dashboard:
    """Every figure for one choice of filters, as the lead may see it."""

    period: rules.Period
    station_id: str | None
    kind: str | None
    k: int
    timezone: str
    generated_at: datetime
    months: list[rules.Month]
    intervals: list[str]
    figures: dict[str, Figure]
    # What the figures were made from, for checking: raw counts, identities, statistics.
    ledger: Ledger
    stats: dict[tuple[str, str], Stat]
    # The check-in figures come from rollups brought up to date at this time (None:
    # counted live), and whether changes made since wait for the next refresh.
    figures_as_of: datetime | None = None
    changes_waiting: bool = False
    # The figures (ids) read from rollups rather than counted live.
    from_rollups: frozenset[str] = frozenset()

    def figure(self, figure_id: str) -> Figure:
        return self.figures[figure_id]


def figure_rows(
    ledger: Ledger,
    *,
    k: int,
    months: list[str],
    kinds: list[str],
    intervals: list[str],
    contact_stats: Mapping[str, Stat],
    acceptance: Mapping[str, Stat],
    cubes: Mapping[str, Cube],
) -> dict[str, Figure]:
    """Rows of every figure, in reading order, with the values the ledger lets us show."""
    figures: dict[str, Figure] = {}

    def simple(figure_id: str, dimensions: tuple[str, ...], measures: tuple[str, ...]) -> Figure:
        fig = new_figure(figure_id, dimensions, measures)
        for key in cubes[figure_id].cells:
            values = {m: ledger.get(figure_id, key, m) for m in measures}
            fig.rows.append(Row(dict(zip(dimensions, key, strict=True)), dict(values)))
        return fig

    figures["incidents_by_month_kind"] = fig = new_figure("incidents_by_month_kind", ("month", "kind"), ("incidents",))
    for month in [*months, ALL]:
        for kind in [*kinds, ALL]:
            key = (month, kind)
            if ("incidents_by_month_kind", key, "incidents") in ledger.shown:
                fig.rows.append(
                    Row({"month": month, "kind": kind}, {"incidents": ledger.get(fig.id, key, "incidents")})
                )
    figures["people_exposed"] = simple("people_exposed", ("exposure",), ("people", "exposures"))
    figures["checkin_timeliness"] = simple("checkin_timeliness", ("interval", "timeliness"), ("checkins",))
    figures["periodic_checkins"] = simple("periodic_checkins", ("month", "timeliness"), ("checkins",))

    figures["first_contact"] = fig = new_figure("first_contact", ("month",), ("contacted", "median_hours", "p90_hours"))
    for month in [*months, ALL]:
        median, p90 = stat_values(contact_stats.get(month), k)
        fig.rows.append(
            Row(
                {"month": month},
                {"contacted": ledger.get(fig.id, (month,), "contacted"), "median_hours": median, "p90_hours": p90},
            )
        )

    figures["score_bands"] = fig = new_figure(
        "score_bands", ("interval", "month"), ("completed", "elevated", "not_elevated", "elevated_share")
    )
    for interval in intervals:
        for month in [*months, ALL]:
            key = (interval, month)
            done, high, low = (ledger.get(fig.id, key, m) for m in ("completed", "elevated", "not_elevated"))
            share: int | float | str | None = rules.hidden_like(high, done)
            if share is None:
                assert isinstance(high, int) and isinstance(done, int)
                share = rules.share_percent(high, done)
            fig.rows.append(
                Row(
                    {"interval": interval, "month": month},
                    {"completed": done, "elevated": high, "not_elevated": low, "elevated_share": share},
                )
            )

    figures["flags"] = simple("flags", ("cause", "status"), ("flags",))
    figures["referrals"] = simple("referrals", ("stage",), ("referrals",))

    figures["requests"] = fig = new_figure(
        "requests",
        ("urgency",),
        ("requests", "accepted", "not_accepted", "median_hours_to_acceptance", "p90_hours_to_acceptance"),
    )
    for request_key in cubes["requests"].cells:
        if request_key[1] != ALL:
            continue
        urgency = request_key[0]
        median, p90 = stat_values(acceptance.get(urgency), k)
        values = {m: ledger.get(fig.id, (urgency,), m) for m in ("requests", "accepted", "not_accepted")}
        fig.rows.append(
            Row(
                {"urgency": urgency},
                {**values, "median_hours_to_acceptance": median, "p90_hours_to_acceptance": p90},
            )
        )
    figures["peer_caseloads"] = simple("peer_caseloads", ("caseload",), ("peers",))
    figures["planning"] = simple("planning", ("planning",), ("incidents",))
    figures["planning_routes"] = simple("planning_routes", ("route",), ("exposures",))
    figures["briefings"] = simple("briefings", ("month",), ("briefings",))
    return figures
