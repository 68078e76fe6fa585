"""Pure rules about people: emails, roles, roster rows, passwords. No database."""

from __future__ import annotations

import pytest

from trim.accounts.rules import check_roster_header, normalize_email, parse_roles, parse_roster, password_problem


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
