"""`trim purge` covers every table that holds personal data (issue 26 item 10).

One list says how each table with personal data is kept (trim.records.retention
PERSONAL_DATA) and another why the rest hold none; these tests hold both against the
schema, so a new table with a person's id or a personal column fails here until someone
decides how it is kept. Then a whole old case, and everything that outlived its own
lifetime, is purged, and no case table points at the person any more."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import Column, ForeignKey, MetaData, String, Table, Uuid, func
from sqlmodel import select

from tests.cast import Cast
from tests.conftest import FakeClock, make_settings
from tests.helpers import verified
from tests.privacy.test_audit_keys_purge import recorded_case
from trim.accounts.models import AccountLink, LinkRequest, SigninCounter, WebSession
from trim.db import AsyncSession, metadata
from trim.flags import service as flag_service
from trim.followups.models import PeerChangeRequest
from trim.idempotency import IdempotencyKey
from trim.notifications.models import OutboxMessage
from trim.records.retention import CASE, NO_PERSONAL_DATA, PERSONAL_DATA, purge
from trim.referrals.models import Referral
from trim.requests import service as requests

# Columns that hold personal data whatever table they are in (besides any reference to a person).
PERSONAL_COLUMN = re.compile(
    r"^(person_id|actor_id|subject_id|email|to_address|phone|staff_number|answers|summary|notes|message"
    r"|reason|.*_reason|.*_encrypted)$"
)


def personal_columns(table: Table) -> list[str]:
    """The columns that make a table hold personal data: a reference to a person, or a
    column whose name says it holds something about one."""
    return [
        column.name
        for column in table.columns
        if any(fk.column.table.name == "people" for fk in column.foreign_keys) or PERSONAL_COLUMN.match(column.name)
    ]


def unlisted_personal_tables(schema: MetaData) -> dict[str, list[str]]:
    return {
        table.name: found
        for table in schema.sorted_tables
        if (found := personal_columns(table)) and table.name not in PERSONAL_DATA
    }


def test_every_table_is_either_kept_as_personal_data_or_said_to_hold_none() -> None:
    tables = {table.name for table in metadata.sorted_tables}
    assert not set(PERSONAL_DATA) & set(NO_PERSONAL_DATA)
    assert tables - set(PERSONAL_DATA) - set(NO_PERSONAL_DATA) == set(), "a table nobody has classified"
    assert set(PERSONAL_DATA) | set(NO_PERSONAL_DATA) <= tables, "a list names a table that is gone"


def test_every_table_with_a_person_or_a_personal_column_is_in_the_personal_data_list() -> None:
    assert unlisted_personal_tables(metadata) == {}
    for name in NO_PERSONAL_DATA:
        assert personal_columns(metadata.tables[name]) == [], name


def test_a_new_table_holding_a_person_would_fail_the_check() -> None:
    # The check itself, on a schema with one more table: it is named, with its columns.
    schema = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(schema)
    Table(
        "manager_letters", schema, Column("id", Uuid, primary_key=True), Column("owner", Uuid, ForeignKey("people.id"))
    )
    Table("contact_log", schema, Column("id", Uuid, primary_key=True), Column("phone", String(40)))
    assert unlisted_personal_tables(schema) == {"manager_letters": ["owner"], "contact_log": ["phone"]}


async def test_purge_leaves_no_case_row_pointing_at_the_person_and_clears_what_outlived_its_life(
    db: AsyncSession, session: AsyncSession, cast: Cast, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(database_url, retention_days=30)
    long_ago = clock() - timedelta(days=300)
    # An old case: an incident, two recorded check-ins, the flag they raised and a referral
    # for it, a request for a different peer, and a request for a peer.
    checkins = await recorded_case(db, cast, settings, clock, days_ago=400)
    flags = await flag_service.list_flags(db, actor=cast.actor("lead"))
    flag = flags[0]
    db.add(
        Referral(
            flag_id=flag.id,
            person_id=cast.responder.id,
            clinician_id=cast.clinician.id,
            consent=True,
            status="closed",
            created_at=long_ago,
            created_by_id=cast.peer.id,
            updated_at=long_ago,
            closed_at=long_ago,
        )
    )
    for each in flags:
        await flag_service.close_flag(db, actor=cast.actor("lead"), flag_id=each.id, reason="Seen by GP.", now=long_ago)
    db.add(
        PeerChangeRequest(
            exposure_id=checkins[0].exposure_id, person_id=cast.responder.id, created_at=long_ago, resolved_at=long_ago
        )
    )
    asked = await requests.submit(
        db,
        actor=cast.actor("responder"),
        data=requests.RequestInput(
            urgency="this_week",
            contact_method="phone",
            contact="020 7946 0123",
            safety_concern=False,
            message="Rough week.",
        ),
        now=long_ago,
        settings=settings,
    )
    await requests.withdraw(db, actor=cast.actor("responder"), request_id=asked.id, now=long_ago)
    # And what outlives its own lifetime if no worker sweeps it.
    db.add(
        IdempotencyKey(
            scope=f"{cast.peer.id}:checkin.record:{checkins[0].id}",
            key="phone-1",
            request_hash="x" * 64,
            status_code=201,
            response={"score": 3, "band": "elevated"},
            created_at=long_ago,
            safe_to_forget=True,
        )
    )
    db.add(WebSession(id="a" * 64, person_id=cast.responder.id, created_at=long_ago, expires_at=long_ago))
    db.add(
        AccountLink(
            person_id=cast.responder.id,
            purpose="reset",
            token_hash="b" * 64,
            created_at=long_ago,
            expires_at=long_ago + timedelta(hours=1),
        )
    )
    db.add(LinkRequest(email=cast.responder.email, requested_at=long_ago))
    db.add(SigninCounter(key="addr:10.1.2.3", window_started_at=long_ago, count=3))
    await db.commit()
    sent = await session.exec(select(func.count()).select_from(OutboxMessage))
    await session.exec(OutboxMessage.__table__.update().values(sent_at=long_ago))  # type: ignore[attr-defined]
    assert sent.one() > 0

    report = await purge(db, now=clock(), settings=settings)
    await db.commit()
    assert report.exposures == 1 and report.requests == 1

    me = cast.responder.id
    for name, kept in PERSONAL_DATA.items():
        if not kept.how.startswith(CASE):
            continue
        table = metadata.tables[name]
        for column in table.columns:
            if any(fk.column.table.name == "people" for fk in column.foreign_keys):
                found = (await session.exec(select(func.count()).select_from(table).where(column == me))).one()
                assert found == 0, f"{name}.{column.name} still points at the person"
    for model in (IdempotencyKey, WebSession, AccountLink, LinkRequest, SigninCounter, OutboxMessage):
        assert (await session.exec(select(func.count()).select_from(model))).one() == 0, model.__tablename__
    assert report.expired["idempotency_keys"] == 1 and report.expired["web_sessions"] == 1
    changes = (await session.exec(select(PeerChangeRequest.person_id))).all()
    assert changes and me not in changes
    referred = (await session.exec(select(Referral.person_id))).all()
    assert referred and me not in referred
    assert (await verified(session, settings)).ok
