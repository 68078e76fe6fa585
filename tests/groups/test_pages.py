"""The lead's group pages (design section 14) on both databases: define a group, add people
by staff number, take one out, rename and change the cadence; bad input says what is wrong
and changes nothing; nobody but the lead reaches them (the route matrix says so too)."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from tests.cast import Cast, make_person, signed_in
from tests.conftest import FakeClock
from trim.config import Settings
from trim.db import AsyncSession
from trim.followups import periodic
from trim.followups.models import CheckIn
from trim.groups.models import ExposureGroup, ExposureGroupMember


def form(client: AsyncTestClient[Litestar], **fields: str) -> dict[str, str]:
    return {**fields, "_csrf_token": client.cookies["csrftoken"]}


async def test_the_lead_defines_a_group_adds_people_and_takes_one_out(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    second = await make_person(session, station=cast.station_a, name="Sam Second")
    await session.commit()
    async with signed_in(client, cast.lead) as lead:
        empty = await lead.get("/groups")
        assert empty.status_code == 200 and "No groups yet." in empty.text
        made = await lead.post("/groups", data=form(lead, name="  Control   room ", cadence_days="90"))
        assert made.status_code == 200, made.text  # followed to the group's own page
        assert "Control room defined: add its members below." in made.text
        group_id = re.search(r'action="/groups/([0-9a-f-]{36})/members"', made.text)
        assert group_id
        gid = group_id.group(1)
        added = await lead.post(
            f"/groups/{gid}/members",
            data=form(
                lead, staff_numbers=f"{cast.responder.staff_number}\n{second.staff_number}, {second.staff_number}"
            ),
        )
        assert "2 joined the group." in added.text
        assert cast.responder.name in added.text and second.name in added.text
        again = await lead.post(f"/groups/{gid}/members", data=form(lead, staff_numbers=cast.responder.staff_number))
        assert "Nobody new: they are all in the group already." in again.text
        listed = await lead.get("/groups")
        assert "Control room" in listed.text and "every 90 days · 2 members" in listed.text
    # Members are offered their periodic check-in by the worker.
    assert await periodic.sweep_periodic(session, now=clock(), settings=settings) == 2
    await session.commit()
    async with signed_in(client, cast.lead) as lead:
        out = await lead.post(f"/groups/{gid}/members/{second.id}/remove", data=form(lead))
        assert "Taken out of the group." in out.text and second.name not in out.text
        renamed = await lead.post(f"/groups/{gid}", data=form(lead, name="Control room (night)", cadence_days="60"))
        assert "Control room (night) saved." in renamed.text and "Every 60 days · 1 member" in renamed.text
    members = list(await session.exec(select(ExposureGroupMember.person_id)))
    assert members == [cast.responder.id]
    # The one taken out has their open periodic check-in cancelled (no other group wants it).
    theirs = list(await session.exec(select(CheckIn).where(CheckIn.person_id == second.id)))
    assert [c.outcome for c in theirs] == ["cancelled"]


async def test_bad_input_says_what_is_wrong_and_changes_nothing(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    async with signed_in(client, cast.lead) as lead:
        for cadence in ("", "often", "3", "9999"):
            bad = await lead.post("/groups", data=form(lead, name="CSI", cadence_days=cadence))
            assert bad.status_code == 422 and "A cadence is 7 to 730 days." in bad.text, cadence
            assert 'value="CSI"' in bad.text  # what was typed is kept
        nameless = await lead.post("/groups", data=form(lead, name="  ", cadence_days="30"))
        assert nameless.status_code == 422 and "Name the group (1-80 characters)." in nameless.text
        assert list(await session.exec(select(ExposureGroup))) == []
        made = await lead.post("/groups", data=form(lead, name="CSI", cadence_days="30"))
        gid = re.search(r'action="/groups/([0-9a-f-]{36})/members"', made.text).group(1)  # type: ignore[union-attr]
        twin = await lead.post("/groups", data=form(lead, name="csi", cadence_days="60"))
        assert twin.status_code == 409 and "There is already a group called csi." in twin.text
        unknown = await lead.post(
            f"/groups/{gid}/members", data=form(lead, staff_numbers=f"{cast.responder.staff_number} NOBODY-1")
        )
        assert unknown.status_code == 422
        assert "Not on the roster (or switched off): NOBODY-1. Nobody was added." in unknown.text
        assert "NOBODY-1" in unknown.text.split("<textarea", 1)[1]  # kept in the box to fix
        blank = await lead.post(f"/groups/{gid}/members", data=form(lead, staff_numbers=" \n "))
        assert blank.status_code == 422 and "Give at least one staff number." in blank.text
        assert list(await session.exec(select(ExposureGroupMember))) == []
        bad_change = await lead.post(f"/groups/{gid}", data=form(lead, name="CSI", cadence_days="1"))
        assert bad_change.status_code == 422 and "A cadence is 7 to 730 days." in bad_change.text
        group = (await session.exec(select(ExposureGroup).execution_options(populate_existing=True))).one()
        assert group.cadence_days == 30
        missing = await lead.get("/groups/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404


async def test_nobody_but_the_lead_sees_the_groups_pages(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    for person in (cast.responder, cast.peer, cast.supervisor, cast.admin, cast.clinician):
        async with signed_in(client, person) as someone:
            assert (await someone.get("/groups")).status_code == 404, person.email
