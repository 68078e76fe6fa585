"""The lead's dashboard page (/dashboard) and its CSV (/dashboard.csv)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Template

from trim.accounts import service as accounts
from trim.analytics import as_of_text
from trim.dashboard import service, views
from trim.dashboard.schemas import From, To
from trim.deps import AnalyticsDb, Conf, Db
from trim.errors import InvalidInput
from trim.guards import current_actor, requires
from trim.web import nav_item, now_of, page

NAV = (nav_item("Dashboard", "/dashboard", "lead", place=60),)


class DashboardPages(Controller):
    include_in_schema = False

    @get("/dashboard", guards=[requires("lead")])
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        analytics: AnalyticsDb,
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
        actor = current_actor(request)
        figures = await analytics.read(
            lambda session: service.dashboard(session, actor=actor, filters=filters, now=now, settings=settings)
        )
        return page(
            request,
            "dashboard/index.html",
            view=views.page_view(figures, stations={s.id: s.name for s in stations}),
            as_of=as_of_text(analytics.read_from, settings.zone),
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
        analytics: AnalyticsDb,
        settings: Conf,
        from_: From = None,
        to: To = None,
        station_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Response[str]:
        """Every figure as one tidy CSV: figure, measure, dimensions..., value."""
        now = now_of(request)
        filters = await service.read_filters(
            db, from_text=from_, to_text=to, station_text=station_id, kind_text=kind, now=now, settings=settings
        )
        actor = current_actor(request)
        figures = await analytics.read(
            lambda session: service.dashboard(session, actor=actor, filters=filters, now=now, settings=settings)
        )
        name = f"trim-dashboard-{now.strftime('%Y%m%d')}.csv"
        read_from = analytics.read_from
        # Where the figures were read, beside the file (its rows stay the figures alone).
        where: dict[str, str] = {"x-figures-source": read_from.source}
        if read_from.as_of is not None:
            where["x-replica-as-of"] = read_from.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Response(
            views.as_csv(figures),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"', **where},
        )
