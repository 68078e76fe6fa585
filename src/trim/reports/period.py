"""The report's period: a quarter or whole months in the organisation's zone. Pure."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from trim.dashboard import rules as dashboard_rules
from trim.dashboard.rules import Period
from trim.errors import FieldError, InvalidInput

MAX_REPORT_MONTHS = 24

# -- the period ---------------------------------------------------------------------------------

QUARTER = re.compile(r"^\s*([0-9]{4})\s*-?\s*[Qq]([1-4])\s*$")
MONTH = re.compile(r"^\s*([0-9]{4})-([0-9]{2})\s*$")
# Years a report can be about (and whose months have a next month in every zone).
FIRST_YEAR, LAST_YEAR = 1970, 9000


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_period(first: date, last: date, zone: ZoneInfo) -> Period:
    """From the first of `first`'s month to the end of `last`'s month, local time."""
    return Period(_midnight(first.replace(day=1), zone), _midnight(_month_after(last.replace(day=1)), zone))


def quarter_period(text: str, zone: ZoneInfo) -> Period:
    """'2026Q4' -> October to December 2026 in the organisation's zone."""
    found = QUARTER.match(text)
    if not found:
        raise InvalidInput("Give the quarter as YYYYQn, e.g. 2026Q4.", [FieldError("quarter", "Give YYYYQn.")])
    year, quarter = int(found[1]), int(found[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput("Give a year from 1970 on.", [FieldError("quarter", "Give a year from 1970 on.")])
    first = date(year, 3 * quarter - 2, 1)
    return months_period(first, date(year, 3 * quarter, 1), zone)


def _month(text: str, name: str) -> date:
    found = MONTH.match(text)
    if not found or not 1 <= int(found[2]) <= 12 or not FIRST_YEAR <= int(found[1]) <= LAST_YEAR:
        raise InvalidInput(f"Give {name} as a month, YYYY-MM.", [FieldError(name, "Give a month as YYYY-MM.")])
    return date(int(found[1]), int(found[2]), 1)


def report_period(
    *, quarter: str | None, from_month: str | None, to_month: str | None, now: datetime, zone: ZoneInfo
) -> Period:
    """The quarter asked for, or a whole-month range (from and to both included); with
    neither, the last whole quarter before now."""
    if quarter and quarter.strip():
        return quarter_period(quarter, zone)
    if (from_month and from_month.strip()) or (to_month and to_month.strip()):
        if not (from_month and to_month):
            missing = "from" if not from_month else "to"
            raise InvalidInput("Give both months of the range.", [FieldError(missing, "Give a month as YYYY-MM.")])
        first, last = _month(from_month, "from"), _month(to_month, "to")
        if last < first:
            raise InvalidInput("The range ends before it starts.", [FieldError("to", "End after the start.")])
        if (last.year - first.year) * 12 + last.month - first.month >= MAX_REPORT_MONTHS:
            message = f"Choose at most {MAX_REPORT_MONTHS} months."
            raise InvalidInput(message, [FieldError("from", message)])
        return months_period(first, last, zone)
    return quarter_period(previous_quarter(now, zone), zone)


def previous_quarter(now: datetime, zone: ZoneInfo) -> str:
    local = now.astimezone(zone)
    quarter = (local.month - 1) // 3
    return f"{local.year - 1}Q4" if quarter == 0 else f"{local.year}Q{quarter}"


def period_title(period: Period, zone: ZoneInfo) -> str:
    """'October 2026 to December 2026' (or one month's name)."""
    first, last = dashboard_rules.period_days(period, zone)
    start, end = first.strftime("%B %Y"), last.strftime("%B %Y")
    return start if start == end else f"{start} to {end}"


def month_of(when: datetime, zone: ZoneInfo) -> str:
    return when.astimezone(zone).strftime("%Y-%m")
