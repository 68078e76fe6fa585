"""/api/groups (the lead's high-exposure groups), /api/people/{id}/groups (a person's own, or
the lead's view) and /api/me/periodic (the person's opt-out): design section 14."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody

from trim.deps import Db
from trim.groups import service
from trim.groups.models import ExposureGroupMember
from trim.groups.schemas import (
    GroupIn,
    GroupOut,
    MemberOut,
    MembershipOut,
    MembersIn,
    PeriodicIn,
    PeriodicOut,
)
from trim.guards import current_actor, requires
from trim.web import api_errors, now_of


def standing_out(s: service.PeriodicStanding) -> PeriodicOut:
    return PeriodicOut(
        groups=[
            MembershipOut(group_id=m.group_id, name=m.name, cadence_days=m.cadence_days, joined_at=m.joined_at)
            for m in s.groups
        ],
        opted_out=s.opted_out,
    )


def members_out(rows: list[ExposureGroupMember]) -> list[MemberOut]:
    return [MemberOut(person_id=m.person_id, joined_at=m.joined_at) for m in rows]


class GroupsApi(Controller):
    path = "/api"
    tags = ["high-exposure groups"]

    @get(
        "/groups",
        guards=[requires("lead")],
        summary="Every high-exposure group with its cadence and member count",
        responses=api_errors(401, 404),
    )
    async def list_groups(self, request: Request[Any, Any, Any], db: Db) -> list[GroupOut]:
        rows = await service.groups(db, actor=current_actor(request))
        return [GroupOut(id=g.id, name=g.name, cadence_days=g.cadence_days, members=g.members) for g in rows]

    @post(
        "/groups",
        guards=[requires("lead")],
        summary="The lead defines a high-exposure group with a cadence in days (7-730)",
        description="409 when the name is taken (ignoring case); 422 for a cadence out of range.",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def define(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[GroupIn]) -> GroupOut:
        g = await service.define_group(
            db, actor=current_actor(request), name=data.name, cadence_days=data.cadence_days, now=now_of(request)
        )
        return GroupOut(id=g.id, name=g.name, cadence_days=g.cadence_days, members=0)

    @put(
        "/groups/{group_id:uuid}",
        guards=[requires("lead")],
        summary="The lead renames a group or changes its cadence",
        responses=api_errors(400, 401, 403, 404, 409, 422),
    )
    async def change(
        self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID], data: JSONBody[GroupIn]
    ) -> GroupOut:
        actor = current_actor(request)
        g = await service.change_group(
            db, actor=actor, group_id=group_id, name=data.name, cadence_days=data.cadence_days, now=now_of(request)
        )
        count = len(await service.members(db, actor=actor, group_id=group_id))
        return GroupOut(id=g.id, name=g.name, cadence_days=g.cadence_days, members=count)

    @get(
        "/groups/{group_id:uuid}/members",
        guards=[requires("lead")],
        summary="Who is in a group and since when",
        responses=api_errors(401, 404),
    )
    async def members(self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID]) -> list[MemberOut]:
        return members_out(await service.members(db, actor=current_actor(request), group_id=group_id))

    @put(
        "/groups/{group_id:uuid}/members",
        guards=[requires("lead")],
        summary="The lead sets a group's members",
        description="A newcomer joins now (their first periodic check-in falls due then); one who stays keeps "
        "their date; one left out leaves. 422 naming how many are not active on the roster.",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def set_members(
        self, request: Request[Any, Any, Any], db: Db, group_id: FromPath[uuid.UUID], data: JSONBody[MembersIn]
    ) -> list[MemberOut]:
        rows = await service.set_members(
            db, actor=current_actor(request), group_id=group_id, person_ids=data.person_ids, now=now_of(request)
        )
        return members_out(rows)

    @get(
        "/people/{person_id:uuid}/groups",
        summary="A person's high-exposure groups and periodic opt-out: themselves or the lead; anyone else 404",
        responses=api_errors(401, 404),
    )
    async def person_groups(
        self, request: Request[Any, Any, Any], db: Db, person_id: FromPath[uuid.UUID]
    ) -> PeriodicOut:
        return standing_out(await service.standing(db, actor=current_actor(request), person_id=person_id))

    @get(
        "/me/periodic",
        summary="My high-exposure groups and whether I opted out of periodic check-ins",
        responses=api_errors(401, 404),
    )
    async def own(self, request: Request[Any, Any, Any], db: Db) -> PeriodicOut:
        return standing_out(await service.own_standing(db, actor=current_actor(request)))

    @put(
        "/me/periodic",
        summary="Opt out of periodic check-ins once for all, or back in (no reason asked)",
        responses=api_errors(400, 401, 403, 404, 422),
    )
    async def set_own(self, request: Request[Any, Any, Any], db: Db, data: JSONBody[PeriodicIn]) -> PeriodicOut:
        s = await service.set_opt_out(db, actor=current_actor(request), opted_out=data.opted_out, now=now_of(request))
        return standing_out(s)
