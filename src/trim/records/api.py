"""The person's own record as JSON: /api/me/record."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from trim.deps import Conf, Db
from trim.guards import current_actor, signed_in
from trim.records import service as records
from trim.web import api_errors, now_of


class RecordApi(Controller):
    path = "/api/me"
    tags = ["me"]

    @get(
        "/record",
        guards=[signed_in],
        summary="Everything held about me, and who read it",
        responses=api_errors(401, 404),
    )
    async def my_record(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> dict[str, Any]:
        return await records.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))
