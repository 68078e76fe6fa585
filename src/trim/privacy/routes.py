"""The person's own record (page, JSON, CSV) and the admin's view of the audit log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Template
from sqlmodel import col, func, select

from trim.accounts import service as accounts
from trim.accounts.auth import current_actor, requires, signed_in
from trim.deps import Conf, Db
from trim.privacy import record
from trim.privacy.models import AuditEvent
from trim.web import api_errors, now_of, page

AUDIT_PAGE = 100


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
        return await record.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))


class RecordPages(Controller):
    include_in_schema = False

    @get("/me", guards=[signed_in])
    async def mine(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        data = await record.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))
        return page(request, "privacy/record.html", record=data)

    @get("/me/record.csv", guards=[signed_in])
    async def mine_csv(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[str]:
        data = await record.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))
        return Response(
            record.record_csv(data),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="my-trim-record.csv"'},
        )


class AuditPages(Controller):
    path = "/admin/audit"
    include_in_schema = False

    @get("/", guards=[requires("admin")])
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        before: FromQuery[int | None] = None,
        action: FromQuery[str | None] = None,
    ) -> Template:
        """Metadata only: who, when, what kind of action, which record id. Never content."""
        stmt = select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(AUDIT_PAGE)
        if before:
            stmt = stmt.where(col(AuditEvent.seq) < before)
        if action:
            stmt = stmt.where(col(AuditEvent.action) == action)
        events = list(await db.exec(stmt))
        actions = list(
            await db.exec(select(AuditEvent.action).group_by(col(AuditEvent.action)).order_by(col(AuditEvent.action)))
        )
        total = int((await db.exec(select(func.count()).select_from(AuditEvent))).one())
        names = await accounts.names_by_id(db, [e.actor_id for e in events])
        return page(
            request,
            "privacy/audit.html",
            events=events,
            names=names,
            actions=actions,
            total=total,
            action=action or "",
            next_before=events[-1].seq if len(events) == AUDIT_PAGE else None,
        )
