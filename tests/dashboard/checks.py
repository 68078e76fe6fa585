"""Independent checks that hidden cells stay hidden: a reader who knows every shown
number and every row and column total, and subtracts."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from trim.dashboard.figures import Dashboard
from trim.dashboard.rules import Equation


def subtraction_attack(shown: Mapping[Hashable, object], equations: Sequence[Equation[Hashable]]) -> set[Hashable]:
    """The hidden cells a reader can work out by repeated subtraction: any line (a total
    and its parts) with exactly one unknown gives it away, which may give away more."""
    known = {key for key, value in shown.items() if not isinstance(value, str)}
    hidden = set(shown) - known
    found: set[Hashable] = set()
    changed = True
    while changed:
        changed = False
        for equation in equations:
            unknown = [m for m in equation.members if m not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                found.add(unknown[0])
                changed = True
    return found & hidden


def assert_nothing_derivable(dashboard: Dashboard, *, k: int) -> None:
    shown = dashboard.ledger.shown
    assert subtraction_attack(shown, dashboard.ledger.equations) == set()
    label = f"<{k}"
    for key, count in dashboard.ledger.cells.items():
        if count.value > 0 and count.people < k:
            assert shown[key] == label, key
    bands = dashboard.figure("score_bands")
    for row in bands.rows:
        if isinstance(row.values["elevated"], str) or isinstance(row.values["completed"], str):
            assert isinstance(row.values["elevated_share"], str), row
