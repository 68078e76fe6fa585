"""High-exposure groups (design section 14), in a real browser: the lead on a phone defines
a group, adds a person by staff number (a wrong number is named and nothing changes), and
takes them out again. The journey makes its own person and group, and leaves neither behind
in a state another journey would meet: the person is switched off at the end."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from tests.e2e.conftest import BrowserFor
from tests.e2e.org import PASSWORD, Member
from tests.e2e.story import Story
from trim.accounts import service as accounts
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person
from trim.accounts.passwords import hash_password
from trim.db import AsyncSession
from trim.groups.models import ExposureGroup, ExposureGroupMember

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_lead_tags_a_group_on_a_phone_and_takes_someone_out(browser_for: BrowserFor, story: Story) -> None:
    live = story.live
    tag = uuid.uuid4().hex[:6]
    station = next(iter(story.org.stations))

    async def make(session: AsyncSession) -> Member:
        person = await accounts.create_person(
            session,
            actor=SYSTEM,
            data=accounts.PersonInput(
                f"G{tag}", "Ffion Lloyd", f"ffion.{tag}@demo.trim.example", story.org.stations[station], ["responder"]
            ),
            password_hash=await hash_password(PASSWORD, profile=live.settings.argon2_profile),
        )
        return Member.of(person)

    person = live.run_db(make)
    name = f"Family liaison {tag}"
    try:
        with browser_for("lead tags a group", phone=True) as ui:
            page = ui.page
            ui.sign_in(story.org.lead.email, PASSWORD)
            ui.menu("Groups")
            expect(page.get_by_role("heading", level=1)).to_have_text("High-exposure groups")
            ui.check("groups", docs="lead-groups-phone")
            page.get_by_label("Name (for example Control room)").fill(name)
            page.get_by_label("Check in every (days)").fill("60")
            page.get_by_role("button", name="Define").click()
            expect(page.locator(".flash")).to_contain_text(f"{name} defined: add its members below.")
            expect(page.get_by_role("heading", level=1)).to_have_text(name)
            ui.check("a new group")
            box = page.get_by_label("Staff numbers, one a line or separated by commas")
            box.fill(f"{person.staff_number}\nNOBODY-{tag}")
            page.get_by_role("button", name="Add", exact=True).click()
            expect(page.locator("main")).to_contain_text(f"Not on the roster (or switched off): NOBODY-{tag}.")
            expect(box).to_have_value(f"{person.staff_number}\nNOBODY-{tag}")  # kept, to fix
            ui.check("a wrong staff number")
            box.fill(person.staff_number)
            page.get_by_role("button", name="Add", exact=True).click()
            expect(page.locator(".flash")).to_contain_text("1 joined the group.")
            expect(page.locator("main")).to_contain_text(f"{person.name} {person.staff_number} · since")
            ui.check("a member", docs="lead-group-phone")
            page.get_by_role("button", name=f"Take out {person.name} from {name}").click()
            expect(page.locator(".flash")).to_contain_text("Taken out of the group.")
            expect(page.locator("main")).to_contain_text("Nobody yet.")
            ui.check("taken out")

        async def members(session: AsyncSession) -> list[uuid.UUID]:
            group = (await session.exec(select(ExposureGroup).where(ExposureGroup.name == name))).one()
            rows = await session.exec(
                select(ExposureGroupMember.person_id).where(ExposureGroupMember.group_id == group.id)
            )
            return list(rows)

        assert live.run_db(members) == []
    finally:

        async def retire(session: AsyncSession) -> None:
            await session.exec(update(Person).where(col(Person.id) == person.id).values(active=False))

        live.run_db(retire)
