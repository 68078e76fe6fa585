"""What the report's routes take and give."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import QueryParameter
from pydantic import BaseModel, Field

from trim.dashboard.rules import plain_number
from trim.reports.rules import Report
from trim.reports.tables import TOTAL, Timing

Quarter = Annotated[
    str | None,
    QueryParameter(name="quarter", description="A quarter, YYYYQn (e.g. 2026Q4); default the last whole one"),
]
FromMonth = Annotated[str | None, QueryParameter(name="from", description="First month of a range, YYYY-MM")]
ToMonth = Annotated[str | None, QueryParameter(name="to", description="Last month of a range, YYYY-MM (included)")]

Scale = Annotated[int, Field(ge=1, le=5)]


class FeedbackIn(BaseModel):
    helpful: Scale
    ask_again: Scale
    ease: Scale


class CellOut(BaseModel):
    row: str
    column: str
    value: int | str


class TableOut(BaseModel):
    id: str
    title: str
    counts: str
    note: str
    rows: list[str]
    columns: list[str]
    cells: list[CellOut]


class TimingOut(BaseModel):
    """A time over a group; "<k" under k people, null when nobody was measured. How many
    people is not given: with the counts elsewhere it could single out a small group."""

    row: str
    median_hours: float | str | None
    p90_hours: float | str | None


class TimingTableOut(BaseModel):
    id: str
    title: str
    note: str
    rows: list[TimingOut]


def _shown_timing(found: Timing, label: str) -> dict[str, float | str | None]:
    """Null where nobody was measured, "<k" under k people, else the hours."""
    if found.people == 0:
        return {"median_hours": None, "p90_hours": None}
    if found.median is None:
        return {"median_hours": label, "p90_hours": label}
    return {"median_hours": found.median, "p90_hours": found.p90}


class ReportOut(BaseModel):
    period: dict[str, str]
    title: str
    k: int
    timezone: str
    generated_at: str
    tables: list[TableOut]
    timings: list[TimingTableOut]

    @classmethod
    def of(cls, report: Report) -> ReportOut:
        label = f"<{report.k}"

        def shown(value: Any) -> int | str:
            result = plain_number(value)
            return result if isinstance(result, int | str) else str(result)

        return cls(
            period={"from": report.period.start.isoformat(), "to": report.period.end.isoformat()},
            title=report.title,
            k=report.k,
            timezone=report.timezone,
            generated_at=report.generated_at.isoformat(),
            tables=[
                TableOut(
                    id=t.id,
                    title=t.title,
                    counts=t.counts,
                    note=t.note,
                    rows=[*t.rows, TOTAL],
                    columns=[*t.columns, TOTAL],
                    cells=[CellOut(row=r, column=c, value=shown(t.shown[(r, c)])) for r, c in t.all_keys()],
                )
                for t in report.tables
            ],
            timings=[
                TimingTableOut(
                    id=t.id,
                    title=t.title,
                    note=t.note,
                    rows=[TimingOut(row=row, **_shown_timing(t.timings[row], label)) for row in t.rows],
                )
                for t in report.timings
            ],
        )
