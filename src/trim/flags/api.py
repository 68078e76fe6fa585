"""The flags' /api routes: the flags in the caller's scope, and closing one."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from trim.deps import Conf, Db
from trim.flags import service
from trim.flags.schemas import AcknowledgedOut, AcknowledgeIn, CloseIn, FlagOut, FlagStatusOut, MonitorIn, MonitoringOut
from trim.guards import current_actor, requires, signed_in
from trim.web import Limit, Offset, api_errors, now_of


class FlagApi(Controller):
    path = "/api"
    tags = ["flags and referrals"]

    @get(
        "/flags",
        guards=[signed_in],
        summary="Flags in the caller's scope, newest first",
        responses=api_errors(400, 401, 404),
    )
    async def flags(
        self, request: Request[Any, Any, Any], db: Db, limit: Limit = 100, offset: Offset = 0
    ) -> list[FlagOut]:
        actor = current_actor(request)
        found = await service.list_flags(db, actor=actor, limit=limit, offset=offset)
        unnamed = await service.unnamed_flags(db, actor=actor, flags=found)
        return [
            FlagOut(
                id=f.id,
                person_id=None if f.id in unnamed else f.person_id,
                cause=f.cause,
                status=f.status,
                urgent=f.urgent,
                raised_at=f.raised_at,
            )
            for f in found
        ]

    @post(
        "/flags/{flag_id:uuid}/acknowledge",
        guards=[requires("peer", "lead")],
        status_code=200,
        summary="Acknowledge an urgent flag: what was done straight away (the first answer stands)",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def acknowledge(
        self, request: Request[Any, Any, Any], db: Db, flag_id: FromPath[uuid.UUID], data: JSONBody[AcknowledgeIn]
    ) -> AcknowledgedOut:
        flag = await service.acknowledge_flag(
            db,
            actor=current_actor(request),
            flag_id=flag_id,
            action=data.action,
            note=data.note,
            now=now_of(request),
        )
        assert flag.acknowledged_at is not None and flag.acknowledged_action is not None
        return AcknowledgedOut(id=flag.id, acknowledged_at=flag.acknowledged_at, action=flag.acknowledged_action)

    @post(
        "/flags/{flag_id:uuid}/close",
        guards=[requires("peer", "lead")],
        status_code=200,
        summary="Close a flag with a reason",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def close(
        self, request: Request[Any, Any, Any], db: Db, flag_id: FromPath[uuid.UUID], data: JSONBody[CloseIn]
    ) -> FlagStatusOut:
        flag = await service.close_flag(
            db, actor=current_actor(request), flag_id=flag_id, reason=data.reason, now=now_of(request)
        )
        return FlagStatusOut(id=flag.id, status=flag.status)

    @post(
        "/flags/{flag_id:uuid}/monitor",
        guards=[requires("peer", "lead")],
        status_code=200,
        summary="Resolve a flag by watchful waiting: an extra check-in (kind monitor) in 7-28 days",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def monitor(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: Conf,
        flag_id: FromPath[uuid.UUID],
        data: JSONBody[MonitorIn],
    ) -> MonitoringOut:
        watched = await service.monitor_flag(
            db, actor=current_actor(request), flag_id=flag_id, days=data.days, now=now_of(request), settings=settings
        )
        return MonitoringOut(id=watched.flag.id, status=watched.flag.status, checkin_id=watched.checkin.id)
