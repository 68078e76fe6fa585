"""The person's own record (page and CSV) and the admin's view of the audit log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromQuery
from litestar.response import Template

from trim.accounts import service as accounts
from trim.deps import Conf, Db
from trim.guards import current_actor, requires, signed_in
from trim.records import service as records
from trim.web import PageNumber, nav_item, now_of, page

AUDIT_PAGE = 100


# This area's navigation entries; place orders them among every area's (app.py composes).
NAV = (nav_item("Audit log", "/admin/audit", "admin", place=120),)


class RecordPages(Controller):
    include_in_schema = False

    @get("/me", guards=[signed_in])
    async def mine(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Template:
        data = await records.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))
        grouped = records.group_reads(data["reads"], zone=settings.zone)
        readers = len({r["who"] for r in data["reads"]})
        return page(request, "privacy/record.html", record=data, reads=grouped, readers=readers)

    @get("/me/record.csv", guards=[signed_in])
    async def mine_csv(self, request: Request[Any, Any, Any], db: Db, settings: Conf) -> Response[str]:
        data = await records.own_record(db, actor=current_actor(request), settings=settings, now=now_of(request))
        return Response(
            records.record_csv(data),
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
        page_number: PageNumber = 1,
        action: FromQuery[str | None] = None,
    ) -> Template:
        """Metadata only: who, when (to the minute), what kind of action, which record id.
        Never content, and never what a person did about themselves."""
        page_number = max(1, page_number)
        found = await records.admin_audit_page(
            db, action=action or None, limit=AUDIT_PAGE, offset=(page_number - 1) * AUDIT_PAGE
        )
        names = await accounts.names_by_id(db, [line.actor_id for line in found.lines])
        return page(
            request,
            "privacy/audit.html",
            lines=found.lines,
            names=names,
            actions=found.actions,
            total=found.total,
            action=action or "",
            page_number=page_number,
            pages=max(1, (found.total + AUDIT_PAGE - 1) // AUDIT_PAGE),
        )
