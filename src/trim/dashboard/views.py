"""What the page and the CSV show: labels, tables and chart geometry (SVG drawn by the
template with classes only: the CSP allows no inline styles). No new numbers are made
here except a chart's "hidden" segment, which is a row's total less what is shown
(already known to any reader of the table)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from trim.dashboard import rules
from trim.dashboard.figures import ALL, Dashboard, Figure, Value
from trim.exports import csv_text
from trim.flags.rules import CAUSES
from trim.incidents.models import EXPOSURE_LABELS, KIND_LABELS
from trim.planning.models import ROUTE_LABELS
from trim.requests.models import URGENCY_LABELS

CSV_DIMENSIONS = (
    "month",
    "kind",
    "exposure",
    "interval",
    "timeliness",
    "cause",
    "status",
    "stage",
    "urgency",
    "caseload",
    "planning",
    "route",
)

LABELS: dict[str, Mapping[str, str]] = {
    "planning": {"on_time": "On time", "late": "Late", "not_held": "Not held yet"},
    "route": ROUTE_LABELS,
    "kind": KIND_LABELS,
    "exposure": EXPOSURE_LABELS,
    "timeliness": rules.TIMELINESS_LABELS,
    "cause": CAUSES,
    "status": {
        "open": "Open",
        "referred": "Referred",
        "declined": "Declined",
        "closed": "Closed",
        "monitoring": "Watchful waiting",
    },
    "stage": {
        "offered": "Offered",
        "not_consented": "Not consented",
        "consented": "Consented",
        "referred": "Sent, waiting",
        "contact_made": "Contact made",
        "taken_up": "Taken up",
        "not_taken_up": "Not taken up",
        "closed": "Closed",
        "withdrawn": "Consent withdrawn",
    },
    "urgency": URGENCY_LABELS,
    "caseload": {
        "none": "None",
        "1-5": "1–5",
        "6-10": "6–10",
        "11-20": "11–20",
        "over 20": "Over 20",
    },
}
DIMENSIONS = {
    "month": "Month",
    "kind": "Kind",
    "exposure": "Exposure",
    "interval": "Check-in",
    "timeliness": "Timeliness",
    "cause": "Cause",
    "status": "Outcome",
    "stage": "Stage",
    "urgency": "Urgency",
    "caseload": "Caseload",
    "planning": "Planning meeting",
    "route": "Route",
}
MEASURES = {
    "incidents": "Incidents",
    "people": "People",
    "exposures": "Exposures",
    "checkins": "Check-ins",
    "contacted": "Contacted",
    "median_hours": "Median (hours)",
    "p90_hours": "90th percentile (hours)",
    "completed": "Held",
    "elevated": "Elevated",
    "not_elevated": "Not elevated",
    "elevated_share": "Share elevated",
    "flags": "Flags",
    "referrals": "Referrals",
    "requests": "Requests",
    "accepted": "Accepted",
    "not_accepted": "Not accepted",
    "median_hours_to_acceptance": "Median hours to acceptance",
    "p90_hours_to_acceptance": "90th percentile (hours)",
    "peers": "Peer supporters",
    "briefings": "Briefings",
}


def label(dimension: str, value: str) -> str:
    if value == ALL:
        return "All"
    if dimension == "month":
        return rules.month_title(value)
    if dimension == "interval" and value.startswith("day"):
        return f"Day {value[3:]}"
    return LABELS.get(dimension, {}).get(value, value.replace("_", " ").capitalize())


# -- tables ----------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    kind: str  # number | small | hidden | none


def cell(value: Value, *, unit: str = "") -> Cell:
    if value is None:
        return Cell("–", "none")
    if isinstance(value, str):
        return Cell(value, "hidden" if value == rules.COMPLEMENT else "small")
    value = rules.plain_number(value)  # as the API and the CSV write it
    if isinstance(value, float):
        return Cell(f"{value:.1f}{unit}", "number")
    return Cell(f"{value}{unit}", "number")


@dataclass
class TableRow:
    header: str
    cells: list[Cell]
    total: bool = False


@dataclass
class Table:
    caption: str
    corner: str
    columns: list[str]
    rows: list[TableRow]


def pivot(figure: Figure, rows: str, columns: str, measure: str, caption: str) -> Table:
    """A two-way figure as a table: one dimension down, one across, totals last."""
    row_values = list(dict.fromkeys(r.dims[rows] for r in figure.rows))
    col_values = list(dict.fromkeys(r.dims[columns] for r in figure.rows))
    lookup = {(r.dims[rows], r.dims[columns]): r.values[measure] for r in figure.rows}
    return Table(
        caption,
        DIMENSIONS.get(rows, rows),
        [label(columns, c) if c != ALL else "Total" for c in col_values],
        [
            TableRow(
                label(rows, v) if v != ALL else "Total",
                [cell(lookup.get((v, c))) for c in col_values],
                total=v == ALL,
            )
            for v in row_values
        ],
    )


def by_measure(figure: Figure, dimension: str, caption: str, units: Mapping[str, str] | None = None) -> Table:
    """A one-way figure with several measures: one row per value, one column per measure."""
    units = units or {}
    return Table(
        caption,
        DIMENSIONS.get(dimension, dimension),
        [MEASURES.get(m, m) for m in figure.measures],
        [
            TableRow(
                label(dimension, r.dims[dimension]) if r.dims[dimension] != ALL else "Total",
                [cell(r.values[m], unit=units.get(m, "")) for m in figure.measures],
                total=r.dims[dimension] == ALL,
            )
            for r in figure.rows
        ],
    )


# -- charts ----------------------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    x: float
    y: float
    width: float
    height: float
    text: str
    text_x: float
    text_y: float
    hidden: bool
    cls: str = "bar"
    sublabel: str = ""  # a second line under a vertical bar (the year under a month)


@dataclass
class BarChart:
    id: str
    title: str
    width: int
    height: int
    bars: list[Bar]
    vertical: bool
    baseline: float = 0.0
    label_y: float = 0.0


def _number(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def hbar_chart(chart_id: str, title: str, items: Sequence[tuple[str, Value]], unit: str = "") -> BarChart:
    """Horizontal bars, one a line; a hidden value is written where its bar would be."""
    # Room on the left for the longest label (about 7 px a character at 12 px).
    width, row = 640, 30
    left = min(320, 14 + round(7.2 * max((len(name) for name, _ in items), default=4)))
    area = width - left - 70
    top = max((n for _, v in items if (n := _number(v)) is not None), default=0.0) or 1.0
    bars = []
    for index, (name, value) in enumerate(items):
        amount = _number(value)
        length = area * amount / top if amount else 0.0
        y = 8 + index * row
        text = cell(value, unit=unit).text
        bars.append(
            Bar(name, left, y, length, row - 10, text, left + length + 6, y + (row - 10) / 2 + 4, amount is None)
        )
    return BarChart(chart_id, title, width, 16 + len(items) * row, bars, vertical=False)


def vbar_chart(
    chart_id: str, title: str, items: Sequence[tuple[str, Value]], unit: str = "", sublabels: Sequence[str] = ()
) -> BarChart:
    """Vertical bars (months, bands) with the value above each and the label below."""
    width, height, bottom, top_pad = 640, 220, 40, 22
    area = height - bottom - top_pad
    step = (width - 20) / max(len(items), 1)
    top = max((n for _, v in items if (n := _number(v)) is not None), default=0.0) or 1.0
    bars = []
    for index, (name, value) in enumerate(items):
        amount = _number(value)
        tall = area * amount / top if amount else 0.0
        x = 10 + index * step + step * 0.15
        base = height - bottom
        text = cell(value, unit=unit).text
        bar = Bar(name, x, base - tall, step * 0.7, tall, text, x + step * 0.35, base - tall - 6, amount is None)
        bar.sublabel = sublabels[index] if index < len(sublabels) else ""
        bars.append(bar)
    return BarChart(chart_id, title, width, height, bars, vertical=True, baseline=height - bottom, label_y=height - 22)


@dataclass
class Segment:
    cls: str
    x: float
    width: float
    text: str
    name: str


@dataclass
class Stack:
    label: str
    y: float
    segments: list[Segment]
    note: str = ""


@dataclass
class StackChart:
    id: str
    title: str
    width: int
    height: int
    stacks: list[Stack]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (class, label)


def stack_chart(
    chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[tuple[str, str, Value]], Value]]
) -> StackChart:
    """One 100% bar per row: its shown parts in proportion, the hidden ones as one
    grey part (the row's total less what is shown), or no bar when the total is hidden."""
    width, left, area, row_height = 640, 110, 500, 40
    stacks = []
    for index, (name, parts, total) in enumerate(rows):
        y = 8 + index * row_height
        whole = _number(total)
        if not whole:
            stacks.append(Stack(name, y, [], "hidden" if isinstance(total, str) else "none yet"))
            continue
        segments, x, shown = [], float(left), 0.0
        for cls, part_name, value in parts:
            amount = _number(value)
            if amount is None or amount == 0:
                continue
            span = area * amount / whole
            segments.append(Segment(cls, x, span, f"{int(amount)}" if span > 26 else "", part_name))
            x += span
            shown += amount
        if whole - shown > 0:
            span = area * (whole - shown) / whole
            segments.append(Segment("seg-hidden", x, span, "", "hidden (fewer than k people, or a complement)"))
        stacks.append(Stack(name, y, segments))
    return StackChart(chart_id, title, width, 16 + len(rows) * row_height, stacks)


@dataclass
class Series:
    name: str
    cls: str
    points: list[tuple[float, float, str]]  # x, y, label
    lines: list[str]  # polyline point lists, broken where a value is hidden or missing


@dataclass
class LineChart:
    id: str
    title: str
    width: int
    height: int
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    series: list[Series]
    left: float
    right: float


def line_chart(
    chart_id: str, title: str, x_names: Sequence[str], series: Sequence[tuple[str, str, Sequence[Value]]]
) -> LineChart:
    """Percentages (0-100) over time; a hidden or missing point breaks the line."""
    width, height, left, right, top, bottom = 640, 240, 44, 620, 14, 200
    step = (right - left) / max(len(x_names) - 1, 1)

    def y_of(percent: float) -> float:
        return bottom - (bottom - top) * percent / 100

    drawn = []
    for name, cls, values in series:
        points: list[tuple[float, float, str]] = []
        lines: list[str] = []
        current: list[str] = []
        for index, value in enumerate(values):
            amount = _number(value)
            if amount is None:
                if len(current) > 1:
                    lines.append(" ".join(current))
                current = []
                continue
            x, y = left + index * step, y_of(amount)
            points.append((round(x, 1), round(y, 1), f"{amount:.0f}%"))
            current.append(f"{x:.1f},{y:.1f}")
        if len(current) > 1:
            lines.append(" ".join(current))
        drawn.append(Series(name, cls, points, lines))
    x_labels = [(round(left + i * step, 1), rules.month_title(m).split()[0]) for i, m in enumerate(x_names)]
    y_ticks = [(round(y_of(p), 1), f"{p}%") for p in (0, 25, 50, 75, 100)]
    return LineChart(chart_id, title, width, height, x_labels, y_ticks, drawn, left, right)


# -- the page ------------------------------------------------------------------------------------


@dataclass
class Section:
    id: str
    title: str
    note: str
    chart: BarChart | StackChart | LineChart | None
    tables: list[Table]
    counts: str
    people: str
    summary: list[tuple[str, Cell]] = field(default_factory=list)


KINDS = list(KIND_LABELS.items())


def _month_axis(months: Sequence[str]) -> tuple[list[str], list[str]]:
    """Month names under the bars, with the year under the first and under each January."""
    names = [rules.month_title(m).split()[0] for m in months]
    years = [m[:4] if index == 0 or m.endswith("-01") else "" for index, m in enumerate(months)]
    return names, years


def _one_way(figure: Figure, dimension: str, measure: str) -> list[tuple[str, Value]]:
    return [(label(dimension, r.dims[dimension]), r.values[measure]) for r in figure.rows if r.dims[dimension] != ALL]


def page_view(dashboard: Dashboard, *, stations: Mapping[uuid.UUID, str]) -> dict[str, object]:
    """Everything the template draws, figure by figure."""
    f = dashboard.figures
    months = [m.label for m in dashboard.months]
    sections = []

    def section(figure_id: str, chart: BarChart | StackChart | LineChart | None, *tables: Table) -> Section:
        fig = f[figure_id]
        return Section(figure_id, fig.title, fig.note, chart, list(tables), fig.counts, fig.people)

    incidents = f["incidents_by_month_kind"]
    names, years = _month_axis(months)
    monthly = [(name, incidents.value("incidents", month=m, kind=ALL)) for name, m in zip(names, months, strict=True)]
    sections.append(
        section(
            "incidents_by_month_kind",
            vbar_chart("chart-incidents", "Incidents each month", monthly, sublabels=years),
            pivot(incidents, "month", "kind", "incidents", "Incidents by month (rows) and kind (columns)"),
        )
    )
    sections[-1].summary = [("Incidents", cell(incidents.value("incidents", month=ALL, kind=ALL)))]

    exposed = f["people_exposed"]
    sections.append(
        section(
            "people_exposed",
            hbar_chart(
                "chart-exposed",
                "People exposed, by how",
                [(label("exposure", e), exposed.value("people", exposure=e)) for e in EXPOSURE_LABELS],
            ),
            by_measure(exposed, "exposure", "People and exposures by kind of exposure"),
        )
    )
    sections[-1].summary = [
        ("People exposed", cell(exposed.value("people", exposure=ALL))),
        ("Exposures", cell(exposed.value("exposures", exposure=ALL))),
    ]

    timed = f["checkin_timeliness"]
    stacks = []
    for interval in [*dashboard.intervals, ALL]:
        parts = [
            (f"seg-{t}", rules.TIMELINESS_LABELS[t], timed.value("checkins", interval=interval, timeliness=t))
            for t in rules.TIMELINESS
        ]
        stacks.append((label("interval", interval), parts, timed.value("checkins", interval=interval, timeliness=ALL)))
    chart = stack_chart("chart-timeliness", "Check-ins by interval: on time, late, missed, declined", stacks)
    chart.legend = [(f"seg-{t}", rules.TIMELINESS_LABELS[t]) for t in rules.TIMELINESS] + [
        ("seg-hidden", "Hidden (small numbers)")
    ]
    sections.append(
        section(
            "checkin_timeliness", chart, pivot(timed, "interval", "timeliness", "checkins", "Check-ins by interval")
        )
    )

    periodic = f["periodic_checkins"]
    monthly_stacks = []
    for m in months:
        parts = [
            (f"seg-{t}", rules.TIMELINESS_LABELS[t], periodic.value("checkins", month=m, timeliness=t))
            for t in rules.TIMELINESS
        ]
        monthly_stacks.append((label("month", m), parts, periodic.value("checkins", month=m, timeliness=ALL)))
    periodic_chart = stack_chart("chart-periodic", "Periodic check-ins by the month they were due", monthly_stacks)
    periodic_chart.legend = chart.legend
    sections.append(
        section(
            "periodic_checkins",
            periodic_chart,
            pivot(periodic, "month", "timeliness", "checkins", "Periodic check-ins by month due"),
        )
    )

    contact = f["first_contact"]
    sections.append(
        section(
            "first_contact",
            vbar_chart(
                "chart-contact",
                "Median hours from incident to first contact, by month of the incident",
                [(name, contact.value("median_hours", month=m)) for name, m in zip(names, months, strict=True)],
                sublabels=years,
            ),
            by_measure(contact, "month", "Time to first contact by month of the incident"),
        )
    )
    sections[-1].summary = [
        ("Median (hours)", cell(contact.value("median_hours", month=ALL))),
        ("90th percentile (hours)", cell(contact.value("p90_hours", month=ALL))),
    ]

    bands = f["score_bands"]
    series = [
        (label("interval", i), f"series-{n % 4}", [bands.value("elevated_share", interval=i, month=m) for m in months])
        for n, i in enumerate(dashboard.intervals)
    ]
    band_tables = [
        Table(
            f"Check-ins held at {label('interval', i)} by month of the incident",
            "Month",
            [MEASURES[m] for m in bands.measures],
            [
                TableRow(
                    label("month", r.dims["month"]) if r.dims["month"] != ALL else "Total",
                    [cell(r.values[m], unit="%" if m == "elevated_share" else "") for m in bands.measures],
                    total=r.dims["month"] == ALL,
                )
                for r in bands.rows
                if r.dims["interval"] == i
            ],
        )
        for i in dashboard.intervals
    ]
    sections.append(
        section(
            "score_bands",
            line_chart("chart-bands", "Share of check-ins with an elevated score, by month", months, series),
            *band_tables,
        )
    )

    flags = f["flags"]
    causes = [r.dims["cause"] for r in flags.rows if r.dims["status"] == ALL and r.dims["cause"] != ALL]
    sections.append(
        section(
            "flags",
            hbar_chart(
                "chart-flags",
                "Flags by cause",
                [(label("cause", c), flags.value("flags", cause=c, status=ALL)) for c in causes],
            ),
            pivot(flags, "cause", "status", "flags", "Flags by cause (rows) and outcome (columns)"),
        )
    )

    referrals = f["referrals"]
    funnel = [(label("stage", s), referrals.value("referrals", stage=s)) for s in ("offered", "consented", "taken_up")]
    sections.append(
        section(
            "referrals",
            hbar_chart("chart-referrals", "Referrals offered, consented to and taken up", funnel),
            by_measure(referrals, "stage", "Referrals by stage"),
        )
    )

    requests = f["requests"]
    sections.append(
        section(
            "requests",
            hbar_chart(
                "chart-requests",
                "Requests for a peer by urgency",
                [
                    (label("urgency", r.dims["urgency"]), r.values["requests"])
                    for r in requests.rows
                    if r.dims["urgency"] != ALL
                ],
            ),
            by_measure(requests, "urgency", "Requests by urgency, and hours until a peer accepted"),
        )
    )

    caseloads = f["peer_caseloads"]
    sections.append(
        section(
            "peer_caseloads",
            vbar_chart(
                "chart-caseloads",
                "Peer supporters by number of people they have an open check-in with",
                [
                    (label("caseload", r.dims["caseload"]), r.values["peers"])
                    for r in caseloads.rows
                    if r.dims["caseload"] != ALL
                ],
            ),
            by_measure(caseloads, "caseload", "Peer supporters by caseload"),
        )
    )
    planning = f["planning"]
    sections.append(
        section(
            "planning",
            hbar_chart(
                "chart-planning",
                "Incidents by when the planning meeting was held",
                [
                    (label("planning", p), planning.value("incidents", planning=p))
                    for p in ("on_time", "late", "not_held")
                ],
            ),
            by_measure(planning, "planning", "Incidents by planning meeting"),
        )
    )
    routes = f["planning_routes"]
    sections.append(
        section(
            "planning_routes",
            hbar_chart(
                "chart-routes",
                "Routes chosen at planning meetings",
                [
                    (label("route", r.dims["route"]), r.values["exposures"])
                    for r in routes.rows
                    if r.dims["route"] != ALL
                ],
            ),
            by_measure(routes, "route", "People by route"),
        )
    )
    briefings = f["briefings"]
    sections.append(
        section("briefings", None, by_measure(briefings, "month", "Group briefings by month of the incident"))
    )
    sections[-1].summary = [("Briefings", cell(briefings.value("briefings", month=ALL)))]

    from_date, to_date = period_dates(dashboard)
    return {
        "sections": sections,
        "from_date": from_date,
        "to_date": to_date,
        "last_day": dashboard.period.end - timedelta(microseconds=1),
        "k": dashboard.k,
        "period": dashboard.period,
        "station": stations.get(uuid.UUID(dashboard.station_id)) if dashboard.station_id else None,
        "kind": KIND_LABELS.get(dashboard.kind) if dashboard.kind else None,
        "timezone": dashboard.timezone,
        "figures_as_of": dashboard.figures_as_of,
        "changes_waiting": dashboard.changes_waiting,
    }


def period_dates(dashboard: Dashboard) -> tuple[str, str]:
    """The whole local days the figures are for, as YYYY-MM-DD (both included)."""
    first, last = rules.period_days(dashboard.period, ZoneInfo(dashboard.timezone))
    return first.isoformat(), last.isoformat()


# -- CSV -----------------------------------------------------------------------------------------


# Each dimension's code (for a spreadsheet's formulas) and, beside it, the words a reader sees.
CSV_HEADER = [
    "figure",
    "figure_title",
    "measure",
    *(column for name in CSV_DIMENSIONS for column in (name, f"{name}_label")),
    "value",
    "from",
    "to",
]


def as_csv(dashboard: Dashboard) -> str:
    """One tidy long table of every figure: figure (id and title), measure, its dimensions
    (code and label), value, and on every row the period the figures are for (local dates,
    both included)."""
    first, last = period_dates(dashboard)
    rows = (
        [figure_id, figure.title, measure, *dims, rules.plain_number(value), first, last]
        for figure_id, figure in dashboard.figures.items()
        for row in figure.rows
        for dims in [
            [
                cell
                for name in CSV_DIMENSIONS
                for code in [row.dims.get(name, "")]
                for cell in (code, label(name, code) if code else "")
            ]
        ]
        for measure, value in row.values.items()
    )
    return csv_text([CSV_HEADER, *rows])
