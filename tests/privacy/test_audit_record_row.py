"""audit.record_row: an event about one row takes its target type, id and subject from the row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from trim.accounts.models import Person
from trim.flags.models import Flag
from trim.privacy import audit
from trim.privacy.models import AuditEvent
from trim.referrals.models import Referral, ReferralService

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


class _Session:
    """What `record` needs of a session: somewhere to add the event."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)


def _session() -> _Session:
    return _Session()


FIELDS = ("at", "actor_id", "action", "target_type", "target_id", "subject_id", "details")


def _pending(session: _Session) -> list[tuple[Any, ...]]:
    assert all(isinstance(e, AuditEvent) for e in session.added)
    return [tuple(getattr(e, f) for f in FIELDS) for e in session.added]


def test_a_flag_row_gives_its_type_id_and_person() -> None:
    session, person = _session(), uuid.uuid4()
    flag = Flag(person_id=person, cause="tsq", cause_key="tsq:1")
    audit.record_row(session, actor="system", action="flag.raised", row=flag, details={"urgent": True}, at=AT)
    assert _pending(session) == [(AT, "system", "flag.raised", "flag", str(flag.id), str(person), {"urgent": True})]


def test_it_writes_what_record_writes_for_the_same_row() -> None:
    by_row, by_hand = _session(), _session()
    referral = Referral(flag_id=uuid.uuid4(), person_id=uuid.uuid4(), consent=True, status="referred")
    audit.record_row(by_row, actor="system", action="referral.viewed", row=referral, at=AT)
    audit.record(
        by_hand,
        actor="system",
        action="referral.viewed",
        target_type="referral",
        target_id=referral.id,
        subject_id=referral.person_id,
        at=AT,
    )
    assert _pending(by_row) == _pending(by_hand)


def test_a_row_about_nobody_has_no_subject() -> None:
    session = _session()
    entry = ReferralService(name="EAP", service="Counselling", contact="0800 000 000")
    audit.record_row(session, actor="system", action="service.added", row=entry, at=AT)
    assert _pending(session) == [(AT, "system", "service.added", "referral_service", str(entry.id), None, {})]


def test_a_table_it_does_not_know_is_refused_and_queues_nothing() -> None:
    session = _session()
    with pytest.raises(TypeError, match="Person"):
        audit.record_row(session, actor="system", action="person.viewed", row=Person(name="A"), at=AT)
    with pytest.raises(TypeError, match="str"):
        audit.record_row(session, actor="system", action="x", row="flag", at=AT)
    assert session.added == []
