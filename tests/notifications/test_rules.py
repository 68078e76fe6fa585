"""Who can switch what off, backoff, the SMTP URL, the email text, iCalendar lines: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trim.config import SettingsError, load_settings
from trim.followups.rules import digest_message, handover_message
from trim.notifications import ical, mail, rules


@pytest.mark.parametrize(
    ("kind", "chosen", "roles", "urgent", "expected"),
    [
        ("checkin_due", None, ["peer"], False, "email"),  # nothing chosen: email
        ("checkin_due", "none", ["peer"], False, "none"),
        ("checkin_due", "digest", ["peer"], False, "digest"),
        ("checkin_due", "digest", ["lead"], False, "email"),  # only peers have a digest
        ("urgent_flag", "none", ["peer"], False, "email"),  # urgent: never off for a peer
        ("urgent_flag", "none", ["lead"], False, "email"),
        ("escalation", "none", ["lead"], False, "email"),
        ("escalation", "none", ["responder", "peer"], False, "email"),
        ("flag", "none", ["peer"], True, "email"),  # any message sent as urgent
        ("flag", "none", ["peer"], False, "none"),
        ("referral", "none", ["clinician"], True, "none"),  # the lock is for peers and the lead
        ("account", "none", ["responder"], False, "email"),  # security notices always go
        ("checkin_digest", None, ["peer"], False, "email"),
    ],
)
def test_effective_channel(kind: str, chosen: str | None, roles: list[str], urgent: bool, expected: str) -> None:
    assert rules.effective_channel(kind, chosen, roles, urgent=urgent) == expected


def test_peers_may_choose_a_digest_for_checkin_reminders_only() -> None:
    assert rules.allowed_channels("checkin_due", ["peer"]) == ("email", "digest", "none")
    assert rules.allowed_channels("checkin_overdue", ["responder", "peer"]) == ("email", "digest", "none")
    assert rules.allowed_channels("checkin_due", ["lead"]) == ("email", "none")
    assert rules.allowed_channels("request_new", ["peer"]) == ("email", "none")
    assert rules.allowed_channels("urgent_flag", ["peer"]) == ("email",)


def test_each_role_is_asked_only_about_what_it_receives() -> None:
    def names(roles: list[str]) -> list[str]:
        return [k.name for k in rules.listed_kinds(roles)]

    # A responder or supervisor may be a requester in a conversation with a peer (section 15).
    assert names(["responder"]) == ["conversation_message", "account"]
    assert "urgent_flag" in names(["peer"]) and "escalation" not in names(["peer"])
    assert "escalation" in names(["lead"]) and "reassignment" in names(["lead"])
    assert names(["supervisor"]) == ["conversation_message", "account"]
    assert "checkin_digest" not in names(["peer", "lead"])


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 30), (1, 30), (2, 60), (3, 120), (5, 480), (7, 1920), (8, 3600), (40, 3600), (10_000, 3600)],
)
def test_backoff_doubles_up_to_the_cap(attempts: int, seconds: int) -> None:
    assert rules.retry_delay(attempts, base_seconds=30, max_seconds=3600) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "password", "use_tls", "start_tls"),
    [
        ("smtp://mail:1025", "mail", 1025, None, None, False, None),
        ("smtp://user:pass@smtp.example.org:587?starttls=1", "smtp.example.org", 587, "user", "pass", False, True),
        ("smtp://smtp.example.org?starttls=1", "smtp.example.org", 587, None, None, False, True),
        ("smtp://relay.internal?starttls=0", "relay.internal", 25, None, None, False, False),
        (
            "smtps://me%40example.org:p%40ss%2Fword@smtp.example.org",
            "smtp.example.org",
            465,
            "me@example.org",
            "p@ss/word",
            True,
            None,
        ),
    ],
)
def test_smtp_url(
    url: str, host: str, port: int, user: str | None, password: str | None, use_tls: bool, start_tls: bool | None
) -> None:
    target = mail.parse_smtp_url(url, default_timeout=30)
    assert (target.host, target.port, target.username, target.password) == (host, port, user, password)
    assert (target.use_tls, target.start_tls, target.timeout, target.validate_certs) == (use_tls, start_tls, 30, True)
    assert "pass" not in target.describe() and "word" not in target.describe()


def test_smtp_url_options_and_mistakes() -> None:
    target = mail.parse_smtp_url("smtp://h:25?timeout=5&verify=0", default_timeout=30)
    assert target.timeout == 5 and target.validate_certs is False
    for bad, says in [
        ("http://mail:25", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://h?tls=1", "unknown option 'tls'"),
        ("smtp://h?starttls=maybe", "starttls= takes 1 or 0"),
        ("smtp://h:port", "must be numbers"),
    ]:
        with pytest.raises(ValueError, match=says):
            mail.parse_smtp_url(bad, default_timeout=30)


def test_which_smtp_failures_are_permanent() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y.org")])
    busy = aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "try later", "x@y.org")])
    assert mail.is_permanent(refused) and mail.describe_error(refused) == "SMTPRecipientsRefused 550"
    assert not mail.is_permanent(busy)
    assert mail.is_permanent(aiosmtplib.SMTPDataError(554, "rejected"))
    assert not mail.is_permanent(aiosmtplib.SMTPDataError(421, "closing"))
    assert not mail.is_permanent(ConnectionRefusedError())
    assert mail.is_connection_failure(aiosmtplib.SMTPServerDisconnected("gone"))
    assert mail.is_connection_failure(aiosmtplib.SMTPReadTimeoutError("slow"))
    assert not mail.is_connection_failure(aiosmtplib.SMTPDataError(554, "rejected"))


def test_email_text_links_to_the_page_and_says_why_it_was_sent() -> None:
    text = rules.email_text(
        body="You have a check-in due.",
        link="/checkins/abc",
        base_url="https://trim.example.org/",
        org_name="County Fire",
        to_person=True,
    )
    assert text.startswith("You have a check-in due.\n\nhttps://trim.example.org/checkins/abc\n\n-- \n")
    assert "https://trim.example.org/profile/notifications" in text
    oncall = rules.email_text(body="x", link=None, base_url="https://t", org_name="O", to_person=False)
    assert "profile/notifications" not in oncall


@pytest.mark.parametrize(
    ("link", "ok"),
    [("/checkins/1", True), ("//evil.example", False), ("https://evil.example", False), ("/a\nb", False)],
)
def test_links_are_our_own_paths(link: str, ok: bool) -> None:
    assert rules.is_local_path(link) is ok


@pytest.mark.parametrize(
    ("due", "overdue", "body"),
    [
        (1, 0, "You have 1 check-in due."),
        (2, 1, "You have 2 check-ins due and 1 overdue."),
        (0, 3, "You have 3 check-ins overdue."),
    ],
)
def test_digest_counts(due: int, overdue: int, body: str) -> None:
    assert digest_message(due=due, overdue=overdue)[1].startswith(body)


def test_handover_message_counts_people_never_names_them() -> None:
    subject, body = handover_message(moved=2, unassigned=1)
    assert subject == "Check-ins need a peer"
    assert "2 people now have another peer." in body and "1 person still needs a peer" in body
    assert handover_message(moved=1, unassigned=0) == (
        "Check-ins were handed on",
        "A peer supporter is no longer available, so their open check-ins were handed on.\n"
        "1 person now has another peer.",
    )


def test_ical_escapes_text_values() -> None:
    assert ical.escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


@given(st.text(min_size=0, max_size=400))
def test_ical_folding_keeps_lines_short_and_loses_nothing(value: str) -> None:
    line = "DESCRIPTION:" + ical.escape_text(value)
    folded = ical.fold(line)
    assert all(len(part.encode()) <= 75 for part in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line


def test_calendar_is_crlf_with_one_uid_per_event() -> None:
    start = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
    events = [
        ical.CalendarEvent(
            uid=f"checkin-{i}@trim", start=start, end=start + timedelta(minutes=30), summary="Peer check-in"
        )
        for i in range(2)
    ]
    text = ical.render_calendar(events, name="Peer check-ins", now=start)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert text.count("BEGIN:VEVENT") == 2 and "UID:checkin-1@trim\r\n" in text
    assert "DTSTART:20261105T080000Z\r\nDTEND:20261105T083000Z\r\n" in text


def test_the_lease_is_short_by_default_and_renewed_not_sized_to_a_slow_send() -> None:
    # The heartbeat renews it while a batch is sent, so it need not outlast a slow server.
    assert load_settings().mail_lease == timedelta(seconds=30)
    assert load_settings(mail_lease_seconds=3, smtp_timeout_seconds=30).mail_lease == timedelta(seconds=3)
    with pytest.raises(SettingsError, match="TRIM_MAIL_LEASE_SECONDS"):
        load_settings(mail_lease_seconds=2)


def test_a_refusal_is_given_up_after_the_second_attempt_by_default() -> None:
    assert load_settings().mail_max_attempts == 2
