"""The shape of src/trim, held by its imports (read with ast, nothing is executed).

The import drawing should read areas -> flags -> privacy -> models: privacy/ (policy,
audit, crypto) leans on tables and pure rules only, never on a service, and the arrows
between areas point one way. Every import counts, at the top of a module or inside a
function. Importing an area's `models` or pure `rules` (or the Actor value) is an arrow
to the shared bottom layer, not to that area."""

from __future__ import annotations

import ast
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "trim"

# Modules every layer may use: settings, the database plumbing, the error types.
FOUNDATION = {"trim", "trim.config", "trim.db", "trim.errors"}
# What inside an area belongs to the bottom layer: tables, pure rules, who is asking.
BOTTOM_LAYER = {"models", "rules", "actor"}

# Arrows that run against the others today, each with where it comes from. Taking
# them away leaves the areas without a circle; a new arrow that closes one fails
# test_area_imports_point_one_way. When one of these goes, delete its line.
KNOWN_BACK_EDGES: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(("trim", *parts))] = path
    return found


MODULES = _modules()
AREAS = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists() and p.name != "migrations")


def imports_of(module: str) -> set[str]:
    """The trim modules this one imports (`from trim.x import y` is trim.x.y when y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "trim":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "trim")
    return found


def area_of(module: str) -> str | None:
    """The area a module belongs to, or None for the bottom layer and what is outside areas."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in AREAS:
        return None
    if len(parts) > 2 and parts[2] in BOTTOM_LAYER:
        return None
    return parts[1]


def _bottom_or_privacy(module: str) -> bool:
    parts = module.split(".")
    if module in FOUNDATION:
        return True
    if len(parts) >= 2 and parts[1] == "privacy":
        return True
    return len(parts) == 3 and parts[1] in AREAS and parts[2] in BOTTOM_LAYER


def area_graph() -> dict[tuple[str, str], set[str]]:
    """(from area, to area) -> the imports that draw that arrow."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for module in MODULES:
        source = area_of(module)
        if source is None:
            continue
        for target in imports_of(module):
            to = area_of(target)
            if to is not None and to != source:
                edges[(source, to)].add(f"{module} -> {target}")
    return edges


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One circle in the graph, as a path that ends where it began, or None."""
    nexts: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(edges):
        nexts[a].append(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in nexts[node]:
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(nexts):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_privacy_imports_tables_and_rules_only_never_a_service() -> None:
    # Everything privacy/ reaches, directly or through what it imports.
    privacy = {m for m in MODULES if m.startswith("trim.privacy")}
    assert {"trim.privacy.policy", "trim.privacy.audit", "trim.privacy.crypto"} <= privacy
    seen, todo, wrong = set(privacy), list(privacy), []
    while todo:
        module = todo.pop()
        for target in sorted(imports_of(module)):
            if not _bottom_or_privacy(target):
                wrong.append(f"{module} -> {target}")
            elif target not in seen:
                seen.add(target)
                todo.append(target)
    assert wrong == [], "privacy/ must lean on tables and pure rules only:\n" + "\n".join(wrong)


def test_use_cases_that_read_every_area_live_in_records_not_privacy() -> None:
    privacy = {m.removeprefix("trim.privacy.") for m in MODULES if m.startswith("trim.privacy.")}
    # sealing: the audit chain's other half (sealing, anchors); it reads audit events only.
    assert privacy <= {"policy", "audit", "sealing", "crypto", "models"}, privacy
    assert {"trim.records.service", "trim.records.retention", "trim.records.keys"} <= set(MODULES)


def test_area_imports_point_one_way() -> None:
    graph = area_graph()
    cycle = find_cycle(set(graph) - set(KNOWN_BACK_EDGES))
    if cycle:
        arrows = "\n".join(f"  {a} -> {b}: " + "; ".join(sorted(graph[(a, b)])[:3]) for a, b in pairwise(cycle))
        raise AssertionError(f"the areas import each other in a circle {' -> '.join(cycle)}:\n{arrows}")
    gone = sorted(edge for edge in KNOWN_BACK_EDGES if edge not in graph)
    assert gone == [], f"these arrows no longer exist: delete them from KNOWN_BACK_EDGES: {gone}"


def test_the_circle_finder_finds_circles() -> None:
    assert find_cycle({("a", "b"), ("b", "c")}) is None
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert find_cycle({("x", "a"), ("a", "b"), ("b", "a")}) == ["a", "b", "a"]


def test_importing_another_areas_tables_or_rules_draws_no_arrow_between_areas() -> None:
    assert area_of("trim.incidents.models") is None and area_of("trim.requests.rules") is None
    assert area_of("trim.accounts.actor") is None and area_of("trim.app") is None
    assert area_of("trim.privacy.policy") == "privacy" and area_of("trim.incidents.service") == "incidents"


def test_every_public_function_in_accounts_says_what_it_does() -> None:
    missing = []
    for path in sorted((SRC / "accounts").glob("*.py")):
        if path.name.endswith("routes.py") or path.name == "models.py":
            continue  # handlers say it in their summary; tables hold no logic
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if not doc or not doc.strip():
                    missing.append(f"accounts/{path.name}:{node.lineno} {node.name}")
    assert missing == [], "public functions without a docstring:\n" + "\n".join(missing)


def test_the_role_guards_need_only_the_actor() -> None:
    # Every area's pages use trim.guards; it stays outside the area drawing only while it
    # leans on nothing but the Actor and the foundation (never accounts' sign-in or a service).
    wrong = sorted(t for t in imports_of("trim.guards") if not _bottom_or_privacy(t) or t.startswith("trim.privacy"))
    assert wrong == [], f"trim.guards must need only the Actor: {wrong}"
