"""iCalendar (RFC 5545) text, written by hand: the few properties a feed of times needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_OCTETS = 75


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    start: datetime
    end: datetime
    summary: str
    url: str | None = None
    description: str | None = None


def escape_text(value: str) -> str:
    """TEXT values: backslash, semicolon, comma and newlines are escaped (3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a CRLF and a space
    (3.1), never splitting a UTF-8 character."""
    if len(line.encode()) <= MAX_OCTETS:
        return line
    pieces: list[str] = []
    current = ""
    limit = MAX_OCTETS
    for char in line:
        if len((current + char).encode()) > limit:
            pieces.append(current)
            current = char
            limit = MAX_OCTETS - 1  # the leading space counts
        else:
            current += char
    pieces.append(current)
    return "\r\n ".join(pieces)


def utc_stamp(value: datetime) -> str:
    """A DATE-TIME in UTC form: 20261126T090000Z."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def render_calendar(events: Sequence[CalendarEvent], *, name: str, now: datetime) -> str:
    """A whole VCALENDAR, CRLF line endings."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//trim//peer support check-ins//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{utc_stamp(now)}",
            f"DTSTART:{utc_stamp(event.start)}",
            f"DTEND:{utc_stamp(event.end)}",
            f"SUMMARY:{escape_text(event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold(line) for line in lines) + "\r\n"
