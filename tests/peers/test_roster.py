"""The roster carries a peer's training: trained_on and refresher_due columns become their
practitioner course, checked line by line, and importing the file twice changes nothing."""

from __future__ import annotations

from datetime import date

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from tests.cast import Cast, signed_in
from trim.accounts.actor import SYSTEM
from trim.accounts.models import Person
from trim.accounts.roster import import_roster
from trim.config import Settings
from trim.db import AsyncSession, utcnow
from trim.peers import service as peers
from trim.peers.models import PeerCourse

ROSTER = (
    "staff_number,name,email,station,roles,trained_on,refresher_due\n"
    "T-1,Ada Price,ada@example.org,Depot,peer;responder,2025-03-01,2027-03-01\n"
    "T-2,Ben Cole,ben@example.org,Depot,peer,2025-03-01,\n"
    "T-3,Cy Dunn,cy@example.org,Depot,peer,,2027-03-01\n"
    "T-4,Di Egan,di@example.org,Depot,peer,1 March,\n"
    "T-5,Ed Fox,ed@example.org,Depot,responder,,\n"
)


async def _courses(session: AsyncSession) -> dict[str, tuple[str, date, date | None]]:
    rows = await session.exec(
        select(Person.staff_number, PeerCourse.name, PeerCourse.completed_on, PeerCourse.refresher_due)
        .join(PeerCourse, col(PeerCourse.person_id) == col(Person.id))
        .execution_options(populate_existing=True)
    )
    return {staff: (name, done, due) for staff, name, done, due in rows}


async def test_trained_on_and_refresher_due_become_the_peers_course(session: AsyncSession, settings: Settings) -> None:
    for _ in range(2):
        report = await import_roster(
            session,
            actor=SYSTEM,
            data=ROSTER.encode(),
            now=utcnow(),
            settings=settings,
            record_course=peers.record_course,
        )
        await session.commit()
        assert [(p.line, p.reason) for p in report.problems] == [
            (4, "refresher_due needs trained_on (the date the course was completed)"),
            (5, "trained_on '1 March' is not a date (use YYYY-MM-DD)"),
        ]
    assert await _courses(session) == {
        "T-1": ("TRiM practitioner", date(2025, 3, 1), date(2027, 3, 1)),
        "T-2": ("TRiM practitioner", date(2025, 3, 1), None),
    }
    renewed = ROSTER.replace("2025-03-01,2027-03-01", "2026-11-20,2028-11-20")
    await import_roster(
        session, actor=SYSTEM, data=renewed.encode(), now=utcnow(), settings=settings, record_course=peers.record_course
    )
    await session.commit()
    assert (await _courses(session))["T-1"] == ("TRiM practitioner", date(2026, 11, 20), date(2028, 11, 20))


async def test_the_admins_roster_page_records_the_course(
    client: AsyncTestClient[Litestar], session: AsyncSession, cast: Cast
) -> None:
    async with signed_in(client, cast.admin) as admin:
        await admin.get("/admin/roster")
        response = await admin.post(
            "/admin/roster",
            files={"file": ("roster.csv", ROSTER.encode(), "text/csv")},
            data={"_csrf_token": admin.cookies["csrftoken"]},
        )
        assert response.status_code == 200, response.text
    assert set(await _courses(session)) == {"T-1", "T-2"}
