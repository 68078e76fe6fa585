"""The report as the lead gets it: the page (prints well), JSON, CSV and a PDF that
opens (pdftoppm renders it), and `trim report` on the command line."""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import signed_in
from tests.conftest import FakeClock
from tests.dashboard.seed import seed_programme
from tests.foundation.test_cli import trim
from trim.config import Settings
from trim.db import AsyncSession


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"report_small_cell_k": 3}


def assert_renders(pdf: bytes, tmp_path: Path) -> Path:
    """pdftoppm (poppler-utils) draws the first page: the PDF opens."""
    assert pdf.startswith(b"%PDF-")
    assert shutil.which("pdftoppm"), "poppler-utils is needed (.ci/run installs it)"
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(source), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages and pages[0].stat().st_size > 1000
    return pages[0]


async def test_the_lead_gets_the_report_as_page_json_csv_and_pdf(
    client: AsyncTestClient[Litestar],
    db: AsyncSession,
    settings: Settings,
    clock: FakeClock,
    tmp_path: Path,
    cast: Any,
) -> None:
    await seed_programme(db, rng=random.Random(12), settings=settings, now=clock.now, incidents_count=25)
    quarter = f"{clock.now.year}Q{(clock.now.month - 1) // 3 + 1}"
    async with signed_in(client, cast.lead) as lead:
        page = await lead.get(f"/reports/quarterly?quarter={quarter}")
        assert page.status_code == 200
        for section in ("Offers of support and uptake", "Time from incident to first contact", "Planning meetings"):
            assert section in page.text
        assert "<svg" in page.text and "/static/css/report.css" in page.text
        assert f"/api/reports/quarterly.pdf?quarter={quarter}" in page.text

        body = (await lead.get(f"/api/reports/quarterly?quarter={quarter}")).json()
        assert body["k"] == 3
        values = [cell["value"] for table in body["tables"] for cell in table["cells"]]
        assert all(isinstance(v, int) or v in ("<3", "*") for v in values)
        assert {t["id"] for t in body["tables"]} >= {"offers", "checkins", "referrals", "band_change", "periodic"}

        exported = await lead.get(f"/api/reports/quarterly.csv?quarter={quarter}")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == ["section", "row", "column", "value"]
        cells = {(r[0], r[1], r[2]): r[3] for r in rows[1:]}
        for table in body["tables"]:
            for cell in table["cells"]:
                assert cells[(table["id"], cell["row"], cell["column"])] == str(cell["value"])

        pdf = await lead.get(f"/api/reports/quarterly.pdf?quarter={quarter}")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert_renders(pdf.content, tmp_path)

        bad = await lead.get("/api/reports/quarterly?quarter=2026Q5")
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "quarter"
        assert (await lead.get("/reports/quarterly?from=2026-05&to=2026-01")).status_code == 422


async def test_trim_report_writes_the_pdf_and_the_csv(
    settings: Settings, session: AsyncSession, tmp_path: Path
) -> None:
    pdf, sheet = tmp_path / "out.pdf", tmp_path / "out.csv"
    result = await trim(settings, "report", "--quarter", "2026Q4", "--pdf", str(pdf), "--csv", str(sheet))
    assert result.exit_code == 0, result.output
    assert "October 2026 to December 2026" in result.output
    assert_renders(pdf.read_bytes(), tmp_path)
    assert sheet.read_text().startswith("section,row,column,value")
    refused = await trim(settings, "report", "--quarter", "Q4")
    assert refused.exit_code != 0
