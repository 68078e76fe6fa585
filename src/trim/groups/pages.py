"""The lead's pages for high-exposure groups (design section 14): every group with its
cadence and member count, defining one, and one group's page (rename, change the cadence,
add people by staff number, take someone out). The API (/api/groups) does the same."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from trim.deps import Db
from trim.errors import Conflict, FieldError, InvalidInput
from trim.groups import rules, service
from trim.guards import current_actor, requires
from trim.web import form_data, nav_item, now_of, page, redirect

# This area's navigation entry; place orders it among every area's (app.py composes).
NAV = (nav_item("Groups", "/groups", "lead", place=105),)

CADENCE_MESSAGE = f"A cadence is {rules.CADENCE_MIN_DAYS} to {rules.CADENCE_MAX_DAYS} days."


def _cadence(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        raise InvalidInput(
            "The group is not valid: " + CADENCE_MESSAGE, [FieldError("cadence_days", CADENCE_MESSAGE)]
        ) from None


class GroupPages(Controller):
    path = "/groups"
    include_in_schema = False

    @get("/", guards=[requires("lead")])
    async def index(self, request: Request[Any, Any, Any], db: Db) -> Template:
        return await self._index(request, db)

    async def _index(self, request: Request[Any, Any, Any], db: Db, **context: Any) -> Template:
        return page(
            request,
            "groups/index.html",
            groups=await service.groups(db, actor=current_actor(request)),
            cadence_min=rules.CADENCE_MIN_DAYS,
            cadence_max=rules.CADENCE_MAX_DAYS,
            **context,
        )

    @post("/", guards=[requires("lead")])
    async def define(self, request: Request[Any, Any, Any], db: Db) -> Template | Redirect:
        form = await form_data(request)
        try:
            group = await service.define_group(
                db,
                actor=current_actor(request),
                name=form.get("name", ""),
                cadence_days=_cadence(form.get("cadence_days")),
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await self._index(request, db, status=422, values=form, errors=exc.field_messages())
        except Conflict as exc:
            return await self._index(request, db, status=409, values=form, errors={"name": exc.detail})
        return redirect(request, f"/groups/{group.id}", f"{group.name} defined: add its members below.")

    @get("/{group_id:uuid}", guards=[requires("lead")])
    async def detail(self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID]) -> Template:
        return await self._detail(request, db, group_id)

    async def _detail(self, request: Request[Any, Any, Any], db: Db, group_id: uuid.UUID, **context: Any) -> Template:
        actor = current_actor(request)
        found = await service.one_group(db, actor=actor, group_id=group_id)  # 404 for an unknown group
        members = await service.member_rows(db, actor=actor, group_id=group_id)
        group = service.GroupRow(found.id, found.name, found.cadence_days, len(members))
        context.setdefault("values", {"name": group.name, "cadence_days": str(group.cadence_days)})
        return page(
            request,
            "groups/group.html",
            group=group,
            members=members,
            cadence_min=rules.CADENCE_MIN_DAYS,
            cadence_max=rules.CADENCE_MAX_DAYS,
            **context,
        )

    @post("/{group_id:uuid}", guards=[requires("lead")])
    async def change(
        self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID]
    ) -> Template | Redirect:
        form = await form_data(request)
        try:
            group = await service.change_group(
                db,
                actor=current_actor(request),
                group_id=group_id,
                name=form.get("name", ""),
                cadence_days=_cadence(form.get("cadence_days")),
                now=now_of(request),
            )
        except InvalidInput as exc:
            return await self._detail(request, db, group_id, status=422, values=form, errors=exc.field_messages())
        except Conflict as exc:
            return await self._detail(request, db, group_id, status=409, values=form, errors={"name": exc.detail})
        return redirect(request, f"/groups/{group_id}", f"{group.name} saved.")

    @post("/{group_id:uuid}/members", guards=[requires("lead")])
    async def add(self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID]) -> Template | Redirect:
        form = await form_data(request)
        try:
            joined = await service.add_members(
                db,
                actor=current_actor(request),
                group_id=group_id,
                staff_numbers=form.get("staff_numbers", ""),
                now=now_of(request),
            )
        except InvalidInput as exc:  # refused before anything was written
            return await self._detail(
                request, db, group_id, status=422, adding=form.get("staff_numbers", ""), errors=exc.field_messages()
            )
        said = "Nobody new: they are all in the group already." if joined == 0 else f"{joined} joined the group."
        return redirect(request, f"/groups/{group_id}", said)

    @post("/{group_id:uuid}/members/{person_id:uuid}/remove", guards=[requires("lead")])
    async def remove(
        self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID], person_id: FromPath[uuid.UUID]
    ) -> Redirect:
        removed = await service.remove_member(
            db, actor=current_actor(request), group_id=group_id, person_id=person_id, now=now_of(request)
        )
        said = "Taken out of the group." if removed else "They were not in the group."
        return redirect(request, f"/groups/{group_id}", said)
