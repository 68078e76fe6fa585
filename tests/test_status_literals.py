"""Statuses, roles, outcomes, urgency and contact method are compared against their enums.

A string literal that is misspelt ("cancelld") compares False and the code quietly takes
the other branch; an enum member that is misspelt fails at import. Read with ast, nothing
is executed: any comparison of one of these fields with a string literal in src/trim fails."""

from __future__ import annotations

import ast
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "trim"

# The names whose values have an enum (Role, FlagStatus, ReferralStatus, RequestStatus,
# CheckInStatus, Outcome, RequestOutcome, Urgency, ContactMethod), as attribute
# (`flag.status`, `col(Flag.status)`) or plain name (`status`, `roles`).
ENUM_FIELDS = {"status", "statuses", "role", "roles", "outcome", "urgency", "contact_method"}


def _field(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and node.args:  # col(Flag.status)
        return _field(node.args[0])
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def literal_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, code) of each comparison (or SQL `in_`) of an enum field with a string literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "in_":
            # col(Flag.status).in_(("open", "referred")) in a query
            if _field(node.func.value) in ENUM_FIELDS and node.args and _is_literal(node.args[0]):
                found.append((node.lineno, ast.unparse(node)))
            continue
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for a, b in pairwise(operands):
            if (_field(a) in ENUM_FIELDS and _is_literal(b)) or (_field(b) in ENUM_FIELDS and _is_literal(a)):
                found.append((node.lineno, ast.unparse(node)))
                break
    return found


def test_the_check_sees_a_literal_comparison() -> None:
    caught = literal_comparisons(
        "if flag.status == 'open': pass\n"
        "x = col(Referral.status) != 'withdrawn'\n"
        "y = 'peer' in actor.roles\n"
        "z = outcome in ('declined', 'unreachable')\n"
        "w = request.urgency == Urgency.today\n"
        "v = view.level == 'own'\n"
        "u = col(PeerRequest.status).in_(('closed', 'withdrawn'))\n"
    )
    assert sorted(line for line, _ in caught) == [1, 2, 3, 4, 7]


def test_no_status_is_compared_with_a_string_literal() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {code}"
        for path in sorted(SRC.rglob("*.py"))
        if "migrations" not in path.parts
        for line, code in literal_comparisons(path.read_text())
    ]
    assert not offenders, "compare with the enum member instead (StrEnum equals its string):\n" + "\n".join(offenders)
