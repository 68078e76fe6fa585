"""Roster import: from the command line and the admin page."""

from __future__ import annotations

from pathlib import Path

import anyio
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select

from tests.cast import Cast, sign_in
from trim.accounts import service
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person, Station
from trim.accounts.roster import import_roster
from trim.cli import main
from trim.config import Settings
from trim.db import AsyncSession, utcnow
from trim.errors import InvalidInput
from trim.privacy.models import AuditEvent

GOOD = (
    "staff_number,name,email,station,roles\n"
    "F100,Ana Lopez,ana@example.org,North Station,peer;responder\n"
    "F101,Ben Ode,ben@example.org,North Station,\n"
    "F102,Cy Park,cy@example.org,South Station,supervisor\n"
)
WITH_BAD_ROWS = GOOD + (
    "F103,,nobody@example.org,North Station,\n"
    "F104,Di Moss,not-an-email,North Station,\n"
    "F105,Ed Nye,ed@example.org,North Station,chief\n"
    "F100,Ana Again,ana2@example.org,North Station,\n"
)


async def _count(session: AsyncSession, model: type) -> int:
    return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_import_creates_people_and_stations(session: AsyncSession, settings: Settings) -> None:
    report = await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert sorted(report.stations_created) == ["North Station", "South Station"]
    ana = await service.person_by_staff_number(session, "F100")
    assert ana is not None
    assert await service.roles_of(session, ana.id) == ["responder", "peer"]
    ben = await service.person_by_staff_number(session, "F101")
    assert ben is not None and await service.roles_of(session, ben.id) == ["responder"]


async def test_import_twice_changes_nothing(session: AsyncSession, settings: Settings) -> None:
    await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    again = await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert await _count(session, Person) == 3
    assert await _count(session, Station) == 2


