"""The groups API on both databases: the lead tags a group and its members; the member sees
their group and opts out; a supervisor gets 404 on anyone's membership but their own."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.cast import Cast, signed_in


async def test_member_sees_their_group_and_opts_out(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    async with signed_in(client, cast.lead) as lead:
        made = await lead.post("/api/groups", json={"name": "Control room", "cadence_days": 180})
        assert made.status_code == 201, made.text
        group = made.json()
        twin = await lead.post("/api/groups", json={"name": "control room", "cadence_days": 30})
        assert twin.status_code == 409
        bad = await lead.post("/api/groups", json={"name": "CSI", "cadence_days": 1})
        assert bad.status_code == 422
        put = await lead.put(f"/api/groups/{group['id']}/members", json={"person_ids": [str(cast.responder.id)]})
        assert [m["person_id"] for m in put.json()] == [str(cast.responder.id)]
        listed = (await lead.get("/api/groups")).json()
        assert [(g["name"], g["cadence_days"], g["members"]) for g in listed] == [("Control room", 180, 1)]
    async with signed_in(client, cast.responder) as me:
        mine = (await me.get("/api/me/periodic")).json()
        assert [g["name"] for g in mine["groups"]] == ["Control room"] and mine["opted_out"] is False
        assert (await me.put("/api/me/periodic", json={"opted_out": True})).json()["opted_out"] is True
        assert (await me.get(f"/api/people/{cast.responder.id}/groups")).json()["opted_out"] is True
    async with signed_in(client, cast.lead) as lead:
        assert (await lead.get(f"/api/people/{cast.responder.id}/groups")).json()["opted_out"] is True


async def test_supervisor_gets_404_on_group_membership_of_anyone_but_themselves(
    client: AsyncTestClient[Litestar], cast: Cast
) -> None:
    async with signed_in(client, cast.supervisor) as s:
        assert (await s.get(f"/api/people/{cast.responder.id}/groups")).status_code == 404
        own = await s.get(f"/api/people/{cast.supervisor.id}/groups")
        assert own.status_code == 200 and own.json() == {"groups": [], "opted_out": False}
        assert (await s.get("/api/groups")).status_code == 404
