"""Privileged roles are visible (design 3a): creating a person with, or granting, the lead,
clinician or admin role is listed on the lead's overview and emailed to every lead; a
roster import that grants one says so line by line. Emails go through the real worker to
a real SMTP server on loopback; this folder's conftest scans each for names and addresses.
"""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete
from sqlmodel import col, select

from tests.cast import Cast, make_person, signed_in
from tests.notifications.conftest import MailServer, Workers
from tests.notifications.test_getting_in import csrf
from trim.accounts.models import Person
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession
from trim.notifications.models import OutboxMessage
from trim.privacy.models import AuditEvent

NOTICE = "A role with wider access was granted"


@pytest.fixture
async def second_lead(session: AsyncSession, cast: Cast) -> Person:
    """Another programme lead already in post (so "every lead" means more than one)."""
    lead = await make_person(session, roles=["lead"], name="Perpetua Standish", email="lead2@example.org")
    await session.exec(delete(OutboxMessage))  # the notice of their own arrival is not part of the story
    await session.commit()
    return lead


def notices(server: MailServer) -> list[str]:
    return sorted(str(m["To"]) for m in server.messages if m["Subject"] == NOTICE)


async def overview_of_lead(client: AsyncTestClient[Litestar], cast: Cast) -> str:
    """The "Recent role changes" part of the lead's overview ("" when there is none)."""
    async with signed_in(client, cast.lead) as lead:
        page = await lead.get("/overview")
        assert page.status_code == 200
    found = re.search(r'<section aria-labelledby="h-roles">.*?</section>', page.text, re.DOTALL)
    return found.group(0) if found else ""


async def test_creating_a_lead_on_the_admin_page_reaches_the_overview_and_every_lead(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    second_lead: Person,
    session: AsyncSession,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    async with signed_in(client, cast.admin) as admin:
        added = await admin.post(
            "/admin/people",
            data={
                "name": "Quillon Ashdown",
                "staff_number": "X-1",
                "email": "quillon@example.org",
                "roles": ["lead", "admin"],
                "_csrf_token": await csrf(admin),
            },
            follow_redirects=False,
        )
        assert added.status_code == 303
    await workers.new().tick()
    # Every lead already in post is told; the newcomer is not sent the notice about themselves.
    assert notices(smtp_server) == sorted([cast.lead.email, second_lead.email])
    (message,) = [m for m in smtp_server.messages if m["To"] == cast.lead.email]
    assert "programme lead and administrator roles" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = await overview_of_lead(client, cast)
    assert "Quillon Ashdown" in page and "was created with lead, admin" in page and "wider access" in page
    newcomer = (await session.exec(select(Person).where(Person.staff_number == "X-1"))).one()
    event = (
        await session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "person.roles_changed", AuditEvent.target_id == str(newcomer.id)
            )
        )
    ).one()
    assert event.actor_id == str(cast.admin.id) and event.details["created"] is True


async def test_creating_a_responder_or_peer_tells_no_lead(
    client: AsyncTestClient[Litestar], cast: Cast, second_lead: Person, workers: Workers, smtp_server: MailServer
) -> None:
    async with signed_in(client, cast.admin) as admin:
        added = await admin.post(
            "/admin/people",
            data={
                "name": "Ordinal Pemberton",
                "staff_number": "X-2",
                "email": "ordinal@example.org",
                "roles": ["responder", "peer"],
                "_csrf_token": await csrf(admin),
            },
            follow_redirects=False,
        )
        assert added.status_code == 303
    await workers.new().tick()
    assert notices(smtp_server) == []
    assert "Ordinal Pemberton" not in await overview_of_lead(client, cast)


