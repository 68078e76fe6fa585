"""Routes never manage the transaction: the request's session commits once when the handler
returns and rolls back when it raises (trim.deps.provide_db), so a handler that rolled back
itself could throw away an audit event or keep half a change. Services validate first."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "trim"
TRANSACTION_CALLS = {"rollback", "commit", "begin", "begin_nested"}


def controller_modules() -> list[Path]:
    """Every module that holds route handlers: routes.py, api.py, pages.py, *_routes.py."""
    return sorted(p for p in SRC.rglob("*.py") if p.stem in ("routes", "api", "pages") or p.stem.endswith("_routes"))


def transaction_calls(path: Path, root: Path = SRC) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in TRANSACTION_CALLS:
            found.append(f"{path.relative_to(root)}:{node.lineno} .{node.func.attr}()")
    return found


def test_the_check_sees_every_controller_module() -> None:
    names = {str(p.relative_to(SRC)) for p in controller_modules()}
    assert {"incidents/pages.py", "incidents/api.py", "admin/pages.py", "accounts/sso_routes.py"} <= names


def test_no_route_commits_or_rolls_back() -> None:
    offenders = [call for path in controller_modules() for call in transaction_calls(path)]
    assert offenders == [], "let the request's session commit or roll back: " + ", ".join(offenders)


def test_the_check_finds_a_rollback(tmp_path: Path) -> None:
    module = tmp_path / "pages.py"
    module.write_text("async def save(db):\n    await db.rollback()\n")
    assert transaction_calls(module, tmp_path) == ["pages.py:2 .rollback()"]
