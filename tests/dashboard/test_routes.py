"""The dashboard page, its CSV and GET /api/dashboard: the lead only, the same figures
in all three, small numbers suppressed in all three."""

from __future__ import annotations

import csv
import io
import random
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from tests.dashboard.seed import seed_programme
from tests.helpers import make_incident
from trim.config import Settings
from trim.dashboard import views
from trim.db import AsyncSession

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MARKERS = ("<5", "*")
URLS = ("/dashboard", "/dashboard.csv", "/api/dashboard")


class Tables(HTMLParser):
    """Every <table> on a page as rows of cell texts (header cells included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None and not self._in_caption:
            self._cell.append(data)


def _text(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def expected_tables(api: dict[str, Any]) -> list[list[list[str]]]:
    """The page's tables, rebuilt from the API's answer: their cells must be the same."""
    figures = api["figures"]
    tables = []

    def pivot(fig: dict[str, Any], rows: str, cols: str, measure: str) -> list[list[str]]:
        row_values = list(dict.fromkeys(r["dimensions"][rows] for r in fig["rows"]))
        col_values = list(dict.fromkeys(r["dimensions"][cols] for r in fig["rows"]))
        lookup = {(r["dimensions"][rows], r["dimensions"][cols]): r["values"][measure] for r in fig["rows"]}
        return [[_text(lookup[(v, c)]) for c in col_values] for v in row_values]

    def by_measure(fig: dict[str, Any], units: dict[str, str] | None = None) -> list[list[str]]:
        return [[_text(r["values"][m], (units or {}).get(m, "")) for m in fig["measures"]] for r in fig["rows"]]

    tables.append(pivot(figures["incidents_by_month_kind"], "month", "kind", "incidents"))
    tables.append(by_measure(figures["people_exposed"]))
    tables.append(pivot(figures["checkin_timeliness"], "interval", "timeliness", "checkins"))
    tables.append(pivot(figures["periodic_checkins"], "month", "timeliness", "checkins"))
    tables.append(by_measure(figures["first_contact"]))
    bands = figures["score_bands"]
    for interval in api["intervals"]:
        rows = {**bands, "rows": [r for r in bands["rows"] if r["dimensions"]["interval"] == interval]}
        tables.append(by_measure(rows, {"elevated_share": "%"}))
    tables.append(pivot(figures["flags"], "cause", "status", "flags"))
    tables.append(by_measure(figures["referrals"]))
    tables.append(by_measure(figures["requests"]))
    tables.append(by_measure(figures["peer_caseloads"]))
    tables.append(by_measure(figures["planning"]))
    tables.append(by_measure(figures["planning_routes"]))
    tables.append(by_measure(figures["briefings"]))
    return tables


async def seed(db: AsyncSession, settings: Settings) -> None:
    await seed_programme(db, rng=random.Random(2026), settings=settings, now=NOW, incidents_count=24)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def test_page_csv_and_api_show_the_same_suppressed_figures(
    client: AsyncTestClient[Litestar], cast: Cast, db: AsyncSession, settings: Settings
) -> None:
    await seed(db, settings)
    async with signed_in(client, cast.lead) as lead:
        api_response = await lead.get("/api/dashboard")
        page_response = await lead.get("/dashboard")
        csv_response = await lead.get("/dashboard.csv")
    assert api_response.status_code == page_response.status_code == csv_response.status_code == 200
    api = api_response.json()
    assert api["k"] == 5 and api["start"] == "2025-12-01T00:00:00Z" and api["end"] == "2026-11-03T00:00:00Z"
    assert api["from_date"] == "2025-12-01" and api["to_date"] == "2026-11-02"  # whole days, to today

    # The API: numbers, "<5", "*" (and null only for a median with nothing to measure).
    seen: set[str] = set()
    for name, figure in api["figures"].items():
        for row in figure["rows"]:
            for measure, value in row["values"].items():
                assert isinstance(value, int | float) or value in MARKERS or value is None, (name, measure, value)
                if isinstance(value, str):
                    seen.add(value)
                if value is None:  # a median or a share with nothing to measure
                    assert "hours" in measure or measure == "elevated_share", (name, measure)
    assert seen == {"<5", "*"}  # the seeded organisation has small cells, and complements for them

    # The CSV: one tidy table with the same values.
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    assert list(rows[0]) == views.CSV_HEADER
    # Codes for formulas, and beside each the words people read (no bare child_death or day3).
    labelled = {(r["kind"], r["kind_label"]) for r in rows if r["kind"]} | {
        (r["interval"], r["interval_label"]) for r in rows if r["interval"]
    }
    assert ("child_death", "Death of a child") in labelled or (
        "difficult_rescue",
        "Prolonged or difficult rescue",
    ) in labelled
    assert all(code != words for code, words in labelled if "_" in code or code.startswith("day"))
    assert all(r["figure_title"] for r in rows)
    assert {(r["from"], r["to"]) for r in rows} == {("2025-12-01", "2026-11-02")}  # the range used, on every row
    from_api = {
        (name, measure, tuple(sorted(row["dimensions"].items()))): "" if value is None else str(value)
        for name, figure in api["figures"].items()
        for row in figure["rows"]
        for measure, value in row["values"].items()
    }
    from_csv = {
        (r["figure"], r["measure"], tuple(sorted((d, r[d]) for d in views.CSV_DIMENSIONS if r[d]))): r["value"]
        for r in rows
    }
    assert from_csv == from_api

    # The page: every table holds exactly the API's values, markers included.
    parser = Tables()
    parser.feed(page_response.text)
    page_cells = [[row[1:] for row in table[1:]] for table in parser.tables]
    assert page_cells == expected_tables(api)
    assert page_response.text.count("<svg") == 12  # one chart per figure, the periodic check-ins included
    assert 'style="' not in page_response.text  # the CSP forbids inline styles


async def test_charts_never_draw_a_hidden_value(
    client: AsyncTestClient[Litestar], cast: Cast, db: AsyncSession, settings: Settings
) -> None:
    await seed(db, settings)
    async with signed_in(client, cast.lead) as lead:
        api = (await lead.get("/api/dashboard")).json()
        page = (await lead.get("/dashboard")).text
    monthly = {
        r["dimensions"]["month"]: r["values"]["incidents"]
        for r in api["figures"]["incidents_by_month_kind"]["rows"]
        if r["dimensions"]["kind"] == "all" and r["dimensions"]["month"] != "all"
    }
    chart = page.split('id="chart-incidents-title"', 1)[1].split("</svg>", 1)[0]
    drawn = re.findall(r'<text class="(value|marker)"[^>]*>([^<]*)</text>', chart)
    assert [text.replace("&lt;", "<") for _, text in drawn] == [str(v) for v in monthly.values()]
    assert all(kind == "marker" for kind, text in drawn if not text.isdigit())


async def test_filters_apply_and_are_kept_in_the_csv_link(
    client: AsyncTestClient[Litestar], cast: Cast, db: AsyncSession, settings: Settings
) -> None:
    await seed(db, settings)
    query = {"from": "2026-01-01", "to": "2026-06-30", "station_id": str(cast.station_a.id), "kind": "suicide"}
    async with signed_in(client, cast.lead) as lead:
        api = (await lead.get("/api/dashboard", params=query)).json()
        page = await lead.get("/dashboard", params=query)
    assert api["start"] == "2026-01-01T00:00:00Z" and api["end"] == "2026-06-30T23:00:00Z"
    assert api["station_id"] == str(cast.station_a.id) and api["kind"] == "suicide"
    assert api["months"] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    kinds = {r["dimensions"]["kind"] for r in api["figures"]["incidents_by_month_kind"]["rows"]}
    assert kinds == {"suicide", "all"}
    assert page.status_code == 200
    assert "the kind of incident does not apply to them" in page.text
    assert f"/dashboard.csv?from=2026-01-01&amp;to=2026-06-30&amp;station_id={cast.station_a.id}" in page.text


async def test_bad_filters_are_a_clear_422(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.lead) as lead:
        api = await lead.get("/api/dashboard", params={"from": "last tuesday", "kind": "fire"})
        page = await lead.get("/dashboard", params={"to": "2026-02-30"})
    assert api.status_code == 422
    assert {e["field"] for e in api.json()["errors"]} == {"from", "kind"}
    assert page.status_code == 422
    assert 'aria-invalid="true"' in page.text and "Give a date" in page.text


@pytest.mark.parametrize("who", ["supervisor", "peer", "clinician", "responder", "admin"])
async def test_everyone_but_the_lead_gets_404(client: AsyncTestClient[Litestar], cast: Cast, who: str) -> None:
    async with signed_in(client, cast.person(who)) as browser:
        for url in URLS:
            response = await browser.get(url)
            assert response.status_code == 404, (who, url)
            assert "<5" not in response.text
        home = await browser.get("/")
        assert 'href="/dashboard"' not in home.text


async def test_the_lead_has_it_in_the_navigation(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.lead) as lead:
        home = await lead.get("/")
    assert 'href="/dashboard"' in home.text


async def test_signed_out_pages_go_to_sign_in_and_the_api_says_401(client: AsyncTestClient[Litestar]) -> None:
    for url in ("/dashboard", "/dashboard.csv"):
        response = await client.get(url, params={"kind": "suicide"}, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")
    api = await client.get("/api/dashboard")
    assert api.status_code == 401
    assert api.json()["detail"] == "Sign in first."


async def test_the_api_is_documented(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/api/dashboard"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "station_id", "kind"}
    assert {"200", "401", "404", "422"} <= set(operation["responses"])
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("DashboardOut")
    components = schema["components"]["schemas"]
    figures = components["FiguresOut"]["properties"]
    assert {"incidents_by_month_kind", "checkin_timeliness", "first_contact", "score_bands", "flags"} <= set(figures)
    values = components["RowOut"]["properties"]["values"]
    assert '"<5"' in str(values) and '"*"' in str(values)


@pytest.mark.parametrize("settings_overrides", [{"small_cell_k": 2}])
async def test_two_overlapping_requests_seconds_apart_cannot_single_out_an_incident(
    client: AsyncTestClient[Litestar], cast: Cast, db: AsyncSession, settings: Settings, session: AsyncSession
) -> None:
    # Three incidents early in October, and one at 10:00:03 on the 20th with a single person
    # on it. Asked to 10:00:02 and then to 10:00:04, the difference would be that one person's
    # incident and check-ins; snapped to whole days, the two answers are the same.
    supervisor = cast.actor("supervisor")
    people = [await make_person(session, station=cast.station_a) for _ in range(4)]
    for n, person in enumerate(people[:3]):
        await make_incident(
            db,
            actor=supervisor,
            station=cast.station_a,
            people=[person],
            occurred_at=datetime(2026, 10, 5, 8 + n, tzinfo=UTC),
            now=NOW,
            settings=settings,
        )
    await make_incident(
        db,
        actor=supervisor,
        station=cast.station_a,
        people=[people[3]],
        occurred_at=datetime(2026, 10, 20, 10, 0, 3, tzinfo=UTC),
        now=NOW,
        settings=settings,
    )
    before = {"from": "2026-10-01T00:00:00Z", "to": "2026-10-20T10:00:02Z"}
    after = {"from": "2026-10-01T00:00:01Z", "to": "2026-10-20T10:00:04Z"}
    async with signed_in(client, cast.lead) as lead:
        api = [(await lead.get("/api/dashboard", params=query)).json() for query in (before, after)]
        csvs = [(await lead.get("/dashboard.csv", params=query)).text for query in (before, after)]
        pages = [(await lead.get("/dashboard", params=query)).text for query in (before, after)]
    assert api[0] == api[1]
    assert api[0]["from_date"] == "2026-10-01" and api[0]["to_date"] == "2026-10-20"
    assert api[0]["start"] == "2026-09-30T23:00:00Z" and api[0]["end"] == "2026-10-20T23:00:00Z"  # BST
    totals = {
        r["dimensions"]["month"]: r["values"]["incidents"]
        for r in api[0]["figures"]["incidents_by_month_kind"]["rows"]
        if r["dimensions"]["kind"] == "all"
    }
    assert totals["all"] == 4  # the whole of the 20th is in both answers
    assert csvs[0] == csvs[1]
    assert {tuple(r[-2:]) for r in csv.reader(io.StringIO(csvs[0]))} == {("from", "to"), ("2026-10-01", "2026-10-20")}
    tables = []
    for text in pages:
        parser = Tables()
        parser.feed(text)
        tables.append(parser.tables)
        assert "Incidents from <strong>1 Oct 2026</strong> to <strong>20 Oct 2026</strong>" in text
    assert tables[0] == tables[1]
