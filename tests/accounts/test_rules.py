"""Pure rules about people: emails, roles, roster rows, passwords. No database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trim.accounts.rules import (
    check_roster_header,
    email_change_messages,
    email_change_note,
    email_notice_addresses,
    normalize_email,
    parse_roles,
    parse_roster,
    password_problem,
    privileged,
    privileged_grant_message,
)


def test_email_is_compared_lower_case_and_trimmed() -> None:
    assert normalize_email("  Ana.Lopez@Example.ORG ") == "ana.lopez@example.org"


@pytest.mark.parametrize(
    ("text", "known", "unknown"),
    [
        ("peer;responder", ["responder", "peer"], []),
        (" Peer ; LEAD ", ["peer", "lead"], []),
        ("", [], []),
        ("peer;wizard", ["peer"], ["wizard"]),
        ("peer,admin", ["peer", "admin"], []),
    ],
)
def test_parse_roles(text: str, known: list[str], unknown: list[str]) -> None:
    assert parse_roles(text) == (known, unknown)


def test_header_must_name_every_column() -> None:
    assert check_roster_header(["staff_number", "name", "email", "station", "roles"]) is None
    assert check_roster_header(["Staff_Number", "NAME", "email", "station", "roles", "extra"]) is None
    message = check_roster_header(["staff_number", "name", "email"])
    assert message is not None and "station, roles" in message


ROW = {"staff_number": "F1", "name": "Ana Lopez", "email": "ana@example.org", "station": "North", "roles": "peer"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"staff_number": ""}, "staff_number is empty"),
        ({"name": "  "}, "name is empty"),
        ({"email": ""}, "email is empty"),
        ({"email": "ana-at-example"}, "is not an email address"),
        ({"roles": "peer;boss"}, "unknown role 'boss'"),
        ({"staff_number": "X" * 41}, "longer than 40"),
    ],
)
def test_bad_roster_row_is_reported_with_its_line(change: dict[str, str], reason: str) -> None:
    parsed = parse_roster([(2, {**ROW, **change})])
    assert parsed.rows == []
    assert parsed.problems[0].line == 2
    assert reason in parsed.problems[0].reason


def test_duplicates_within_the_file_are_reported_on_the_later_line() -> None:
    parsed = parse_roster(
        [
            (2, ROW),
            (3, {**ROW, "email": "other@example.org"}),
            (4, {**ROW, "staff_number": "F2"}),
        ]
    )
    assert [r.line for r in parsed.rows] == [2]
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (3, "staff_number F1 already appears on line 2"),
        (4, "email ana@example.org already appears on line 2"),
    ]


def test_roles_default_to_responder_and_names_are_tidied() -> None:
    parsed = parse_roster([(2, {**ROW, "roles": "", "name": "  Ana   Lopez "})])
    assert parsed.rows[0].roles == ["responder"]
    assert parsed.rows[0].name == "Ana Lopez"


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("short", False),
        ("password1234", False),
        ("aaaaaaaaaaaa", False),
        ("            ", False),
        ("correct horse battery staple", True),
        ("lantern-quiet-harbour", True),
        ("x" * 1025, False),
    ],
)
def test_password_rules_follow_nist(password: str, ok: bool) -> None:
    assert (password_problem(password, min_length=12) is None) is ok


def test_password_that_is_the_persons_own_name_is_refused() -> None:
    assert password_problem("ana lopez ana lopez", min_length=12, user_inputs=("ana", "lopez")) is not None


# -- a change of sign-in email, privileged roles ----------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NOTICE = timedelta(days=30)


@pytest.mark.parametrize(
    ("pending", "previous", "changed_days_ago", "extra"),
    [
        (None, None, None, []),  # never changed: the current address alone
        ("new@x.org", None, None, ["new@x.org"]),  # waiting: the new one hears too
        (None, "old@x.org", 3, ["old@x.org"]),  # changed recently: the old one hears too
        (None, "old@x.org", 30, ["old@x.org"]),  # the last day of the notice period
        (None, "old@x.org", 31, []),  # long ago: no more
        ("new@x.org", "old@x.org", 3, ["new@x.org", "old@x.org"]),
        ("cur@x.org", None, None, []),  # never the current address twice
        (None, "cur@x.org", 3, []),  # changed back: nobody twice
    ],
)
def test_account_notices_reach_the_other_address_of_a_pending_or_recent_change(
    pending: str | None, previous: str | None, changed_days_ago: int | None, extra: list[str]
) -> None:
    changed_at = NOW - timedelta(days=changed_days_ago) if changed_days_ago is not None else None
    assert (
        email_notice_addresses(
            current="cur@x.org", pending=pending, previous=previous, changed_at=changed_at, now=NOW, notice=NOTICE
        )
        == extra
    )


def test_the_record_says_plainly_who_changed_the_email_and_when() -> None:
    zone = ZoneInfo("Europe/London")
    common = {"pending": None, "pending_at": None, "pending_by_admin": False, "zone": zone}
    assert email_change_note(previous=None, changed_at=None, changed_by_admin=False, **common) is None
    by_admin = email_change_note(previous="old@x.org", changed_at=NOW, changed_by_admin=True, **common)
    assert by_admin == "Your sign-in email was changed by an admin on 1 December 2026; before that it was old@x.org."
    by_self = email_change_note(previous="old@x.org", changed_at=NOW, changed_by_admin=False, **common)
    assert by_self is not None and by_self.startswith("Your sign-in email was changed by you on 1 December 2026")
    # Late in the evening UTC is already the next day in a zone ahead of it.
    late = email_change_note(
        previous=None,
        changed_at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC),
        changed_by_admin=True,
        **{**common, "zone": ZoneInfo("Europe/Helsinki")},
    )
    assert late == "Your sign-in email was changed by an admin on 2 December 2026."
    waiting = email_change_note(
        pending="new@x.org",
        pending_at=NOW,
        pending_by_admin=True,
        previous=None,
        changed_at=None,
        changed_by_admin=False,
        zone=zone,
    )
    assert waiting is not None and waiting.startswith(
        "An admin asked on 1 December 2026 to change your sign-in email to new@x.org. It changes only when"
    )


def test_email_change_messages_name_nobody_and_no_address() -> None:
    for by_admin in (True, False):
        for subject, body in email_change_messages(by_admin=by_admin, hours=72).values():
            assert "@" not in subject + body
            assert "therapy" not in body and "diagnos" not in body
    assert "It works once, for 3 days." in email_change_messages(by_admin=True, hours=72)["confirm"][1]
    assert "It works once, for 5 hours." in email_change_messages(by_admin=True, hours=5)["confirm"][1]
    assert email_change_messages(by_admin=True, hours=1)["started"][1].startswith("An administrator asked")
    assert email_change_messages(by_admin=False, hours=1)["started"][1].startswith("You asked")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["responder", "peer"], []),
        (["supervisor"], []),
        (["admin", "responder", "lead"], ["lead", "admin"]),
        (["clinician"], ["clinician"]),
    ],
)
def test_lead_clinician_and_admin_are_the_privileged_roles(roles: list[str], expected: list[str]) -> None:
    assert privileged(roles) == expected


def test_the_leads_notice_of_a_privileged_grant_says_which_roles_but_not_who() -> None:
    subject, body = privileged_grant_message(["lead", "admin"], created=True)
    assert subject == "A role with wider access was granted"
    assert body.startswith("A new account on the peer support service was created with the programme lead and ")
    assert "administrator roles" in body
    _, later = privileged_grant_message(["clinician"], created=False)
    assert later.startswith("An account on the peer support service was given the clinician role.")
    _, many = privileged_grant_message(["clinician", "admin"], created=False, accounts=3)
    assert many.startswith("3 accounts on the peer support service were given the clinician and administrator roles")
