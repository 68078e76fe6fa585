"""High-exposure groups on both databases: the lead defines groups and members; a newcomer
joins now and one who stays keeps their date; a person sees their own groups and opts out
once for all; anyone else (a supervisor) gets 404 on someone's membership."""

from __future__ import annotations

import pytest

from tests.cast import Cast
from tests.conftest import FakeClock
from trim.db import AsyncSession
from trim.errors import Conflict, InvalidInput, NotFound
from trim.groups import service


async def test_lead_defines_a_group_and_sets_its_members(session: AsyncSession, cast: Cast, clock: FakeClock) -> None:
    lead = cast.actor("lead")
    group = await service.define_group(session, actor=lead, name="  Control   room ", cadence_days=180, now=clock())
    assert group.name == "Control room"
    rows = await service.set_members(
        session, actor=lead, group_id=group.id, person_ids=[cast.responder.id], now=clock()
    )
    assert [(m.person_id, m.joined_at) for m in rows] == [(cast.responder.id, clock())]
    first_join = clock()
    clock.advance(days=3)
    rows = await service.set_members(
        session, actor=lead, group_id=group.id, person_ids=[cast.responder.id, cast.peer.id], now=clock()
    )
    # The one who stays keeps their date; the newcomer joins now.
    assert {m.person_id: m.joined_at for m in rows} == {cast.responder.id: first_join, cast.peer.id: clock()}
    rows = await service.set_members(session, actor=lead, group_id=group.id, person_ids=[cast.peer.id], now=clock())
    assert [m.person_id for m in rows] == [cast.peer.id]
    listed = await service.groups(session, actor=lead)
    assert [(g.name, g.cadence_days, g.members) for g in listed] == [("Control room", 180, 1)]


async def test_group_names_are_unique_and_cadence_checked(session: AsyncSession, cast: Cast, clock: FakeClock) -> None:
    lead = cast.actor("lead")
    await service.define_group(session, actor=lead, name="Crime scene", cadence_days=90, now=clock())
    with pytest.raises(Conflict):
        await service.define_group(session, actor=lead, name="crime SCENE", cadence_days=90, now=clock())
    with pytest.raises(InvalidInput) as err:
        await service.define_group(session, actor=lead, name="Image review", cadence_days=3, now=clock())
    assert err.value.errors[0].field == "cadence_days"


async def test_only_the_lead_defines_groups(session: AsyncSession, cast: Cast, clock: FakeClock) -> None:
    for who in ("responder", "peer", "supervisor", "admin"):
        with pytest.raises(NotFound):
            await service.define_group(session, actor=cast.actor(who), name="CSI", cadence_days=90, now=clock())
        with pytest.raises(NotFound):
            await service.groups(session, actor=cast.actor(who))


async def test_a_person_sees_their_own_groups_and_opts_out_once_for_all(
    session: AsyncSession, cast: Cast, clock: FakeClock
) -> None:
    lead = cast.actor("lead")
    group = await service.define_group(session, actor=lead, name="Control room", cadence_days=180, now=clock())
    await service.set_members(session, actor=lead, group_id=group.id, person_ids=[cast.responder.id], now=clock())
    me = cast.actor("responder")
    mine = await service.standing(session, actor=me, person_id=cast.responder.id)
    assert [g.name for g in mine.groups] == ["Control room"] and not mine.opted_out
    out = await service.set_opt_out(session, actor=me, opted_out=True, now=clock())
    assert out.opted_out
    again = await service.set_opt_out(session, actor=me, opted_out=True, now=clock())
    assert again.opted_out
    assert (await service.standing(session, actor=lead, person_id=cast.responder.id)).opted_out
    back = await service.set_opt_out(session, actor=me, opted_out=False, now=clock())
    assert not back.opted_out


async def test_supervisor_gets_404_on_anyone_elses_group_membership(session: AsyncSession, cast: Cast) -> None:
    for who in ("supervisor", "peer", "other_peer", "admin", "clinician"):
        with pytest.raises(NotFound):
            await service.standing(session, actor=cast.actor(who), person_id=cast.responder.id)
    own = await service.standing(session, actor=cast.actor("supervisor"), person_id=cast.supervisor.id)
    assert own.groups == [] and not own.opted_out
