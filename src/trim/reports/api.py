"""GET /api/reports/quarterly (JSON), .csv and .pdf beside it: the board's report."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Controller, Request, Response, get

from trim.deps import Conf, Db
from trim.guards import current_actor, requires
from trim.reports import service, views
from trim.reports.rules import Report
from trim.reports.schemas import FromMonth, Quarter, ReportOut, ToMonth
from trim.web import api_errors, now_of

DESCRIPTION = (
    "A quarter (quarter=2026Q4) or whole months (from=2026-01&to=2026-06), in the organisation's zone; default "
    'the last whole quarter. A count about fewer than k people (TRIM_REPORT_SMALL_CELL_K, default 10) is "<k"; a '
    'cell hidden so that another cannot be worked out from a total is "*". The programme lead only.'
)


async def _report(
    request: Request[Any, Any, Any], db: Db, settings: Conf, quarter: str | None, from_: str | None, to: str | None
) -> Report:
    now = now_of(request)
    period = service.period_of(quarter=quarter, from_month=from_, to_month=to, now=now, settings=settings)
    return await service.quarterly(db, actor=current_actor(request), period=period, now=now, settings=settings)


def _filename(report: Report, suffix: str) -> dict[str, str]:
    name = f"trim-report-{report.period.start.strftime('%Y%m')}-{report.months[-1].replace('-', '')}.{suffix}"
    return {"content-disposition": f'attachment; filename="{name}"'}


class ReportsApi(Controller):
    path = "/api/reports"
    tags = ["reports"]

    @get(
        "/quarterly",
        guards=[requires("lead")],
        summary="The board's quarterly report",
        description=DESCRIPTION,
        responses=api_errors(401, 404, 422),
    )
    async def quarterly(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        quarter: Quarter = None,
        from_: FromMonth = None,
        to: ToMonth = None,
    ) -> ReportOut:
        return ReportOut.of(await _report(request, db, settings, quarter, from_, to))

    @get(
        "/quarterly.csv",
        guards=[requires("lead")],
        summary="The board's quarterly report as CSV",
        description=DESCRIPTION + " One row per cell: section, row, column, value.",
        responses=api_errors(401, 404, 422),
        media_type="text/csv",
    )
    async def quarterly_csv(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        quarter: Quarter = None,
        from_: FromMonth = None,
        to: ToMonth = None,
    ) -> Response[str]:
        report = await _report(request, db, settings, quarter, from_, to)
        return Response(service.as_csv(report), media_type="text/csv; charset=utf-8", headers=_filename(report, "csv"))

    @get(
        "/quarterly.pdf",
        guards=[requires("lead")],
        summary="The board's quarterly report as PDF",
        description=DESCRIPTION,
        responses=api_errors(401, 404, 422),
        media_type="application/pdf",
    )
    async def quarterly_pdf(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        quarter: Quarter = None,
        from_: FromMonth = None,
        to: ToMonth = None,
    ) -> Response[bytes]:
        report = await _report(request, db, settings, quarter, from_, to)
        html = views.print_document(report, organisation=settings.organisation_name)
        pdf = await anyio.to_thread.run_sync(lambda: service.as_pdf(html, base_url=str(views.ROOT)))
        return Response(pdf, media_type="application/pdf", headers=_filename(report, "pdf"))
