"""The metrics ports as deployed: `trim run --workers 2` adds up both processes' figures on
TRIM_METRICS_PORT (the main port has no /metrics without a token), and `trim worker` shows
its sweeps on TRIM_WORKER_METRICS_PORT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_KEYS, TEST_SECRET
from trim.db import create_engine
from trim.metrics.pool import capacity
from trim.migrations import upgrade

TRIM = str(Path(sys.executable).parent / "trim")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process ended: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([TRIM, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'trim.db'}"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIM_")}
    env.update(
        TRIM_DATABASE_URL=url,
        TRIM_SECRET_KEY=TEST_SECRET,
        TRIM_ENCRYPTION_KEYS=f'["{TEST_KEYS[0]}"]',
        TRIM_AUDIT_ANCHOR_FILE=str(tmp_path / "anchors.jsonl"),
        TRIM_SMTP_URL="smtp://127.0.0.1:1",
        **extra,
    )
    return env


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def one_pool_ceiling(url: str) -> int:
    engine = create_engine(url)
    ceiling = capacity(engine.sync_engine.pool)
    assert ceiling
    return ceiling


def live_requests(text: str) -> float:
    return sum(v for labels, v in samples(text, "trim_http_requests_total") if labels["route"] == "/health/live")


@pytest.mark.slow
def test_two_web_processes_are_counted_together_on_the_metrics_port(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    shared = tmp_path / "multiproc"
    shared.mkdir()
    (shared / "counter_99999.db").write_bytes(b"left by a previous run")  # must be cleared, not read
    env = environment(tmp_path, TRIM_METRICS_PORT=str(metrics_port), PROMETHEUS_MULTIPROC_DIR=str(shared))
    with running(["run", "--port", str(port), "--workers", "2"], env) as process:
        wait_for(f"http://127.0.0.1:{port}/health/live", process)
        wait_for(f"http://127.0.0.1:{metrics_port}/metrics", process)
        # Both processes up: each adds its pool's ceiling when it starts (on a busy machine the
        # second can take seconds more than the first).
        expected = 2 * one_pool_ceiling(env["TRIM_DATABASE_URL"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            before = get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
            if samples(before, "trim_db_pool_connections_max") == [({}, float(expected))]:
                break
            time.sleep(0.2)
        already = sum(
            v for labels, v in samples(before, "trim_http_requests_total") if labels["route"] == "/health/live"
        )
        for _ in range(30):
            assert get(f"http://127.0.0.1:{port}/health/live")[0] == 200
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        counted = live_requests(text)
        assert counted - already == 30
        # Two live processes each hold a pool: their ceilings add up.
        [(_, ceiling)] = samples(text, "trim_db_pool_connections_max")
        assert ceiling == expected
        assert samples(text, "trim_outbox_depth") == [({}, 0.0)]
        # The main port serves no metrics without a token.
        assert get(f"http://127.0.0.1:{port}/metrics")[0] == 404
        # The stale file was cleared at start; the processes wrote their own.
        pids = {p.stem.rsplit("_", 1)[-1] for p in shared.glob("counter_*.db")}
        assert "99999" not in pids and len(pids) >= 1


@pytest.mark.slow
def test_the_worker_shows_its_sweeps_on_its_own_port(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, TRIM_WORKER_METRICS_PORT=str(port), TRIM_WORKER_POLL_SECONDS="0.5")
    with running(["worker"], env) as process:
        wait_for(f"http://127.0.0.1:{port}/metrics", process)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = get(f"http://127.0.0.1:{port}/metrics")[1]
            rounds = samples(text, "trim_worker_last_round_timestamp_seconds")
            if rounds and rounds[0][1] > 0:
                break
            time.sleep(0.3)
        last_runs = {labels["sweep"]: v for labels, v in samples(text, "trim_sweep_last_run_timestamp_seconds")}
        assert last_runs, "every sweep is listed"
        assert all(v > time.time() - 60 for v in last_runs.values()), last_runs
        assert rounds[0][1] > time.time() - 60
        assert "trim_mail_given_up_total" in text and "trim_http_requests_total" not in text
