"""Where the dashboard and reports read (trim.analytics): the rule that picks the replica
or the primary from the two servers' WAL positions, with no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import DBAPIError, ProgrammingError

from tests.conftest import make_settings
from trim.analytics import ReadFrom, Replica, ReplicaPosition, as_of_text, choose_source, parse_lsn, replica_failed

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LONDON = ZoneInfo("Europe/London")


def position(replayed: str | None, *, last_commit: datetime | None = None, in_recovery: bool = True) -> ReplicaPosition:
    return ReplicaPosition(in_recovery, parse_lsn(replayed) if replayed else None, last_commit, NOW)


def test_wal_positions_order_as_postgresql_orders_them() -> None:
    assert parse_lsn("0/3000060") == 0x3000060
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848


@pytest.mark.parametrize(
    ("primary", "replica", "expected"),
    [
        # Caught up: live, however long ago the last commit (an idle primary writes nothing).
        ("0/5000000", position("0/5000000", last_commit=NOW - timedelta(days=3)), ReadFrom("replica", lag=0 * MINUTE)),
        ("0/5000000", position("0/5000100", last_commit=None), ReadFrom("replica", lag=0 * MINUTE)),
        # Behind, within the tolerance: the replica, as of its last replayed commit.
        (
            "0/5000100",
            position("0/5000000", last_commit=NOW - 30 * timedelta(seconds=1)),
            ReadFrom("replica", as_of=NOW - timedelta(seconds=30), lag=timedelta(seconds=30)),
        ),
        (
            "0/5000100",
            position("0/5000000", last_commit=NOW - MINUTE),
            ReadFrom("replica", as_of=NOW - MINUTE, lag=MINUTE),
        ),
        # Further behind, or behind since an unknown time: the primary.
        (
            "0/5000100",
            position("0/5000000", last_commit=NOW - MINUTE - timedelta(seconds=1)),
            ReadFrom("primary", lag=MINUTE + timedelta(seconds=1), reason="lagging"),
        ),
        ("0/5000100", position("0/5000000", last_commit=None), ReadFrom("primary", reason="lagging")),
        # Promoted, or pointed at a primary by mistake: nothing says what it holds.
        ("0/5000000", position("0/9000000", in_recovery=False), ReadFrom("primary", reason="not_standby")),
        ("0/5000000", position(None), ReadFrom("primary", reason="not_standby")),
    ],
)
def test_the_replica_serves_while_it_is_caught_up_or_within_the_tolerance(
    primary: str, replica: ReplicaPosition, expected: ReadFrom
) -> None:
    assert choose_source(parse_lsn(primary), replica, max_lag=MINUTE) == expected


def test_a_replica_clock_a_little_behind_the_primary_is_no_negative_lag() -> None:
    ahead = position("0/5000000", last_commit=NOW + timedelta(seconds=2))
    assert choose_source(parse_lsn("0/5000100"), ahead, max_lag=MINUTE).lag == timedelta(0)


def test_with_no_tolerance_any_lag_sends_the_read_to_the_primary() -> None:
    behind = position("0/5000000", last_commit=NOW - timedelta(seconds=1))
    assert choose_source(parse_lsn("0/5000100"), behind, max_lag=timedelta(0)).source == "primary"
    assert choose_source(parse_lsn("0/5000000"), behind, max_lag=timedelta(0)).source == "replica"


@pytest.mark.parametrize(
    ("read_from", "expected"),
    [
        (ReadFrom("replica", lag=timedelta(0)), None),
        (ReadFrom("primary", reason="lagging"), None),
        # Local time in the organisation's zone (GMT in December, BST in summer).
        (ReadFrom("replica", as_of=NOW - MINUTE, lag=MINUTE), "09:29"),
        (
            ReadFrom("replica", as_of=datetime(2026, 7, 1, 8, 5, tzinfo=UTC), lag=MINUTE),
            "09:05",
        ),
        # A replica behind since yesterday (a generous tolerance) says which day.
        (
            ReadFrom("replica", as_of=datetime(2026, 12, 1, 23, 58, tzinfo=UTC), lag=timedelta(hours=9)),
            "Tue 1 Dec, 23:58",
        ),
    ],
)
def test_figures_behind_say_as_of_when_in_the_organisations_zone(read_from: ReadFrom, expected: str | None) -> None:
    assert as_of_text(read_from, LONDON) == expected


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "is_the_replicas"),
    [
        ("40001", True),  # canceling statement due to conflict with recovery
        ("57P01", True),  # terminating connection due to administrator command
        ("08006", True),  # connection failure
        ("25006", False),  # a write in a read-only transaction: a bug in the read, raised
        ("42P01", False),  # no such table: a bug too
    ],
)
def test_only_the_replicas_own_failures_send_a_read_to_the_primary(sqlstate: str, is_the_replicas: bool) -> None:
    error: DBAPIError = ProgrammingError("SELECT ...", {}, _Orig(sqlstate))
    assert replica_failed(error) is is_the_replicas
    assert replica_failed(ConnectionRefusedError()) is True
    assert replica_failed(KeyError("figure")) is False


async def test_a_failed_replica_is_left_alone_for_the_retry_time_then_tried_again() -> None:
    # No connection is made: the engine connects on first use, and nothing uses it here.
    now = [1000.0]
    settings = make_settings(
        "postgresql+asyncpg://trim@db-primary/trim",
        database_replica_url="postgresql+asyncpg://trim@db-replica/trim",
        replica_retry_seconds=30,
    )
    replica = Replica(settings, monotonic=lambda: now[0])
    try:
        assert not replica.resting
        replica.failed(ConnectionRefusedError(), during="to answer")
        now[0] += 29.9
        assert replica.resting
        now[0] += 0.2
        assert not replica.resting
    finally:
        await replica.dispose()
