"""Pure rules for getting in: where a person stands, TOTP steps, recovery codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from trim.accounts.rules import (
    access_status,
    format_recovery_code,
    looks_like_totp,
    normalize_recovery_code,
    recovery_code_hash,
    totp_matching_step,
    totp_step,
)

NOW = datetime(2026, 11, 2, 9, 0, 15, tzinfo=UTC)
WEEK = timedelta(days=7)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize(
    ("has_password", "joined_at", "invited_at", "expected"),
    [
        (True, None, None, "joined"),
        (False, NOW - timedelta(days=30), None, "joined"),  # single sign-on, no password
        (True, None, NOW - timedelta(days=30), "joined"),
        (False, None, None, "not_invited"),
        (False, None, NOW - timedelta(days=6), "invited"),
        (False, None, NOW - WEEK + timedelta(seconds=1), "invited"),
        (False, None, NOW - WEEK, "expired"),
        (False, None, NOW - timedelta(days=40), "expired"),
    ],
)
def test_access_status(
    has_password: bool, joined_at: datetime | None, invited_at: datetime | None, expected: str
) -> None:
    assert (
        access_status(has_password=has_password, joined_at=joined_at, invited_at=invited_at, now=NOW, valid=WEEK)
        == expected
    )


def test_a_code_matches_its_own_step_and_one_either_side() -> None:
    totp = pyotp.TOTP(SECRET)
    step = totp_step(NOW)
    assert totp_matching_step(SECRET, totp.at(NOW), at=NOW) == step
    assert totp_matching_step(SECRET, totp.at(NOW - timedelta(seconds=30)), at=NOW) == step - 1
    assert totp_matching_step(SECRET, totp.at(NOW + timedelta(seconds=30)), at=NOW) == step + 1
    assert totp_matching_step(SECRET, totp.at(NOW - timedelta(seconds=60)), at=NOW) is None
    assert totp_matching_step(SECRET, totp.at(NOW + timedelta(seconds=60)), at=NOW) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_what_is_not_a_six_digit_code_never_matches(code: str) -> None:
    assert totp_matching_step(SECRET, code, at=NOW) is None
    assert not looks_like_totp(code)


def test_spaces_in_a_code_are_forgiven() -> None:
    code = pyotp.TOTP(SECRET).at(NOW)
    assert looks_like_totp(f"{code[:3]} {code[3:]}")
    assert totp_matching_step(SECRET, f"{code[:3]} {code[3:]}", at=NOW) == totp_step(NOW)


def test_recovery_codes_ignore_case_spaces_and_hyphens_and_are_bound_to_a_person() -> None:
    raw = "abcdefghjk"
    assert format_recovery_code(raw) == "abcde-fghjk"
    assert normalize_recovery_code(" ABCDE-fghjk ") == raw
    key = "k" * 40
    assert recovery_code_hash(key, "p1", "ABCDE FGHJK") == recovery_code_hash(key, "p1", raw)
    assert recovery_code_hash(key, "p1", raw) != recovery_code_hash(key, "p2", raw)
    assert recovery_code_hash(key, "p1", raw) != recovery_code_hash("x" * 40, "p1", raw)
