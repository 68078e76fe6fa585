"""The report as people read it: tables with their charts (server-drawn SVG, colours as
attributes so the page, the print and the PDF look the same), and the print document
WeasyPrint turns into the PDF."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from trim.dashboard.rules import COMPLEMENT, plain_number
from trim.reports.rules import Report
from trim.reports.tables import TOTAL, Table, TimingTable

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"
REPORT_CSS = ROOT / "static" / "css" / "report.css"

# Colour-blind safe (Okabe-Ito), dark enough on white for the labels beside them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999")
CHART_WIDTH = 640
LABEL_WIDTH = 230
BAR_HEIGHT = 22
BAR_GAP = 10


@dataclass
class CellView:
    text: str
    kind: str  # value | small | hidden | none (nothing to measure)


@dataclass
class RowView:
    label: str
    cells: list[CellView]
    total: bool = False


@dataclass
class Segment:
    x: float
    width: float
    fill: str
    title: str


@dataclass
class BarView:
    label: str
    y: float
    segments: list[Segment]
    note: str = ""
    text: str = ""
    text_x: float = 0.0


@dataclass
class ChartView:
    id: str
    title: str
    width: int
    height: int
    bars: list[BarView]
    legend: list[tuple[str, str]] = field(default_factory=list)
    label_width: int = LABEL_WIDTH


@dataclass
class TableView:
    id: str
    title: str
    counts: str
    note: str
    corner: str
    columns: list[str]
    rows: list[RowView]
    chart: ChartView


@dataclass
class ReportView:
    title: str
    k: int
    timezone: str
    generated: str
    tables: list[TableView]


def cell_view(value: int | str, k: int) -> CellView:
    if value == COMPLEMENT:
        return CellView(COMPLEMENT, "hidden")
    if isinstance(value, str):
        return CellView(value, "small")
    return CellView(str(plain_number(value)), "value")


def table_view(table: Table, k: int) -> TableView:
    rows = [
        RowView(
            table.row_labels.get(r, r),
            [cell_view(table.shown[(r, c)], k) for c in [*table.columns, TOTAL]],
            total=r == TOTAL,
        )
        for r in [*table.rows, TOTAL]
    ]
    return TableView(
        table.id,
        table.title,
        table.counts,
        table.note,
        "",
        [table.column_labels.get(c, c) for c in [*table.columns, TOTAL]],
        rows,
        stacked_chart(table),
    )


def stacked_chart(table: Table) -> ChartView:
    """One bar per row, split by column; only shown cells are drawn, a row with a hidden
    cell says so (so no bar's length gives a hidden number away)."""
    scale_to = max(
        (int(v) for r in table.rows for c in table.columns if isinstance(v := table.shown[(r, c)], int)), default=0
    )
    row_sums = [sum(int(v) for c in table.columns if isinstance(v := table.shown[(r, c)], int)) for r in table.rows]
    widest = max([*row_sums, scale_to, 1])
    span = CHART_WIDTH - LABEL_WIDTH - 60
    bars = []
    for index, r in enumerate(table.rows):
        x = float(LABEL_WIDTH)
        segments = []
        for position, c in enumerate(table.columns):
            value = table.shown[(r, c)]
            if isinstance(value, int) and value > 0:
                width = span * value / widest
                segments.append(
                    Segment(x, width, PALETTE[position % len(PALETTE)], f"{table.column_labels[c]}: {value}")
                )
                x += width
        hidden = any(isinstance(table.shown[(r, c)], str) for c in table.columns)
        bars.append(
            BarView(
                table.row_labels.get(r, r),
                BAR_GAP + index * (BAR_HEIGHT + BAR_GAP),
                segments,
                note="some hidden" if hidden else "",
                text=str(row_sums[index]) if not hidden else "",
                text_x=x + 6,
            )
        )
    legend = [(PALETTE[i % len(PALETTE)], table.column_labels[c]) for i, c in enumerate(table.columns)]
    height = BAR_GAP + len(bars) * (BAR_HEIGHT + BAR_GAP)
    return ChartView(f"chart-{table.id}", table.title, CHART_WIDTH, max(height, 40), bars, legend)


def timing_view(timing: TimingTable, k: int) -> TableView:
    label = f"<{k}"
    rows = []
    for r in timing.rows:
        found = timing.timings[r]
        if found.people == 0:
            cells = [CellView("–", "none"), CellView("–", "none")]
        elif found.median is None:
            cells = [CellView(label, "small"), CellView(label, "small")]
        else:
            cells = [
                CellView(str(plain_number(found.median)), "value"),
                CellView(str(plain_number(found.p90)), "value"),
            ]
        rows.append(RowView(timing.row_labels.get(r, r), cells, total=r == TOTAL))
    shown = [timing.timings[r].median for r in timing.rows if r != TOTAL]
    widest = max([value for value in shown if value is not None] + [1.0])
    span = CHART_WIDTH - LABEL_WIDTH - 80
    bars = []
    for index, r in enumerate(x for x in timing.rows if x != TOTAL):
        median = timing.timings[r].median
        width = span * median / widest if median is not None else 0.0
        bars.append(
            BarView(
                timing.row_labels.get(r, r),
                BAR_GAP + index * (BAR_HEIGHT + BAR_GAP),
                [Segment(LABEL_WIDTH, width, PALETTE[0], f"median {median} h")] if median is not None else [],
                note=""
                if median is not None
                else "nobody yet"
                if timing.timings[r].people == 0
                else f"fewer than {k} people",
                text=f"{plain_number(median)} h" if median is not None else "",
                text_x=LABEL_WIDTH + width + 6,
            )
        )
    height = BAR_GAP + len(bars) * (BAR_HEIGHT + BAR_GAP)
    chart = ChartView(f"chart-{timing.id}", timing.title, CHART_WIDTH, max(height, 40), bars, [(PALETTE[0], "Median")])
    return TableView(
        timing.id, timing.title, "hours", timing.note, "", ["Median (hours)", "90th percentile (hours)"], rows, chart
    )


def report_view(report: Report) -> ReportView:
    """In the order a board reads it: incidents, offers and contact, check-ins, referrals,
    change, planning, periodic, requests, feedback."""
    by_id = {t.id: table_view(t, report.k) for t in report.tables}
    timings = {t.id: timing_view(t, report.k) for t in report.timings}
    order = ["incidents", "offers", "first_contact", "checkins", "referrals", "band_change", "planning", "periodic"]
    order += ["requests", "request_contact"]
    order += [t.id for t in report.tables if t.id.startswith("feedback_")]
    views = {**by_id, **timings}
    return ReportView(
        title=report.title,
        k=report.k,
        timezone=report.timezone,
        generated=report.generated_at.strftime("%-d %B %Y"),
        tables=[views[id] for id in order],
    )


def print_document(report: Report, *, organisation: str) -> str:
    """The whole report as one HTML document for WeasyPrint (styles from report.css)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("reports/print.html").render(
        view=report_view(report), org_name=organisation, css=REPORT_CSS.read_text(encoding="utf-8")
    )
