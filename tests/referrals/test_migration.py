"""Revision 0403: a share recorded before it was asserted by whoever referred, never
confirmed by the person, so it becomes a request waiting for the person's OK."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel.sql.sqltypes import UTCDateTime

from tests.conftest import _pg_admin
from tests.foundation.test_migrations import _fresh_url
from trim.db import create_engine
from trim.migrations import downgrade, upgrade

PEOPLE = sa.table(
    "people",
    sa.column("id", sa.Uuid()),
    sa.column("staff_number", sa.String()),
    sa.column("name", sa.String()),
    sa.column("email", sa.String()),
    sa.column("active", sa.Boolean()),
    sa.column("available", sa.Boolean()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
REFERRALS = sa.table(
    "referrals",
    sa.column("id", sa.Uuid()),
    sa.column("person_id", sa.Uuid()),
    sa.column("consent", sa.Boolean()),
    sa.column("share_assessment", sa.Boolean()),
    sa.column("status", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
MADE = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


async def test_asserted_shares_wait_for_the_person_after_0403(database_url: str, tmp_path: Path) -> None:
    # database_url only picks the kind (and skips or fails as configured): a fresh database is made here.
    kind = "postgres" if database_url.startswith("postgresql") else "sqlite"
    url = await _fresh_url(kind, tmp_path)
    engine = create_engine(url, pool_size=1)
    person = uuid.uuid4()
    asserted, not_asked, withdrawn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        upgrade(url, "0300")
        async with engine.begin() as conn:
            await conn.execute(
                PEOPLE.insert().values(
                    id=person,
                    staff_number="M1",
                    name="Migrated Person",
                    email="migrated@example.org",
                    active=True,
                    available=True,
                    created_at=MADE,
                    updated_at=MADE,
                )
            )
            for referral_id, shared, status in (
                (asserted, True, "contact_made"),
                (not_asked, False, "referred"),
                (withdrawn, False, "withdrawn"),
            ):
                await conn.execute(
                    REFERRALS.insert().values(
                        id=referral_id,
                        person_id=person,
                        consent=True,
                        share_assessment=shared,
                        status=status,
                        created_at=MADE,
                        updated_at=MADE,
                    )
                )
        upgrade(url, "0403")
        after = sa.table(
            "referrals",
            sa.column("id", sa.Uuid()),
            sa.column("share_assessment", sa.Boolean()),
            sa.column("share_requested_at", UTCDateTime()),
            sa.column("share_confirmed_at", UTCDateTime()),
        )
        async with engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(sa.select(after))}
        assert (rows[asserted].share_assessment, rows[asserted].share_requested_at) == (False, MADE)
        assert rows[asserted].share_confirmed_at is None
        for untouched in (not_asked, withdrawn):
            assert (rows[untouched].share_assessment, rows[untouched].share_requested_at) == (False, None)
        downgrade(url, "0300")
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("referrals")})
            shared = list(await conn.execute(sa.select(REFERRALS.c.share_assessment)))
        assert "share_requested_at" not in columns and [r[0] for r in shared] == [False, False, False]
    finally:
        await engine.dispose()
        if kind == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
