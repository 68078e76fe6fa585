"""GET /api/dashboard: the lead's figures, the same service calls as the page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from trim.dashboard import service
from trim.dashboard.schemas import DashboardOut, From, Kind, StationId, To
from trim.deps import AnalyticsDb, Conf, Db
from trim.guards import current_actor, requires
from trim.web import api_errors, now_of


class DashboardApi(Controller):
    path = "/api/dashboard"
    tags = ["dashboard"]

    @get(
        "/",
        guards=[requires("lead")],
        summary="The programme lead's figures, small numbers suppressed",
        description="Live from the database, or from the read replica when one is set up: `source` says which, "
        "and `replica_as_of`, when set, the time up to which the figures are complete (the replica was behind). "
        'A count about fewer than k people (setting, default 5) is the string "<5" (generally "<k"); a cell hidden so '
        'that another cannot be worked out by subtraction is "*"; '
        "everything else is a number. The programme lead only.",
        responses=api_errors(400, 401, 404, 422),
    )
    async def read(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        analytics: AnalyticsDb,
        settings: Conf,
        from_: From = None,
        to: To = None,
        station_id: StationId = None,
        kind: Kind = None,
    ) -> DashboardOut:
        now = now_of(request)
        filters = await service.read_filters(
            db, from_text=from_, to_text=to, station_text=station_id, kind_text=kind, now=now, settings=settings
        )
        actor = current_actor(request)
        figures = await analytics.read(
            lambda session: service.dashboard(session, actor=actor, filters=filters, now=now, settings=settings)
        )
        return DashboardOut.of(figures, read_from=analytics.read_from)
