"""Pure rules about people: emails, roles, roster rows."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import phonenumbers
import pyotp
from zxcvbn import zxcvbn

from trim.config import ROLES

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROSTER_COLUMNS = ("staff_number", "name", "email", "station", "roles")
# Columns a roster may have; a file without one leaves that field of everyone as it is.
# trained_on / refresher_due: the peer's practitioner course (design section 13), ISO dates.
ROSTER_OPTIONAL_COLUMNS = ("manager_staff_number", "phone", "trained_on", "refresher_due", "groups")

ROLE_LABELS = {
    "responder": "Responder",
    "peer": "Peer supporter",
    "trim_manager": "TRiM manager",
    "lead": "Programme lead",
    "clinician": "Clinician",
    "supervisor": "Supervisor",
    "admin": "Administrator",
}


def normalize_email(email: str) -> str:
    """An address as it is stored and compared: trimmed and lower case."""
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    """Whether this looks like an address mail can be sent to (and fits the column)."""
    return bool(EMAIL_RE.match(email)) and len(email) <= 320


def normalize_phone(text: str, *, region: str) -> str:
    """A phone number as stored: E.164 ("+442079460000"). A number without a country code
    is read as one of `region` (TRIM_PHONE_REGION). ValueError, with a sentence for the
    person who typed it, when it is not a number anyone could dial."""
    try:
        number = phonenumbers.parse(text.strip(), region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "Enter a phone number in digits (spaces are fine); a number abroad starts with + and its country code."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("That does not look like a phone number that can be dialled; check the digits.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_display(stored: str, *, region: str) -> str:
    """A stored number as people read it: national format at home, international abroad."""
    try:
        number = phonenumbers.parse(stored, region)
    except phonenumbers.NumberParseException:
        return stored
    same_country = phonenumbers.region_code_for_number(number) == region.upper()
    style = phonenumbers.PhoneNumberFormat.NATIONAL if same_country else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def parse_roles(text: str) -> tuple[list[str], list[str]]:
    """Split 'peer; responder' into known roles and unknown words."""
    words = [w.strip().lower() for w in text.replace(",", ";").split(";")]
    words = [w for w in words if w]
    known = [w for w in ROLES if w in words]
    unknown = [w for w in words if w not in ROLES]
    return known, unknown


@dataclass
class RosterRow:
    line: int
    staff_number: str
    name: str
    email: str
    station: str
    roles: list[str]
    # The line manager's staff number: None when the file has no such column (nothing
    # changes), "" when the cell is empty (the person has no manager on record).
    manager_staff_number: str | None = None
    # The phone in E.164: None when the file has no phone column, "" when the cell is empty.
    phone: str | None = None
    # The peer's practitioner course, when the file carries trained_on (refresher_due optional).
    trained_on: date | None = None
    refresher_due: date | None = None
    # High-exposure group names (separated by ;): None when the file has no groups column
    # (memberships stay as they are), [] when the cell is empty (in no group).
    groups: list[str] | None = None


@dataclass
class RosterProblem:
    line: int
    reason: str


@dataclass
class ParsedRoster:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[RosterProblem] = field(default_factory=list)


def check_roster_header(header: list[str]) -> str | None:
    """A message when the header lacks a required column, else None."""
    names = [h.strip().lower() for h in header]
    missing = [c for c in ROSTER_COLUMNS if c not in names]
    if missing:
        return f"the first line must name the columns {','.join(ROSTER_COLUMNS)}; missing: {', '.join(missing)}"
    return None


def parse_roster(records: list[tuple[int, dict[str, str]]], *, phone_region: str = "GB") -> ParsedRoster:
    """Validate roster records (line number, column -> value), each on its own.

    A staff number or email that appears twice in the file makes its later lines bad.
    """
    parsed = ParsedRoster()
    seen_staff: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    for line, record in records:
        staff = (record.get("staff_number") or "").strip()
        name = " ".join((record.get("name") or "").split())
        email = normalize_email(record.get("email") or "")
        station = " ".join((record.get("station") or "").split())
        roles, unknown = parse_roles(record.get("roles") or "")
        manager = record.get("manager_staff_number")
        manager = manager.strip() if manager is not None else None
        trained_on, trained_problem = _roster_date(record, "trained_on")
        refresher_due, refresher_problem = _roster_date(record, "refresher_due")
        phone = record.get("phone")
        phone = phone.strip() if phone is not None else None
        groups_cell = record.get("groups")
        groups = _roster_groups(groups_cell) if groups_cell is not None else None
        phone_reason = None
        if phone:
            try:
                phone = normalize_phone(phone, region=phone_region)
            except ValueError:
                phone_reason = f"phone {phone!r} is not a phone number"
        reason = None
        if not staff:
            reason = "staff_number is empty"
        elif len(staff) > 40:
            reason = "staff_number is longer than 40 characters"
        elif not name:
            reason = "name is empty"
        elif len(name) > 200:
            reason = "name is longer than 200 characters"
        elif not email:
            reason = "email is empty"
        elif not is_valid_email(email):
            reason = f"email {email!r} is not an email address"
        elif len(station) > 120:
            reason = "station is longer than 120 characters"
        elif unknown:
            reason = f"unknown role {unknown[0]!r} (roles are {', '.join(ROLES)}, separated by ;)"
        elif manager and len(manager) > 40:
            reason = "manager_staff_number is longer than 40 characters"
        elif manager and manager == staff:
            reason = "manager_staff_number is the person's own staff number"
        elif phone_reason:
            reason = phone_reason
        elif trained_problem or refresher_problem:
            reason = trained_problem or refresher_problem
        elif refresher_due is not None and trained_on is None:
            reason = "refresher_due needs trained_on (the date the course was completed)"
        elif refresher_due is not None and trained_on is not None and refresher_due <= trained_on:
            reason = "refresher_due must be after trained_on"
        elif staff in seen_staff:
            reason = f"staff_number {staff} already appears on line {seen_staff[staff]}"
        elif email in seen_email:
            reason = f"email {email} already appears on line {seen_email[email]}"
        if reason:
            parsed.problems.append(RosterProblem(line, reason))
            continue
        seen_staff[staff] = line
        seen_email[email] = line
        parsed.rows.append(
            RosterRow(
                line,
                staff,
                name,
                email,
                station,
                roles or ["responder"],
                manager,
                phone,
                trained_on,
                refresher_due,
                groups,
            )
        )
    return parsed


def _roster_groups(cell: str) -> list[str]:
    """The group names of a roster cell, tidied, each once (ignoring case), in file order."""
    names: dict[str, str] = {}
    for part in cell.split(";"):
        name = " ".join(part.split())
        if name:
            names.setdefault(name.lower(), name)
    return list(names.values())


def _roster_date(record: dict[str, str], column: str) -> tuple[date | None, str | None]:
    """An optional ISO date cell: (the date or None, a problem or None)."""
    text = (record.get(column) or "").strip()
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, f"{column} {text!r} is not a date (use YYYY-MM-DD)"


MAX_PASSWORD_LENGTH = 1024


def password_problem(password: str, *, min_length: int, user_inputs: tuple[str, ...] = ()) -> str | None:
    """What is wrong with a new password, per NIST SP 800-63B, or None.

    Length and a check against common and guessable passwords (zxcvbn); no composition
    rules and no expiry."""
    if len(password) < min_length:
        return f"Use at least {min_length} characters. A few unrelated words make a good password."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if not password.strip():
        return "A password cannot be only spaces."
    if _built_from(password, user_inputs):
        return "Do not build your password from your name or email address."
    result = zxcvbn(password[:100], user_inputs=[u for u in user_inputs if u])
    if result["score"] < 3:
        warning = result["feedback"].get("warning") or "This password is too easy to guess."
        return f"{warning.rstrip('.')}. Try a longer phrase of unrelated words."
    return None


def _built_from(password: str, user_inputs: tuple[str, ...]) -> bool:
    """True when, once the person's own name and email words are removed, hardly
    anything is left (e.g. 'ana lopez ana lopez' or 'AnaLopez2026')."""
    words = sorted(
        {w for text in user_inputs for w in re.split(r"[^a-z]+", text.lower()) if len(w) >= 2},
        key=len,
        reverse=True,
    )
    if not words:
        return False
    rest = re.sub(r"[^a-z]", "", password.lower())
    for word in words:
        rest = rest.replace(word, "")
    return len(rest) < 4


def role_change_message(added: list[str], removed: list[str]) -> tuple[str, str]:
    """The email telling a person their roles changed: which roles, nothing about who
    changed them or why."""
    lines = ["Your roles in the peer support programme have changed."]
    if added:
        lines.append("Added: " + ", ".join(ROLE_LABELS.get(r, r) for r in added) + ".")
    if removed:
        lines.append("Removed: " + ", ".join(ROLE_LABELS.get(r, r) for r in removed) + ".")
    lines.append("If you did not expect this, tell your administrator or the programme lead.")
    return "Your roles have changed", "\n".join(lines)


# Roles that reach more than most (design 3a): granting one, at creation or later, is
# listed on the lead's overview and emailed to every lead.
PRIVILEGED_ROLES = ("lead", "clinician", "admin")


def privileged(roles: list[str]) -> list[str]:
    """The privileged roles among these, in the usual order."""
    return [r for r in PRIVILEGED_ROLES if r in roles]


def _role_words(roles: list[str]) -> str:
    names = [ROLE_LABELS.get(r, r).lower() for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def privileged_grant_message(roles: list[str], *, created: bool, accounts: int = 1) -> tuple[str, str]:
    """The email to every lead when a privileged role is granted: which roles, not to whom
    (the overview says who, and who granted it)."""
    role_word = "role" if len(roles) == 1 else "roles"
    if accounts > 1:
        what = f"{accounts} accounts on the peer support service were given the {_role_words(roles)} {role_word}"
    elif created:
        what = f"A new account on the peer support service was created with the {_role_words(roles)} {role_word}"
    else:
        what = f"An account on the peer support service was given the {_role_words(roles)} {role_word}"
    body = (
        f"{what}. These roles reach more than most, so every programme lead is told. "
        "Your overview lists who and by whom. If you did not expect this, check with your administrator."
    )
    return "A role with wider access was granted", body


# -- a change of sign-in email (design 3a: an admin cannot become someone) ------------


def email_notice_addresses(
    *,
    current: str,
    pending: str | None,
    previous: str | None,
    changed_at: datetime | None,
    now: datetime,
    notice: timedelta,
) -> list[str]:
    """Where "password changed" and "second factor reset" go besides the current address:
    the address waiting for confirmation, and the one used before a recent change."""
    extra = []
    if pending and pending != current:
        extra.append(pending)
    if previous and changed_at is not None and now - changed_at <= notice and previous not in (current, *extra):
        extra.append(previous)
    return extra


def email_change_messages(*, by_admin: bool, hours: int) -> dict[str, tuple[str, str]]:
    """The emails of a change of sign-in email: "confirm" to the new address, "started" to
    the old one, "changed_new" / "changed_old" once confirmed, "cancelled" to the old one.
    No names, no addresses: the person knows their own."""
    lasts = f"{hours // 24} day{'s' if hours != 24 else ''}" if hours % 24 == 0 else f"{hours} hours"
    who = "An administrator" if by_admin else "You"
    not_expected = "If you did not make or expect this change, tell your programme lead now."
    return {
        "confirm": (
            "Confirm your new sign-in email",
            "Your sign-in email for the peer support service is being changed to this address. Open the "
            f"link below to confirm it. It works once, for {lasts}. Until it is confirmed nothing changes, "
            "and you keep signing in with your old address. If you were not expecting this, ignore this email.",
        ),
        "started": (
            "Your sign-in email is being changed",
            f"{who} asked to change the sign-in email of your peer support account to a new address. "
            "Nothing changes until the new address confirms it; until then you sign in with this one as usual. "
            "If you did not expect this, tell your programme lead now.",
        ),
        "changed_new": (
            "Your sign-in email was changed",
            "The sign-in email of your peer support account is now this address: sign in with it from now on. "
            + not_expected,
        ),
        "changed_old": (
            "Your sign-in email was changed",
            "The sign-in email of your peer support account was changed to a new address, and this one no "
            "longer signs in. " + not_expected,
        ),
        "cancelled": (
            "The change to your sign-in email was cancelled",
            "The change to the sign-in email of your peer support account was cancelled before it was "
            "confirmed. You keep signing in with this address.",
        ),
    }


def email_change_note(
    *,
    pending: str | None,
    pending_at: datetime | None,
    pending_by_admin: bool,
    previous: str | None,
    changed_at: datetime | None,
    changed_by_admin: bool,
    zone: tzinfo,
) -> str | None:
    """What the person's own record says about changes of their sign-in email, plainly."""

    def day(at: datetime) -> str:
        return at.astimezone(zone).strftime("%-d %B %Y")

    said = []
    if changed_at is not None:
        who = "changed by an admin" if changed_by_admin else "changed by you"
        said.append(
            f"Your sign-in email was {who} on {day(changed_at)}"
            + (f"; before that it was {previous}." if previous else ".")
        )
    if pending is not None and pending_at is not None:
        who = "An admin" if pending_by_admin else "You"
        said.append(
            f"{who} asked on {day(pending_at)} to change your sign-in email to {pending}. It changes only when that "
            "address confirms it; until then you sign in with your current one. If you did not expect this, tell "
            "your programme lead."
        )
    return " ".join(said) or None


