"""What keeping the dashboard's rollups costs the recording path (issue 18), in one run:

    uv run python bench/rollup_cost.py [--seconds 20] [--repeat 1]

The recording benchmark (bench/recording.py: the bare INSERT floor, then trim's
`POST /api/checkins/{id}/record` at 32 connections with a sealing worker) on two copies
of one seeded database: in one the dashboard's marking triggers (every trigger named
`dashboard_*`: they mark the incidents and days whose figures a change moves) are
disabled, in the other they run, as they do in production, and the worker's rollup sweep
rebuilds what they mark. Both count the check-ins recorded in the database. With
--repeat 2 the order alternates (off, on, on, off) so a drift in the machine's load does
not favour one side. The issue's bound: recording with the rollups kept may be at most
10% slower than without.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from common import _admin, bench_database, machine
from load import seed
from recording import MAX_LOAD, floor_phase, load_average, scalar, trim_phase
from sqlalchemy import text

from trim.db import create_engine

HERE = Path(__file__).resolve().parent


async def set_triggers(url: str, *, enabled: bool) -> int:
    """Enable or disable every dashboard marking trigger; returns how many there are."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                        "WHERE tgname LIKE 'dashboard\\_%' AND NOT tgisinternal ORDER BY 1, 2"
                    )
                )
            ).all()
            for table, name in rows:
                await conn.execute(text(f'ALTER TABLE {table} {"ENABLE" if enabled else "DISABLE"} TRIGGER "{name}"'))
    finally:
        await engine.dispose()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peers", type=int, default=32)
    parser.add_argument("--per-peer", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (the order alternates)")
    parser.add_argument("--force", action="store_true", help="run even on a busy machine")
    parser.add_argument("--report", default="rollup_cost.md")
    args = parser.parse_args()
    if load_average() >= MAX_LOAD and not args.force:
        sys.exit(f"load average {load_average():.2f} >= {MAX_LOAD}: others are using the machine; try later")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    order = [False, True]
    runs: list[tuple[bool, dict[str, object]]] = []
    triggers = 0
    with bench_database("trim_bench_rollup_cost") as template:
        asyncio.run(seed(template, args.peers, per_peer=args.per_peer))
        floor = floor_phase(template, seconds=args.seconds, connections=args.connections, threads=args.threads)
        for pair in range(args.repeat):
            for kept in order if pair % 2 == 0 else list(reversed(order)):
                name = f"trim_bench_rollup_cost_{len(runs)}"
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "trim_bench_rollup_cost"'))
                url = template.rsplit("/", 1)[0] + "/" + name
                try:
                    triggers = asyncio.run(set_triggers(url, enabled=kept))
                    result = trim_phase(
                        url,
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=args.threads,
                        peers=args.peers,
                    )
                    result["marks_left"] = asyncio.run(scalar(url, "SELECT count(*) FROM dashboard_rollup_marks"))
                    runs.append((kept, result))
                finally:
                    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    floor_rate = int(floor["rows"]) / args.seconds  # type: ignore[call-overload]

    def rate(kept: bool) -> float:
        picked = [int(r["rows"]) for k, r in runs if k == kept]  # type: ignore[call-overload]
        return sum(picked) / len(picked) / args.seconds

    off, on = rate(False), rate(True)
    change = (on - off) / off * 100 if off else float("nan")
    command = (
        f"uv run python bench/rollup_cost.py --seconds {args.seconds} --connections {args.connections} "
        f"--threads {args.threads} --peers {args.peers} --per-peer {args.per_peer} --repeat {args.repeat}"
    )
    lines = [
        "# The cost of keeping the dashboard's rollups on the recording path",
        "",
        f"Machine: {machine()}",
        "",
        f"Command: `{command}` (commit {commit}); wrk {args.threads} threads, {args.connections} connections, "
        f"{args.seconds} s each; app with 2 processes and one `trim worker` (sealing the audit chain and running "
        f"the rollup sweep); {triggers} dashboard marking triggers, disabled or enabled in a copy of one seeded "
        "database per run.",
        "",
        f"Floor (bare Litestar + asyncpg INSERT): {floor['rows']} rows, {floor_rate:.0f} rows/s, "
        f"p99 {floor['p99']:.1f} ms; load average then {float(floor['load']):.2f}.",  # type: ignore[arg-type]
        "",
        "| run | rollups kept | check-ins recorded | per second | ratio to floor | p50 | p99 | non-2xx | "
        "socket errors | load | marks left |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (kept, r) in enumerate(runs, 1):
        per_second = int(r["rows"]) / args.seconds  # type: ignore[call-overload]
        lines.append(
            f"| {i} | {'yes' if kept else 'no'} | {r['rows']} | {per_second:.0f} | {per_second / floor_rate:.3f} | "
            f"{r['p50']:.1f} ms | {r['p99']:.1f} ms | {r['non2xx']} | {r['socket_errors']} | "
            f"{float(r['load']):.2f} | {r['marks_left']} |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        f"Recording with the rollups kept: **{on:.0f}/s against {off:.0f}/s without ({change:+.1f}%)**; "
        'the bound is -10%. "marks left": incidents still waiting for the sweep when the run was counted.',
    ]
    report = HERE / "results" / args.report
    report.write_text("\n".join(lines) + "\n")
    print(report.read_text())


if __name__ == "__main__":
    main()
