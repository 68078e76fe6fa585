"""The deployment files an operator copies: every alert rule reads a figure trim really
exposes, the four conditions the issue names are there, and docker compose keeps the
metrics ports on its own network."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trim.db import create_engine, make_sessionmaker, utcnow
from trim.jobs import SWEEPS
from trim.metrics.exposition import scrape
from trim.metrics.registry import WORKER_REGISTRY
from trim.metrics.worker import ObservedWorker

ROOT = Path(__file__).resolve().parents[2]


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def names(text: str) -> set[str]:
    found = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    for family in text_string_to_metric_families(text):
        found.add(family.name)
        # A labelled figure nothing has counted yet still names its series.
        found.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        found.update(sample.name for sample in family.samples)
    return found


async def test_every_alert_reads_a_figure_trim_exposes(settings: Any) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        web = (await scrape(make_sessionmaker(engine), clock=utcnow)).decode()
        ObservedWorker(make_sessionmaker(engine), settings, sweeps=SWEEPS)
    finally:
        await engine.dispose()
    exposed = names(web) | names(generate_latest(WORKER_REGISTRY).decode())
    missing = {
        rule["alert"]: sorted(set(re.findall(r"trim_[a-z_]+", rule["expr"])) - exposed)
        for rule in rules()
        if set(re.findall(r"trim_[a-z_]+", rule["expr"])) - exposed
    }
    assert missing == {}


def test_the_issues_four_alerts_are_there() -> None:
    exprs = " | ".join(" ".join(str(rule["expr"]).split()) for rule in rules())
    assert "trim_outbox_oldest_unsent_age_seconds) > 15 * 60" in exprs
    assert "trim_flags_urgent_oldest_unacknowledged_age_seconds) > 30 * 60" in exprs
    assert "trim_sweep_last_run_timestamp_seconds) > 10 * 60" in exprs
    assert "trim_audit_sealing_lag_seconds) > 5 * 60" in exprs


def test_compose_keeps_the_metrics_ports_inside_its_network() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for service, setting in (("app", "TRIM_METRICS_PORT"), ("worker", "TRIM_WORKER_METRICS_PORT")):
        port = str(services[service]["environment"][setting])
        assert port in [str(p) for p in services[service]["expose"]], service
        published = " ".join(str(p) for p in services[service].get("ports", []))
        assert port not in published, f"{service} publishes its metrics port on the host"
    assert "/health/ready" in " ".join(services["app"]["healthcheck"]["test"])