async def test_import_updates_by_staff_number(session: AsyncSession, settings: Settings) -> None:
    await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    changed = GOOD.replace(
        "F101,Ben Ode,ben@example.org,North Station,", "F101,Ben Ode-Smith,ben@example.org,South Station,peer"
    )
    report = await import_roster(session, actor=SYSTEM, data=changed.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    session.expire_all()
    ben = await service.person_by_staff_number(session, "F101")
    assert ben is not None and ben.name == "Ben Ode-Smith"
    assert await service.roles_of(session, ben.id) == ["peer"]
    assert report.role_changes == [("Ben Ode-Smith", ["peer"], ["responder"])]


async def test_bad_rows_are_reported_and_good_rows_imported(session: AsyncSession, settings: Settings) -> None:
    report = await import_roster(session, actor=SYSTEM, data=WITH_BAD_ROWS.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert report.created == 3
    assert [(p.line, p.reason) for p in report.problems] == [
        (5, "name is empty"),
        (6, "email 'not-an-email' is not an email address"),
        (
            7,
            "unknown role 'chief' (roles are responder, peer, trim_manager, lead, clinician, supervisor, admin,"
            " separated by ;)",
        ),
        (8, "staff_number F100 already appears on line 2"),
    ]


async def test_email_owned_by_another_staff_number_is_a_problem(session: AsyncSession, settings: Settings) -> None:
    await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    clash = "staff_number,name,email,station,roles\nF999,Imposter,ana@example.org,,\n"
    report = await import_roster(session, actor=SYSTEM, data=clash.encode(), now=utcnow(), settings=settings)
    assert report.created == 0
    assert report.problems[0].reason == "email ana@example.org belongs to staff number F100"


async def test_a_file_that_is_not_a_roster_is_one_clear_error(session: AsyncSession, settings: Settings) -> None:
    for data, message in [
        (b"", "The file is empty."),
        (b"id,name\n1,x\n", "missing: staff_number, email, station, roles"),
        ("staff_number,name,email,station,roles\n".encode("utf-16"), "not UTF-8"),
    ]:
        try:
            await import_roster(session, actor=SYSTEM, data=data, now=utcnow(), settings=settings)
        except InvalidInput as exc:
            assert message in exc.errors[0].message
        else:
            raise AssertionError(f"{data!r} was accepted")
    assert await _count(session, Person) == 0


async def test_cli_import_prints_progress_and_each_bad_line(
    settings: Settings, session: AsyncSession, tmp_path: Path, monkeypatch: object
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(WITH_BAD_ROWS)
    runner = CliRunner()
    env = {"TRIM_DATABASE_URL": settings.database_url}
    result = await anyio.to_thread.run_sync(lambda: runner.invoke(main, ["roster", "import", str(path)], env=env))
    assert result.exit_code == 1
    assert "3 added, 0 updated, 0 unchanged" in result.output
    assert "line 6: email 'not-an-email' is not an email address" in result.output
    assert "4 line(s) not imported" in result.output
    assert "Importing" in result.output  # the progress bar
    again = await anyio.to_thread.run_sync(lambda: runner.invoke(main, ["roster", "import", str(path)], env=env))
    assert "0 added, 0 updated, 3 unchanged" in again.output
    assert await _count(session, Person) == 3


async def test_admin_uploads_a_roster(client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession) -> None:
    await sign_in(client, cast.admin.email)
    before = await _count(session, Person)
    response = await client.post(
        "/admin/roster",
        files={"file": ("staff.csv", WITH_BAD_ROWS.encode(), "text/csv")},
        data={"_csrf_token": client.cookies["csrftoken"]},
    )
    assert response.status_code == 200
    assert "<strong>3</strong> added" in response.text
    assert "4 lines not imported" in response.text
    assert "unknown role &#39;chief&#39;" in response.text
    assert await _count(session, Person) == before + 3


async def test_upload_without_a_file_says_so(client: AsyncTestClient[Litestar], cast: Cast) -> None:
    await sign_in(client, cast.admin.email)
    response = await client.post(
        "/admin/roster", files={"other": ("x", b"", "text/plain")}, data={"_csrf_token": client.cookies["csrftoken"]}
    )
    assert response.status_code == 422
    assert "Choose a CSV file to import." in response.text


async def test_a_new_email_in_the_roster_waits_for_the_person_to_confirm_it(
    session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    from trim.accounts.models import AccountLink
    from trim.notifications.models import OutboxMessage

    await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    moved = GOOD.replace("F101,Ben Ode,ben@example.org", "F101,Ben Ode,ben.ode@elsewhere.example")
    report = await import_roster(session, actor=SYSTEM, data=moved.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert (report.updated, report.email_changes) == (1, [(3, "Ben Ode")])
    session.expire_all()
    ben = await service.person_by_staff_number(session, "F101")
    assert ben is not None and (ben.email, ben.pending_email) == ("ben@example.org", "ben.ode@elsewhere.example")
    sent = list(await session.exec(select(OutboxMessage.to_address, OutboxMessage.subject)))
    assert sorted(sent) == [
        ("ben.ode@elsewhere.example", "Confirm your new sign-in email"),
        ("ben@example.org", "Your sign-in email is being changed"),
    ]
    # The same file again: nothing new is sent and the link stays the one already emailed.
    path = tmp_path / "moved.csv"
    path.write_text(moved)
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(
            main, ["roster", "import", str(path)], env={"TRIM_DATABASE_URL": settings.database_url}
        )
    )
    assert "0 added, 0 updated, 3 unchanged" in result.output
    assert "waits for them to confirm" not in result.output
    assert await _count(session, OutboxMessage) == 2
    assert await _count(session, AccountLink) == 1


async def test_the_cli_says_which_lines_wait_for_an_email_confirmation(
    session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    path = tmp_path / "moved.csv"
    path.write_text(GOOD.replace("ana@example.org", "ana.lopez@elsewhere.example"))
    env = {"TRIM_DATABASE_URL": settings.database_url}
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["roster", "import", str(path)], env=env))
    assert result.exit_code == 0, result.output
    assert "line 2: Ana Lopez, new email address waits for them to confirm it from that address" in result.output


async def test_the_import_page_lists_new_emails_waiting_for_confirmation(
    client: AsyncTestClient[Litestar], cast: Cast, session: AsyncSession
) -> None:
    await sign_in(client, cast.admin.email)
    line = f"{cast.peer.staff_number},Peer,peer.new@elsewhere.example,,responder;peer\n"
    roster = "staff_number,name,email,station,roles\n" + line
    response = await client.post(
        "/admin/roster",
        files={"file": ("staff.csv", roster.encode(), "text/csv")},
        data={"_csrf_token": client.cookies["csrftoken"]},
    )
    assert response.status_code == 200
    assert "1 new email address waiting for confirmation" in response.text
    assert "<li>Line 2: Peer</li>" in response.text
    peer = await service.person_by_staff_number(session, cast.peer.staff_number)
    assert peer is not None and peer.email == cast.peer.email


async def test_manager_column_is_optional_and_kept(session: AsyncSession, settings: Settings) -> None:
    with_line = (
        "staff_number,name,email,station,roles,manager_staff_number\n"
        "F100,Ana Lopez,ana@example.org,North Station,peer;responder, F900 \n"
        "F101,Ben Ode,ben@example.org,North Station,,F100\n"
        "F102,Cy Park,cy@example.org,South Station,supervisor\n"
        "F103,Di Moss,di@example.org,South Station,,F103\n"
        f"F104,Ed Nye,ed@example.org,South Station,,{'M' * 41}\n"
    )
    report = await import_roster(session, actor=SYSTEM, data=with_line.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert report.created == 3
    assert [(p.line, p.reason) for p in report.problems] == [
        (5, "manager_staff_number is the person's own staff number"),
        (6, "manager_staff_number is longer than 40 characters"),
    ]
    managers = {
        p.staff_number: p.manager_staff_number
        for p in (await session.exec(select(Person).where(col(Person.staff_number).in_(["F100", "F101", "F102"]))))
    }
    # Trimmed; a short row under the column has no manager.
    assert managers == {"F100": "F900", "F101": "F100", "F102": None}

    # A file without the column leaves everyone's manager as it is.
    again = await import_roster(session, actor=SYSTEM, data=GOOD.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert (again.created, again.updated) == (0, 0)
    session.expire_all()
    ana = await service.person_by_staff_number(session, "F100")
    assert ana is not None and ana.manager_staff_number == "F900"

    # An empty cell clears it, and says so in the audit (field names only).
    cleared = (
        "staff_number,name,email,station,roles,manager_staff_number\n"
        "F100,Ana Lopez,ana@example.org,North Station,peer;responder,\n"
    )
    report = await import_roster(session, actor=SYSTEM, data=cleared.encode(), now=utcnow(), settings=settings)
    await session.commit()
    assert report.updated == 1
    session.expire_all()
    ana = await service.person_by_staff_number(session, "F100")
    assert ana is not None and ana.manager_staff_number is None
    fields = (
        await session.exec(
            select(AuditEvent.details).where(AuditEvent.action == "person.updated", AuditEvent.target_id == str(ana.id))
        )
    ).all()
    assert {"fields": ["manager_staff_number"], "via": "roster"} in fields