# -- getting in: links, second factor ------------------------------------------------

ACCESS_LABELS = {
    "joined": "Joined",
    "invited": "Invited",
    "expired": "Invitation expired",
    "not_invited": "Not invited",
}


def access_status(
    *, has_password: bool, joined_at: datetime | None, invited_at: datetime | None, now: datetime, valid: timedelta
) -> str:
    """Where a person stands with getting in: joined (has a password or has signed in
    through single sign-on), invited (a live invitation), expired (invited, never
    joined, the last link has run out) or not_invited."""
    if has_password or joined_at is not None:
        return "joined"
    if invited_at is None:
        return "not_invited"
    return "invited" if invited_at + valid > now else "expired"


TOTP_PERIOD_SECONDS = 30
TOTP_DIGITS = 6
# A code is accepted one step either side of now, for a phone whose clock is a little out.
TOTP_DRIFT_STEPS = 1


def totp_step(at: datetime) -> int:
    """The authenticator time step this moment falls in."""
    return int(at.timestamp()) // TOTP_PERIOD_SECONDS


def totp_matching_step(secret: str, code: str, *, at: datetime) -> int | None:
    """The time step (near `at`) whose code this is, or None when it matches none."""
    digits = "".join(code.split())
    if len(digits) != TOTP_DIGITS or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)
    now_step = totp_step(at)
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.at(step * TOTP_PERIOD_SECONDS), digits):
            return step
    return None


def looks_like_totp(code: str) -> bool:
    """Whether what was typed is shaped like an authenticator code (spaces allowed)."""
    digits = "".join(code.split())
    return len(digits) == TOTP_DIGITS and digits.isdigit()


RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: codes are read off paper and typed on phones.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10


def normalize_recovery_code(code: str) -> str:
    """'ABCDE-fghjk ' -> 'abcdefghjk': case, spaces and hyphens do not matter."""
    return "".join(ch for ch in code.lower() if ch not in " -\t")


def format_recovery_code(raw: str) -> str:
    """A recovery code as it is shown: its two halves joined by a hyphen."""
    half = len(raw) // 2
    return f"{raw[:half]}-{raw[half:]}"


def recovery_code_hash(secret_key: str, person_id: str, code: str) -> str:
    """HMAC-SHA256 under the app's secret key, bound to the person."""
    message = f"{person_id}:{normalize_recovery_code(code)}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()
