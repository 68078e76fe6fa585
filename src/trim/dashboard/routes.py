"""The lead's dashboard: the page (/dashboard), its CSV (/dashboard.csv) and
GET /api/dashboard. The same service call behind all three."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template

from trim.accounts import service as accounts
from trim.accounts.auth import current_actor, requires
from trim.dashboard import service, views
from trim.dashboard.figures import Dashboard
from trim.dashboard.schemas import DashboardOut
from trim.deps import Conf, Db
from trim.errors import InvalidInput
from trim.web import api_errors, nav_item, now_of, page

From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="Start: a date (YYYY-MM-DD, the start of that day in the organisation's zone) or an ISO "
        "date-time (widened to the start of its day: periods are whole days). Default: the first of the month "
        "eleven months back.",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        description="End: a date (the whole of that day is included) or an ISO date-time (widened to the end "
        "of its day). Default: the end of today. The answer's from_date and to_date say the range used.",
    ),
]
StationId = Annotated[str | None, QueryParameter(description="Only incidents at this station (a station id).")]
Kind = Annotated[
    str | None,
    QueryParameter(description="Only incidents of this kind; requests for a peer have no kind and stay unfiltered."),
]


# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (nav_item("Dashboard", "/dashboard", "lead", place=60),)


async def _figures(
    request: Request[Any, Any, Any],
    db: Db,
    settings: Conf,
    from_: str | None,
    to: str | None,
    station_id: str | None,
    kind: str | None,
    now: datetime,
) -> Dashboard:
    """The figures for the filters as asked (a 422 naming each bad one)."""
    filters = await service.read_filters(
        db, from_text=from_, to_text=to, station_text=station_id, kind_text=kind, now=now, settings=settings
    )
    return await service.dashboard(db, actor=current_actor(request), filters=filters, now=now, settings=settings)


class DashboardApi(Controller):
    path = "/api/dashboard"
    tags = ["dashboard"]

    @get(
        "/",
        guards=[requires("lead")],
        summary="The programme lead's figures, small numbers suppressed",
        description="Live from the database. A count about fewer than k people (setting, default 5) is the string "
        '"<5" (generally "<k"); a cell hidden so that another cannot be worked out by subtraction is "*"; '
        "everything else is a number. The programme lead only.",
        responses=api_errors(400, 401, 404, 422),
    )
    async def read(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        from_: From = None,
        to: To = None,
        station_id: StationId = None,
        kind: Kind = None,
    ) -> DashboardOut:
        now = now_of(request)
        figures = await _figures(request, db, settings, from_, to, station_id, kind, now)
        return DashboardOut.of(figures)


class DashboardPages(Controller):
    include_in_schema = False

    @get("/dashboard", guards=[requires("lead")])
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        from_: From = None,
        to: To = None,
        station_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Template:
        """Charts a person reads at a glance, each with its table, and the filters."""
        now = now_of(request)
        values = {"from": from_ or "", "to": to or "", "station_id": station_id or "", "kind": kind or ""}
        stations = await accounts.list_stations(db, include_inactive=True)
        try:
            filters = await service.read_filters(
                db, from_text=from_, to_text=to, station_text=station_id, kind_text=kind, now=now, settings=settings
            )
        except InvalidInput as exc:
            return page(
                request,
                "dashboard/index.html",
                status=422,
                view=None,
                stations=stations,
                kinds=views.KINDS,
                values=values,
                errors=exc.field_messages(),
            )
        figures = await service.dashboard(db, actor=current_actor(request), filters=filters, now=now, settings=settings)
        return page(
            request,
            "dashboard/index.html",
            view=views.page_view(figures, stations={s.id: s.name for s in stations}),
            stations=stations,
            kinds=views.KINDS,
            values=values,
            csv_query=request.url.query,
        )

    @get("/dashboard.csv", guards=[requires("lead")])
    async def export(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        from_: From = None,
        to: To = None,
        station_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Response[str]:
        """Every figure as one tidy CSV: figure, measure, dimensions..., value."""
        now = now_of(request)
        figures = await _figures(request, db, settings, from_, to, station_id, kind, now)
        name = f"trim-dashboard-{now.strftime('%Y%m%d')}.csv"
        return Response(
            views.as_csv(figures),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
