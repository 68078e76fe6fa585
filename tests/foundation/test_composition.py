"""What the app and the worker are made of: each area exports its sweeps and its
navigation as tuples, and trim.jobs / trim.app compose them. Nothing is registered as a
side effect of building the web app, so `trim worker` knows every sweep on its own."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from tests.conftest import FakeClock
from trim.accounts import signin
from trim.accounts.actor import Actor
from trim.accounts.models import SigninCounter
from trim.config import Settings
from trim.db import AsyncSession, create_engine, make_sessionmaker
from trim.errors import InvalidInput
from trim.notifications.sweeps import RegisteredSweep, run_sweeps

SRC = Path(__file__).resolve().parents[2] / "src" / "trim"

# What the worker's sweep list is computed from, in a fresh interpreter: no web app.
WORKER_SWEEPS = """
import json, sys
from trim.jobs import SWEEPS
assert "trim.app" not in sys.modules, "the worker's sweeps needed the web app"
print(json.dumps([[s.name, s.run.__module__, s.run.__name__] for s in SWEEPS]))
"""


def _sweep_functions() -> set[tuple[str, str]]:
    """Every `async def sweep_*` at the top level of a module under src/trim."""
    found = set()
    for path in SRC.rglob("*.py"):
        module = "trim." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("sweep_"):
                found.add((module, node.name))
    return found


def test_the_workers_sweeps_are_every_areas_without_building_the_app() -> None:
    done = subprocess.run([sys.executable, "-c", WORKER_SWEEPS], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    names = [name for name, _, _ in listed]
    assert len(names) == len(set(names)), "two sweeps share a name"
    scheduled = {(module, function) for _, module, function in listed}
    # Each area's jobs module exports SWEEPS, and the worker runs all of them.
    for jobs_module in sorted(SRC.glob("*/jobs.py")):
        module = importlib.import_module(f"trim.{jobs_module.parent.name}.jobs")
        exported = getattr(module, "SWEEPS", None)
        assert isinstance(exported, tuple), f"{module.__name__} exports no SWEEPS tuple"
        assert all(isinstance(s, RegisteredSweep) for s in exported)
        assert {s.name for s in exported} <= set(names), module.__name__
    # A sweep written but never scheduled (as pruning sign-in counters once was) fails here.
    assert _sweep_functions() - scheduled == set()
    assert {"accounts.signin_counters", "idempotency.expired", "checkins.due", "outbox.sent"} <= set(names)


async def test_the_worker_prunes_sign_in_counters_once_their_window_has_passed(
    session: AsyncSession, settings: Settings, clock: FakeClock
) -> None:
    from trim.jobs import SWEEPS

    for n in range(3):
        with pytest.raises(InvalidInput):
            await signin.authenticate(
                session, email="x@example.org", password="no", address=f"10.0.0.{n}", now=clock(), settings=settings
            )
    assert len((await session.exec(select(SigninCounter))).all()) == 4  # one account, three addresses
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        maker = make_sessionmaker(engine)
        clock.advance(minutes=settings.signin_window_minutes - 1)
        early = await run_sweeps(maker, now=clock(), settings=settings, sweeps=SWEEPS)
        assert early["accounts.signin_counters"] == 0
        assert len((await session.exec(select(SigninCounter))).all()) == 4  # still in their window
        clock.advance(minutes=1)
        done = await run_sweeps(maker, now=clock(), settings=settings, sweeps=SWEEPS)
    finally:
        await engine.dispose()
    assert done["accounts.signin_counters"] == 4
    assert (await session.exec(select(SigninCounter))).all() == []


# What each role saw before the navigation was composed from the areas' NAV tuples.
NAV_BY_ROLE = {
    "responder": ["/requests/new", "/me/checkins"],
    "peer": ["/checkins", "/peer-profile", "/requests", "/incidents", "/flags"],
    "lead": [
        "/requests",
        "/overview",
        "/planning",
        "/peers",
        "/supervision",
        "/incidents",
        "/dashboard",
        "/reports/quarterly",
        "/flags",
        "/shared-notes",
        "/services",
        "/groups",
        "/admin/people",
    ],
    "supervisor": ["/requests/new", "/incidents", "/incidents/new", "/shared-notes"],
    "clinician": ["/requests/new", "/referrals"],
    "admin": ["/admin/audit", "/admin/people", "/admin/stations", "/admin/roster", "/admin/settings"],
    "trim_manager": ["/planning", "/peers", "/supervision"],
}


def test_the_composed_navigation_shows_each_role_its_entries_in_screen_order() -> None:
    from trim import web
    from trim.app import NAV

    for role, expected in NAV_BY_ROLE.items():
        actor = Actor(id=uuid.uuid4(), name=role, roles=frozenset({role}))
        assert [item.href for item in web.nav_for(actor, NAV)] == expected, role
    token = Actor(id=None, name="integration", token_id=uuid.uuid4(), roles=frozenset({"lead"}))
    assert web.nav_for(token, NAV) == []


def test_two_navigation_entries_for_one_address_stop_start_up() -> None:
    from trim import web

    first = (web.nav_item("Flags", "/flags", "peer", place=10),)
    again = (web.nav_item("Flags again", "/flags", "lead", place=20),)
    with pytest.raises(ValueError, match="href /flags"):
        web.compose_nav(first, again)
    same_place = (web.nav_item("Other", "/other", "lead", place=10),)
    with pytest.raises(ValueError, match="place 10"):
        web.compose_nav(first, same_place)
    later = (web.nav_item("Later", "/later", "lead", place=20),)
    assert [i.href for i in web.compose_nav(later, first)] == ["/flags", "/later"]  # by place, not by area
