"""How fast is the lead's dashboard at national scale? Run by hand, not by pytest:

    uv run python bench/dashboard_bench.py                 # the full report (seeds ~1M check-ins)
    uv run python bench/dashboard_bench.py --quick         # 10k check-ins only
    uv run python bench/dashboard_bench.py --explain       # also EXPLAIN ANALYZE each query once
    uv run python bench/dashboard_bench.py --database my_copy --as-built   # a copy of a kept 1M database
    uv run python bench/dashboard_bench.py --national --reuse --as-built --http  # also through a web server

It creates its own PostgreSQL databases (trim_bench_dash_10k, trim_bench_dash_1m) next
to the one in TRIM_TEST_DATABASE_URL (default postgres@127.0.0.1), seeds them with
INSERT ... SELECT generate_series, runs VACUUM ANALYZE, then times GET /api/dashboard
through the app in process (Litestar's test client, signed in as the lead) for a
one-month and a one-year range, ~30 runs each, and drops the databases at the end
(--keep leaves them). The data spans six years (the default retention period), so a
one-year range holds about a sixth of it.

With --http the same requests are also timed through the app served as a web process
serves it (uvicorn, one process, on 127.0.0.1), from a plain keep-alive HTTP client in
this process: what a lead's browser waits for, without the in-process test client's own
work (httpx, its thread hop), which the first measure includes. CPU per request there is
the server process's and the database's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from trim.accounts.passwords import hash_password_sync  # noqa: E402
from trim.app import create_app  # noqa: E402
from trim.config import load_settings  # noqa: E402
from trim.dashboard import incident_rollups, rollups  # noqa: E402
from trim.db import create_engine, make_sessionmaker  # noqa: E402
from trim.migrations import upgrade  # noqa: E402

ADMIN_URL = os.environ.get("TRIM_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEAD_EMAIL = "bench-lead@example.org"
PASSWORD = "bench-password-long-enough"
SECRET = "bench-secret-key-that-is-long-enough-for-hmac-0123456789"
FERNET = "Q2hhbmdlIG1lOiB0aGlzIGlzIGEgdGVzdCBrZXkgISE="


@dataclass(frozen=True)
class Scale:
    name: str
    people: int
    stations: int
    incidents: int
    max_exposures: int  # per incident: 1..max, uniformly (mean (1 + max) / 2)
    prefix: str = "trim_bench_dash"  # --database-prefix: several engineers bench side by side
    named: str | None = None  # an existing database to measure instead (--database)

    @property
    def database(self) -> str:
        return self.named or f"{self.prefix}_{self.name}"


# Two check-ins (day 3 and day 28) per exposure: 10k and about 1M check-ins.
SMALL = Scale("10k", people=1_000, stations=20, incidents=500, max_exposures=19)
NATIONAL = Scale("1m", people=100_000, stations=200, incidents=50_000, max_exposures=19)

KINDS = (
    "ARRAY['difficult_rescue','mass_casualty','violence_against_staff','child_death','suicide',"
    "'colleague_death_or_injury','other']"
)


def seed_sql(scale: Scale) -> list[str]:
    """The whole organisation as INSERT ... SELECT statements (setseed: the same every run)."""
    n_peers = max(10, scale.people // 50)
    now = f"'{NOW.isoformat()}'::timestamptz"
    return [
        "SELECT setseed(0.42)",
        f"""INSERT INTO stations (id, name, active, created_at)
            SELECT gen_random_uuid(), 'Station ' || g, true, {now} FROM generate_series(1, {scale.stations}) g""",
        "CREATE TEMP TABLE st AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM stations",
        f"""INSERT INTO people (id, staff_number, name, email, station_id, active, available, created_at, updated_at)
            SELECT gen_random_uuid(), 'B' || g, 'Bench person ' || g, 'bench' || g || '@example.org', st.id,
                   true, true, {now}, {now}
            FROM generate_series(1, {scale.people}) g JOIN st ON st.n = 1 + g % {scale.stations}""",
        "CREATE TEMP TABLE pp AS SELECT row_number() OVER (ORDER BY staff_number) AS n, id, station_id FROM people",
        "CREATE UNIQUE INDEX ON pp (n)",
        "INSERT INTO person_roles (person_id, role) SELECT id, 'responder' FROM pp",
        f"INSERT INTO person_roles (person_id, role) SELECT id, 'peer' FROM pp WHERE n <= {n_peers}",
        f"""INSERT INTO incidents (id, occurred_at, kind, station_id, summary, logged_by_label, created_at, updated_at)
            SELECT gen_random_uuid(), t, ({KINDS})[1 + floor(random() * 7)::int], st.id, 'Bench incident.',
                   'bench', t, t
            FROM (SELECT {now} - random() * interval '2190 days' AS t,
                         1 + floor(random() * {scale.stations})::int AS sn
                  FROM generate_series(1, {scale.incidents})) x JOIN st ON st.n = x.sn""",
        f"""INSERT INTO exposures (id, incident_id, person_id, exposure, peer_id, added_at)
            SELECT gen_random_uuid(), x.incident_id, p.id, (ARRAY['direct','witness','support'])[x.ek], peer.id,
                   x.occurred_at + interval '2 hours'
            FROM (SELECT i.id AS incident_id, i.occurred_at, 1 + floor(random() * {scale.people})::int AS pn,
                         1 + floor(random() * {n_peers})::int AS peer_n, 1 + floor(random() * 3)::int AS ek
                  FROM (SELECT id, occurred_at, 1 + floor(random() * {scale.max_exposures})::int AS n
                        FROM incidents) i
                  CROSS JOIN LATERAL generate_series(1, i.n) s) x
            JOIN pp p ON p.n = x.pn JOIN pp peer ON peer.n = x.peer_n
            ON CONFLICT (incident_id, person_id) DO NOTHING""",
        # Older check-ins mostly recorded (on time or late); recent ones open; some missed.
        f"""INSERT INTO checkins (id, exposure_id, incident_id, person_id, peer_id, kind, offset_days, scheduled_for,
                                  due_at, outcome, recorded_at, recorded_by_id, created_at)
            SELECT gen_random_uuid(), x.id, x.incident_id, x.person_id, x.peer_id, 'day' || x.o, x.o, x.due, x.due,
                   x.outcome, CASE WHEN x.outcome IS NOT NULL THEN x.recorded END,
                   CASE WHEN x.outcome IS NOT NULL THEN x.peer_id END, x.occurred_at + interval '2 hours'
            FROM (SELECT e.*, i.occurred_at, o.o, i.occurred_at + o.o * interval '1 day' AS due,
                         i.occurred_at + o.o * interval '1 day' + (random() * 12 - 1) * interval '1 day' AS recorded,
                         CASE WHEN i.occurred_at + o.o * interval '1 day' + interval '12 days' > {now}
                                   AND random() < 0.7 THEN NULL
                              ELSE (ARRAY['completed','completed','completed','completed','completed','completed',
                                          'declined','declined','unreachable','not_needed',NULL,NULL])
                                   [1 + floor(random() * 12)::int] END AS outcome
                  FROM exposures e JOIN incidents i ON i.id = e.incident_id
                  CROSS JOIN (VALUES (3), (28)) o(o)) x""",
        f"UPDATE checkins SET recorded_at = {now} - interval '1 hour' WHERE recorded_at > {now}",
        """INSERT INTO assessments (id, checkin_id, person_id, version, is_current, outcome, safety_concern, score,
                                    band, opted_out, recorded_by_id, recorded_at)
            SELECT gen_random_uuid(), x.id, x.person_id, 1, true, x.outcome, false,
                   CASE WHEN x.outcome = 'completed' THEN x.s END,
                   CASE WHEN x.outcome = 'completed' THEN CASE WHEN x.s >= 3 THEN 'elevated' ELSE 'low' END END,
                   false, x.recorded_by_id, x.recorded_at
            FROM (SELECT c.*, floor(random() * 6)::int AS s FROM checkins c
                  WHERE c.outcome IN ('completed', 'declined', 'unreachable', 'not_needed')) x""",
        f"""INSERT INTO flags (id, person_id, exposure_id, cause, cause_key, urgent, status, raised_at)
            SELECT gen_random_uuid(), x.person_id, x.id, x.cause, x.cause || ':' || x.id, x.cause = 'safety_concern',
                   (ARRAY['open','referred','referred','declined','closed'])[1 + floor(random() * 5)::int],
                   LEAST({now}, x.added_at + interval '28 days')
            FROM (SELECT e.*, (ARRAY['consecutive_elevated','elevated_last','tsq_positive','safety_concern'])
                                   [1 + floor(random() * 4)::int] AS cause
                  FROM exposures e WHERE random() < 0.04) x""",
        f"""INSERT INTO flags (id, person_id, cause, cause_key, urgent, status, raised_at)
            SELECT gen_random_uuid(), p.id, 'cumulative_exposure', 'cumulative:' || p.id || ':' || g, false,
                   (ARRAY['open','referred','closed'])[1 + floor(random() * 3)::int],
                   {now} - random() * interval '2190 days'
            FROM generate_series(1, {max(5, scale.incidents // 25)}) g
            JOIN pp p ON p.n = 1 + (g * 7919) % {scale.people}
            ON CONFLICT DO NOTHING""",
        f"""INSERT INTO referrals (id, flag_id, person_id, consent, share_assessment, status, created_at, updated_at)
            SELECT gen_random_uuid(), f.id, f.person_id, f.consent, false,
                   CASE WHEN f.consent THEN (ARRAY['referred','contact_made','taken_up','taken_up','not_taken_up',
                                                   'closed','withdrawn'])[1 + floor(random() * 7)::int]
                        ELSE 'declined' END,
                   LEAST({now}, f.raised_at + interval '2 days'), LEAST({now}, f.raised_at + interval '2 days')
            FROM (SELECT flags.*, random() < 0.8 AS consent FROM flags WHERE random() < 0.7) f""",
        f"""INSERT INTO peer_requests (id, requester_id, requester_station_id, urgency, contact_method,
                                       avoid_own_station, safety_concern, status, created_at, accepted_at,
                                       accepted_by_id)
            SELECT gen_random_uuid(), p.id, p.station_id, (ARRAY['today','this_week','when_convenient'])[x.u],
                   'phone', false, false, CASE WHEN x.accepted THEN 'closed' ELSE 'withdrawn' END, x.created,
                   CASE WHEN x.accepted THEN x.created + random() * interval '60 hours' END,
                   CASE WHEN x.accepted THEN peer.id END
            FROM (SELECT {now} - random() * interval '2190 days' AS created, 1 + floor(random() * 3)::int AS u,
                         random() < 0.8 AS accepted, 1 + floor(random() * {scale.people})::int AS pn,
                         1 + floor(random() * {n_peers})::int AS peer_n
                  FROM generate_series(1, {max(20, scale.incidents * 2 // 5)})) x
            JOIN pp p ON p.n = x.pn JOIN pp peer ON peer.n = x.peer_n""",
    ]


async def admin(sql: str) -> None:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def url_of(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def exists(database: str) -> bool:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database})
            return found.first() is not None
    finally:
        await engine.dispose()


@contextmanager
def bench_database(scale: Scale, keep: bool, reuse: bool) -> Iterator[tuple[str, bool]]:
    """The scale's database, fresh (or as left by --keep, with --reuse); dropped unless kept."""
    url = url_of(scale.database)
    if reuse and asyncio.run(exists(scale.database)):
        upgrade(url)
        yield url, False
        return
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{scale.database}" WITH (FORCE)'))
    asyncio.run(admin(f'CREATE DATABASE "{scale.database}"'))
    try:
        upgrade(url)
        yield url, True
    finally:
        if not keep:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{scale.database}" WITH (FORCE)'))


async def seed(url: str, scale: Scale) -> dict[str, int]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            for sql in seed_sql(scale):
                await conn.execute(text(sql))
            await conn.execute(
                text(
                    "INSERT INTO people (id, staff_number, name, email, station_id, active, available, "
                    "password_hash, created_at, updated_at) SELECT gen_random_uuid(), 'LEAD', 'Bench Lead', "
                    ":email, NULL, true, true, :hash, now(), now()"
                ),
                {"email": LEAD_EMAIL, "hash": hash_password_sync(PASSWORD, profile="cheapest")},
            )
            await conn.execute(
                text("INSERT INTO person_roles (person_id, role) SELECT id, 'lead' FROM people WHERE email = :e"),
                {"e": LEAD_EMAIL},
            )
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
            counts = {}
            for table in (
                "people",
                "incidents",
                "exposures",
                "checkins",
                "assessments",
                "flags",
                "referrals",
                "peer_requests",
            ):
                counts[table] = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
            return counts
    finally:
        await engine.dispose()


async def build_rollups(url: str) -> int:
    """The dashboard's rollups from scratch (the sweep, run until no mark is left), as a
    deployment's first worker round after migration 0634 builds them."""
    engine = create_engine(url, pool_size=1)
    settings = settings_for(url)
    done = 0
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("DELETE FROM dashboard_rollup_state"))  # built with nothing: rebuild all
        while True:
            async with make_sessionmaker(engine)() as session:
                rebuilt = await rollups.refresh(session, now=NOW, settings=settings)
                await session.commit()
            done += rebuilt
            if not rebuilt:
                return done
    finally:
        await engine.dispose()


async def mark_built(url: str) -> None:
    """The kept rollups in use again (after --live put them aside; they were not changed)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM dashboard_rollup_state"))
            await conn.execute(
                text("INSERT INTO dashboard_rollup_state (name, refreshed_at, built_with) VALUES (:n, :at, :w)"),
                {"n": rollups.STATE, "at": NOW, "w": rollups.built_with(settings_for(url))},
            )
    finally:
        await engine.dispose()


async def drop_rollups(url: str) -> None:
    """No rollups: the dashboard counts every figure live (the code before rollups)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM dashboard_rollup_state"))
    finally:
        await engine.dispose()


async def analyze(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def settings_for(url: str) -> Any:
    return load_settings(
        environment="test",
        database_url=url,
        secret_key=SECRET,
        encryption_keys=[FERNET],
        mfa_required_roles=[],
        argon2_profile="cheapest",
        cookie_secure=True,
        log_level="WARNING",
    )


class QueryTimer:
    """Wall time of each statement the app sends (for the per-query breakdown)."""

    def __init__(self) -> None:
        self.enabled = False
        self.timings: list[tuple[float, str, Any]] = []

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            conn.info["trim_bench_started"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            if self.enabled:
                self.timings.append((time.perf_counter() - conn.info["trim_bench_started"], statement, params))


def backend_cpu(database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends connected to `database`."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            if f" {database} " not in cmdline:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


async def cpu_per_request(url: str, database: str, query: dict[str, str], runs: int) -> float:
    """CPU milliseconds one request costs, app and database together, with PostgreSQL's
    parallel workers off (their CPU is not attributable): a measure the machine's other
    load does not distort, unlike wall time."""
    await admin(f'ALTER DATABASE "{database}" SET max_parallel_workers_per_gather = 0')
    try:
        app = create_app(settings_for(url), clock=lambda: NOW)
        async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
            await client.post("/api/session", json={"email": LEAD_EMAIL, "password": PASSWORD})
            for _ in range(3):
                await client.get("/api/dashboard", params=query)
            app_before, db_before = time.process_time(), backend_cpu(database)
            for _ in range(runs):
                await client.get("/api/dashboard", params=query)
            app_cpu, db_cpu = time.process_time() - app_before, backend_cpu(database) - db_before
    finally:
        await admin(f'ALTER DATABASE "{database}" RESET max_parallel_workers_per_gather')
    print(f"      CPU per request: app {app_cpu / runs * 1000:.1f} ms, database {db_cpu / runs * 1000:.1f} ms")
    return (app_cpu + db_cpu) / runs * 1000


def serve(url: str, port: int) -> None:
    """The app as one web process serves it (uvicorn), its clock at NOW: --serve."""
    import uvicorn

    app = create_app(settings_for(url), clock=lambda: NOW)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by one process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_http(
    url: str, database: str, ranges: dict[str, tuple[datetime, datetime]], runs: int
) -> dict[str, dict[str, float]]:
    """p50, p95 and CPU per request (server + database) through a served app."""
    import http.client
    import json
    import socket
    from urllib.parse import urlencode

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
    results: dict[str, dict[str, float]] = {}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/health")
                if conn.getresponse().read() and conn.sock is not None:
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        body = json.dumps({"email": LEAD_EMAIL, "password": PASSWORD})
        conn.request("POST", "/api/session", body=body, headers={"Content-Type": "application/json"})
        signin = conn.getresponse()
        signin.read()
        assert signin.status == 200, signin.status
        cookie = "; ".join(c.split(";", 1)[0] for c in signin.headers.get_all("Set-Cookie") or [])

        def get(path: str) -> float:
            started = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            return time.perf_counter() - started

        for label, (start, end) in ranges.items():
            path = "/api/dashboard?" + urlencode({"from": start.isoformat(), "to": end.isoformat()})
            for _ in range(3):
                get(path)
            app_before, db_before = process_cpu(server.pid), backend_cpu(database)
            samples = [get(path) for _ in range(runs)]
            app_cpu, db_cpu = process_cpu(server.pid) - app_before, backend_cpu(database) - db_before
            p50, p95 = quantiles(samples)
            results[label] = {"p50": p50, "p95": p95, "app": app_cpu / runs * 1000, "db": db_cpu / runs * 1000}
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


async def measure(url: str, ranges: dict[str, tuple[datetime, datetime]], runs: int, explain: bool) -> dict[str, Any]:
    app = create_app(settings_for(url), clock=lambda: NOW)
    timer = QueryTimer()
    results: dict[str, Any] = {}
    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        timer.attach(app.state.engine)
        signin = await client.post("/api/session", json={"email": LEAD_EMAIL, "password": PASSWORD})
        assert signin.status_code == 200, signin.text
        for label, (start, end) in ranges.items():
            query = {"from": start.isoformat(), "to": end.isoformat()}
            for _ in range(3):  # warm the caches and the connection pool
                response = await client.get("/api/dashboard", params=query)
                assert response.status_code == 200, response.text
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                response = await client.get("/api/dashboard", params=query)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
            timer.timings.clear()
            timer.enabled = True
            await client.get("/api/dashboard", params=query)
            timer.enabled = False
            p50, p95 = quantiles(samples)
            results[label] = {
                "p50": p50,
                "p95": p95,
                "queries": list(timer.timings),
                "incidents": response.json()["figures"]["incidents_by_month_kind"]["rows"][-1]["values"]["incidents"],
            }
            if explain:
                results[label]["explain"] = await explain_queries(url, timer.timings)
    return results


async def explain_queries(url: str, timings: list[tuple[float, str, Any]], top: int = 4) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the slowest statements, with the values they were sent with."""
    engine = create_engine(url, pool_size=1)
    lines = []
    try:
        async with engine.connect() as conn:
            # The dashboard's own session settings (trim.dashboard.queries.Dialect.tune).
            for setting in ("work_mem = '64MB'", "jit = off", "plan_cache_mode = force_custom_plan"):
                await conn.exec_driver_sql(f"SET {setting}")
            for seconds, statement, params in sorted(timings, key=lambda t: t[0], reverse=True)[:top]:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                plan = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
                lines.append(f"-- {seconds * 1000:.1f} ms in the app: {' '.join(statement.split())[:300]}")
                lines.extend(row[0] for row in plan)
    finally:
        await engine.dispose()
    return lines


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine() -> dict[str, str]:
    with open("/proc/meminfo") as f:
        mem = f.readline().split(":")[1].strip()
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select version()"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": str(os.cpu_count()),
        "memory": mem,
        "postgres": pg,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the 10k check-in organisation")
    parser.add_argument("--national", action="store_true", help="only the 1M check-in organisation")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--reuse", action="store_true", help="use a kept bench database as it is (implies --keep)")
    parser.add_argument("--explain", action="store_true", help="print the statements, slowest first")
    parser.add_argument("--live", action="store_true", help="no rollups: every figure counted live, as before")
    parser.add_argument("--as-built", action="store_true", help="with --reuse: the rollups as they are, not rebuilt")
    parser.add_argument(
        "--database-prefix",
        default="trim_bench_dash",
        help="name the databases PREFIX_10k and PREFIX_1m (e.g. a copy made with CREATE DATABASE ... TEMPLATE)",
    )
    parser.add_argument(
        "--database",
        help="measure this existing database as the 1M organisation (a copy of a kept one); implies --reuse",
    )
    parser.add_argument(
        "--incident-live",
        action="store_true",
        help="the figures keyed by incident counted live (as before migration 0638), the check-in rollups read",
    )
    parser.add_argument("--http", action="store_true", help="also time the requests through a served app")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if args.incident_live:

        async def nothing_rolled(*_: Any, **__: Any) -> dict[str, Any]:
            return {}

        incident_rollups.incident_cubes = nothing_rolled  # type: ignore[assignment]
    scales = [SMALL] if args.quick else [NATIONAL] if args.national else [SMALL, NATIONAL]
    if args.database:
        scales, args.reuse = [replace(NATIONAL, named=args.database)], True
    ranges = {
        "1 month": (NOW - timedelta(days=30), NOW),
        "1 year": (NOW - timedelta(days=365), NOW),
    }
    print("machine:", machine())
    print("load average at start:", load())
    for scale in scales:
        scale = replace(scale, prefix=args.database_prefix)
        with bench_database(scale, args.keep or args.reuse, args.reuse) as (url, fresh):
            started = time.perf_counter()
            if fresh:
                counts = asyncio.run(seed(url, scale))
                print(f"\n== {scale.name}: seeded in {time.perf_counter() - started:.0f} s: {counts}")
            else:
                asyncio.run(analyze(url))
                print(f"\n== {scale.name}: reusing {scale.database} (migrated and analyzed again)")
            if args.live:
                asyncio.run(drop_rollups(url))
                print(f"   {scale.name}: rollups off, every figure counted live")
            elif args.as_built and not fresh:
                asyncio.run(mark_built(url))
                print(f"   {scale.name}: the rollups as built before")
            else:
                started, cpu = time.perf_counter(), time.process_time()
                rebuilt = asyncio.run(build_rollups(url))
                asyncio.run(analyze(url))
                print(
                    f"   {scale.name}: rollups built from scratch for {rebuilt} incidents in"
                    f" {time.perf_counter() - started:.0f} s ({time.process_time() - cpu:.0f} s app CPU)"
                )
            results = asyncio.run(measure(url, ranges, args.runs, args.explain))
            for label, (start, end) in ranges.items():
                query = {"from": start.isoformat(), "to": end.isoformat()}
                results[label]["cpu"] = asyncio.run(cpu_per_request(url, scale.database, query, max(5, args.runs // 3)))
            for label, numbers in results.items():
                per_query = sorted(numbers["queries"], key=lambda t: t[0], reverse=True)
                print(
                    f"{scale.name:>4} {label:>8}: p50 {numbers['p50'] * 1000:7.1f} ms"
                    f"  p95 {numbers['p95'] * 1000:7.1f} ms  CPU {numbers['cpu']:7.1f} ms/request"
                    f"  ({len(per_query)} statements, slowest {per_query[0][0] * 1000:.1f} ms;"
                    f" incidents in range: {numbers['incidents']})"
                )
                if args.explain:
                    for line in numbers["explain"]:
                        print("     ", line)
            if args.http:
                for label, served in measure_http(url, scale.database, ranges, args.runs).items():
                    print(
                        f"{scale.name:>4} {label:>8} (served): p50 {served['p50'] * 1000:7.1f} ms"
                        f"  p95 {served['p95'] * 1000:7.1f} ms  CPU {served['app'] + served['db']:7.1f} ms/request"
                        f" (server {served['app']:.1f} + database {served['db']:.1f})"
                    )


if __name__ == "__main__":
    main()