async def test_granting_the_clinician_role_later_reaches_the_overview_and_every_lead(
    client: AsyncTestClient[Litestar], cast: Cast, second_lead: Person, workers: Workers, smtp_server: MailServer
) -> None:
    async with signed_in(client, cast.admin) as admin:
        saved = await admin.post(
            f"/admin/people/{cast.supervisor.id}",
            data={
                "name": cast.supervisor.name,
                "staff_number": cast.supervisor.staff_number,
                "email": cast.supervisor.email,
                "station_id": str(cast.station_a.id),
                "roles": ["supervisor", "responder", "clinician"],
                "_csrf_token": await csrf(admin),
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303
    await workers.new().tick()
    assert notices(smtp_server) == sorted([cast.lead.email, second_lead.email])
    supervisor = [str(m["Subject"]) for m in smtp_server.messages if m["To"] == cast.supervisor.email]
    assert supervisor == ["Your roles have changed"]  # told of their own change, not sent the leads' notice
    page = await overview_of_lead(client, cast)
    assert re.search(re.escape(cast.supervisor.name) + r"\s+gained clinician", page)
    assert "wider access" in page


ROSTER_HEADER = "staff_number,name,email,station,roles\n"


async def test_a_roster_import_granting_privileged_roles_says_so_line_by_line_and_tells_every_lead_once(
    client: AsyncTestClient[Litestar],
    cast: Cast,
    second_lead: Person,
    workers: Workers,
    smtp_server: MailServer,
) -> None:
    supervisor = cast.supervisor
    roster = ROSTER_HEADER + (
        "R-1,Tamsin Overbury,tamsin@example.org,Depot,responder\n"
        "R-2,Evander Holloway,evander@example.org,Depot,admin\n"
        f"{supervisor.staff_number},{supervisor.name},{supervisor.email},,supervisor;responder;lead\n"
    )
    async with signed_in(client, cast.admin) as admin:
        for attempt in range(2):  # importing the same file again grants nothing, tells nobody
            response = await admin.post(
                "/admin/roster",
                files={"file": ("roster.csv", roster.encode(), "text/csv")},
                data={"_csrf_token": await csrf(admin)},
            )
            assert response.status_code == 200
            if attempt == 0:
                assert "2 lines gave a role with wider access" in response.text
                assert "<td>3</td><td>Evander Holloway (R-2)</td><td>Administrator</td><td>New</td>" in response.text
                assert (
                    f"<td>4</td><td>{supervisor.name} ({supervisor.staff_number})</td><td>Programme lead</td>"
                    "<td>Existing</td>"
                ) in response.text
                assert "Tamsin Overbury" not in response.text
            else:
                assert "gave a role with wider access" not in response.text
            await workers.new().tick()
    # One email to each lead in post (the supervisor, a lead now, is told of their own roles instead).
    assert notices(smtp_server) == sorted([cast.lead.email, second_lead.email])
    (message,) = [m for m in smtp_server.messages if m["To"] == second_lead.email]
    assert "2 accounts on the peer support service were given the programme lead and administrator roles" in (
        message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    )
    page = await overview_of_lead(client, cast)
    assert "Evander Holloway" in page and "was created with admin" in page
    assert supervisor.name in page and "gained lead" in page
    assert "Tamsin Overbury" not in page


async def test_the_cli_says_which_lines_grant_privileged_roles_and_trim_users_create_tells_the_leads(
    settings: Settings, session: AsyncSession, cast: Cast, second_lead: Person, tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(ROSTER_HEADER + "R-9,Wystan Carrow,wystan@example.org,,clinician\nR-10,Bo Lam,bo@example.org,,\n")
    runner = CliRunner()
    env = {"TRIM_DATABASE_URL": settings.database_url}
    imported = await anyio.to_thread.run_sync(lambda: runner.invoke(main, ["roster", "import", str(path)], env=env))
    assert imported.exit_code == 0, imported.output
    assert "line 2: Wystan Carrow (R-9), new account with a role with wider access: clinician" in imported.output
    assert "1 line(s) gave a role with wider access; every programme lead has been told" in imported.output
    assert "Bo Lam" not in imported.output
    created = await anyio.to_thread.run_sync(
        lambda: runner.invoke(
            main,
            ["users", "create", "--email", "zeb@example.org", "--name", "Zeb Hart", "--staff-number", "Z-1",
             "--roles", "admin"],
            env=env,
        )
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "every programme lead has been told" in created.output
    rows = list(
        await session.exec(
            select(OutboxMessage.to_address, OutboxMessage.body)
            .where(OutboxMessage.subject == NOTICE)
            .order_by(col(OutboxMessage.to_address))
        )
    )
    # Each lead twice: once for the import, once for `trim users create`.
    assert sorted(address for address, _ in rows) == sorted([cast.lead.email, second_lead.email] * 2)
    assert any("created with the administrator role" in body for _, body in rows)
