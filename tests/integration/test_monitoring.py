"""Ops monitoring: every service's live /metrics passes `promtool check metrics` and carries no
case or customer id; the scrape config and alert rules pass promtool; the Grafana dashboard
only asks for metrics that exist."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from services import processes
from services.runtime import metrics
from services.steps.intake import case_id_for
from tests.integration.test_workflow import complaint, submit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: `make test` installs it (deploy/tools.sh)", pytrace=False)
        pytest.skip("no promtool (run deploy/tools.sh)")
    return found


def test_the_scrape_config_and_alert_rules_pass_promtool() -> None:
    tool = promtool()
    for args in (
        ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
    ):
        done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_surge_alert_fires_at_the_surge_rule_and_not_below() -> None:
    tool = promtool()
    done = subprocess.run(
        [tool, "test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_live_endpoint_passes_promtool_and_leaks_no_ids(running, live_producer, watcher) -> None:
    tool = promtool()
    sub = complaint("metrics", "hotline")
    case = submit(live_producer, sub)
    watcher.wait(case, "DeadlineStarted")
    time.sleep(2)  # the projection's gauges refresh every tick
    for service in processes.SERVICES:
        port = running.metrics_port + metrics.PORTS[service]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        done = subprocess.run(
            [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{service}: {done.stdout}{done.stderr}"
        assert case not in text and sub.customer_id not in text and "刘洋" not in text
        assert not re.search(r'"C[0-9A-F]{15}"', text), f"{service} exposes a case id as a label"
    with urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=10) as reply:
        intake = reply.read().decode()
    assert 'accord_messages_consumed_total{step="intake",topic="complaints.submitted"}' in intake
    assert "accord_processing_seconds_bucket" in intake and "accord_relay_backlog" in intake
    with urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port + 6}/metrics", timeout=10) as reply:
        assert "accord_open_cases{" in reply.read().decode()
    assert case_id_for(sub) == case


def test_the_dashboard_asks_only_for_metrics_that_exist() -> None:
    from prometheus_client import REGISTRY

    dashboard = json.loads((DEPLOY / "grafana" / "accord.json").read_text())
    known: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("accord_"):
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(
                family.type, [""]
            )
            known |= {family.name + suffix for suffix in suffixes}
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"accord_[a-z_]+", target["expr"])
    }
    assert used and used <= known, used - known
