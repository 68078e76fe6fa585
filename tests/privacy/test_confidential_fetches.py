"""Every confidential fetch goes through policy: a walk of src/trim's source that lists the
functions which read a confidential table (a `select(...)` or `session.get(...)` naming one
of its models) and fails on a new one that neither asks `privacy.policy` nor is private to
its module, unless it is on the reviewed list below with the reason it is safe. And the
flags table has one writer: trim.flags."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import trim

SRC = Path(trim.__file__).parent
CONFIDENTIAL = {
    "Assessment",
    "AssessmentResult",
    "CheckIn",
    "ConversationMessage",
    "Exposure",
    "Flag",
    "Incident",
    "PeerChangeRequest",
    "PeerRequest",
    "PlanningRoute",
    "BriefingAttendee",
    "Referral",
    "SharedNote",
}

# Reviewed: public functions that read confidential tables without asking policy, each
# with why that is safe. A new entry needs the same review; a stale one fails the test.
REVIEWED = {
    "dashboard.rollups.rebuild_incidents": "the rollup sweep and `trim dashboard rebuild`: counts, bands and a "
    "sample of person ids into the rollups, which only the lead's dashboard reads (policy.can_view_dashboard)",
    "dashboard.rollups.refresh": "the rollup sweep: marks every incident for a rebuild (ids only), shows nothing",
    "dashboard.rollups.rebuild_range": "`trim dashboard rebuild`: incident ids of the range, shows nothing",
    "dashboard.contacts.rebuild_incidents": "the rollup sweep and `trim dashboard rebuild`: hours to first "
    "contact and a sample of person ids into the rollups, which only the lead's dashboard reads "
    "(policy.can_view_dashboard)",
    "dashboard.incident_rollups.rebuild_incidents": "the rollup sweep and `trim dashboard rebuild`: counts of "
    "incidents, flags, referrals, planning and briefings and a sample of person ids into the rollups, which only "
    "the lead's dashboard reads (policy.can_view_dashboard)",
    "dashboard.exposed_people.rebuild_months": "the rollup sweep: bitsets of the people exposed per month (small "
    "numbers, no ids or names), which only the lead's dashboard reads",
    "dashboard.contacts.mark_people": "the rollup sweep: turns people's marks into incident ids, shows nothing",
    "dashboard.caseloads.rebuild_incidents": "the rollup sweep and `trim dashboard rebuild`: each incident's open "
    "check-ins as (peer, person number) pairs into the caseload rollups, which only the lead's dashboard reads, "
    "as counts of peers per caseload band (policy.can_view_dashboard)",
    "metrics.figures.read_figures": "operational counts and ages for the metrics port (no ids, names or content)",
    "flags.jobs.sweep_unacknowledged_urgent": "a sweep: emails on-call a link, no content",
    "flags.service.raise_flag": "reads the cause key only, to raise once",
    "flags.service.check_cumulative": "incident dates for the cumulative rule; returns flags it raised",
    "flags.service.flag_causes": "cause codes of referrals the caller fetched through policy",
    "flags.service.support_started": "exposure ids only, for policy.can_remove_exposure",
    "flags.service.monitor_flag": "the flag is fetched and checked through policy first; its exposure schedules",
    "flags.service.settle_monitored": "called by recording, under policy.access_checkin; shows nothing",
    "flags.service.release_monitors": "called by opting out and removal, each under policy; shows nothing",
    "reports.feedback.offers": "the caller's own closed requests and finished exposures (actor.id only), for "
    "offering anonymous feedback; says what and when, nothing else",
    "followups.jobs.reminder_candidates": "a sweep: reminders to the assigned peer",
    "followups.periodic.sweep_periodic": "a sweep: creates and cancels periodic check-ins, shows nothing",
    "followups.service.assign_unassigned_periodic": "the periodic sweep or the lead's assign_unassigned: writes "
    "assignments, shows nothing",
    "followups.service.move_checkin_from_quiet_peer": "the quiet-peer sweep: moves a periodic check-in, shows nothing",
    "followups.service.peer_candidates": "open-check-in counts per peer for the assignment rules",
    "followups.service.reschedule_missing": "offsets of an exposure the caller changes under policy",
    "followups.service.move_open": "open check-ins of an incident the caller changes under policy",
    "followups.service.reopen_cancelled": "an exposure whose route the caller (planning) changes under policy",
    "followups.service.assign_unassigned": "lead only (checked first); writes assignments",
    "followups.service.reassign_exposure": "lead only (checked first)",
    "followups.service.reassign_open_of_peer": "the caller (account service) holds the lead's decision",
    "followups.service.move_from_quiet_peer": "the quiet-peer sweep: moves an exposure's open check-ins, shows nothing",
    "followups.service.open_change_requests": "lead only (checked first); names and dates, no content",
    "followups.service.peer_loads": "lead only (checked first); counts per peer",
    "followups.eligibility.standings": "counts of open people per peer for the eligibility filter, no content",
    "followups.eligibility.unassigned_reasons": "lead only (checked first); stations, roles and counts, no content",
    "incidents.service.add_exposure": "reached through policy.can_manage_incident by its caller",
    "incidents.service.exposure_counts": "counts for incidents the caller fetched through policy",
    "peers.jobs.sweep_quiet": "a sweep: moves quiet peers' check-ins; emails say nothing of whom",
    "records.service.own_record": "every query is filtered to the actor's own person id",
    "records.service.reads_about": "for own_record, the actor's own person id: who read about them (audit metadata)",
    "demo.peers_with_checkins_due": "the demo's first-run listing: counts per demo peer, on a database it just seeded",
    "demo_checkins.seed_history_support": "seeds the demo database it just made; returns nothing",
    "records.retention.purge": "the retention job: de-identifies, shows nothing",
    "records.keep_less.sweep_answers": "a sweep: deletes answers and notes, shows nothing",
    "records.keep_less.answers_kept": "filtered to the actor's own exposures; dates only",
    "requests.jobs.escalate_unanswered": "a sweep: tells the lead a request waits, no content",
    "requests.jobs.sweep_named_windows": "a sweep: widens a request's offer when its window ends",
    "requests.service.own_requests_section": "filtered to the actor's own requests",
}


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for member in node.body:
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}.{member.name}", member


def _models_named(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in CONFIDENTIAL}


def confidential_reads(fn: ast.AST) -> set[str]:
    """The confidential models a function names in a select() or passes to a .get()."""
    found: set[str] = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "select":
            for arg in node.args:
                found |= _models_named(arg)
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id in CONFIDENTIAL:
                found.add(first.id)
    return found


def asks_policy(fn: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "policy" for n in ast.walk(fn)
    )


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "migrations" or rel.as_posix() == "privacy/policy.py":
            continue  # history, and the policy itself
        yield ".".join(rel.with_suffix("").parts), ast.parse(path.read_text(), filename=str(path))


def unguarded_reads() -> dict[str, set[str]]:
    found = {}
    for module, tree in _modules():
        for name, fn in _functions(tree):
            models = confidential_reads(fn)
            if models and not fn.name.startswith("_") and not asks_policy(fn):
                found[f"{module}.{name}"] = models
    return found


def test_every_public_function_reading_a_confidential_table_asks_policy_or_was_reviewed() -> None:
    found = unguarded_reads()
    new = {key: sorted(models) for key, models in found.items() if key not in REVIEWED}
    assert not new, (
        "These read confidential tables without asking privacy.policy: take the actor and ask "
        f"policy, make them private to their module, or review them into REVIEWED with a reason: {new}"
    )
    stale = sorted(set(REVIEWED) - set(found))
    assert not stale, f"Reviewed entries that no longer match an unguarded function (remove or rename): {stale}"


def test_the_scan_sees_the_shapes_it_looks_for() -> None:
    """The walk is not vacuous: it finds a select, a .get and a policy call where they are."""
    tree = ast.parse(
        "async def a(session):\n    return await session.exec(select(Flag.id).where(Flag.x == 1))\n"
        "async def b(session, i):\n    return await session.get(Referral, i)\n"
        "async def c(session, actor):\n    return await session.exec(policy.visible_flags(actor))\n"
        "async def d(session):\n    return await session.exec(select(Person))\n"
    )
    fns = dict(_functions(tree))
    assert confidential_reads(fns["a"]) == {"Flag"} and not asks_policy(fns["a"])
    assert confidential_reads(fns["b"]) == {"Referral"}
    assert asks_policy(fns["c"])
    assert confidential_reads(fns["d"]) == set()
    assert unguarded_reads()  # the reviewed ones exist, so the walk reads the real tree


def _writes_flags(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "Flag":
                lines.append(node.lineno)  # a new row
            elif node.func.id in ("update", "delete", "insert") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Name) and first.id == "Flag":
                    lines.append(node.lineno)
    return lines


def test_only_the_flags_area_writes_the_flags_table() -> None:
    writers = {}
    for module, tree in _modules():
        if module.startswith("flags."):
            assert module != "flags.service" or _writes_flags(tree)  # the check sees the real writer
            continue
        if found := _writes_flags(tree):
            writers[module] = found
    assert not writers, f"Only trim.flags writes flags (raise, resolve, de-identify there): {writers}"
