"""`python -m bench --smoke`: every stage of `make bench` at tiny sizes, on its own broker, so
the benchmark cannot stop running unnoticed. It checks that each stage completes and prints
its figures — never how fast (the machine running the tests is no benchmark machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from services.settings import ROOT
from tests.integration.conftest import free_ports

TABLE = [
    "raw relay chain",
    "raw consume from offset 0",
    "pipeline, complaints to closed case",
    "submission -> case view, 50% load",
    "submission -> case view, 100% load",
    "projection rebuild",
    "audit verify",
    "intake RSS after 200 / 400 cases",
    "pipeline, 2 instances of every step",
    "submission -> case view, 50% load, 2 instances",
    "long history: rebuild",
    "long history: verify",
    "projections CPU / peak RSS",
]


def test_every_stage_of_the_benchmark_runs_and_prints_its_figures(tmp_path) -> None:
    port = free_ports(3, start=29400)  # the broker, its controller, its SASL listener
    env = {
        **os.environ,
        "BENCH_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
        "BENCH_DATA_DIR": str(tmp_path / "bench"),
        # /health tells the stage with two instances of every step when they have shared out
        # their partitions: instance k serves on base + 100 k + the service's offset.
        "BENCH_METRICS_PORT": str(free_ports(120, start=29600)),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    for stage in range(1, 6):
        assert f"{stage}/5 " in out, out[-4000:]
    lines = [line.strip() for line in done.stdout.splitlines()]
    for row in TABLE:
        figures = next((line[len(row) :] for line in lines if line.startswith(row)), "")
        assert any(ch.isdigit() for ch in figures) and "None" not in figures, (row, done.stdout[-3000:])
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert set(results) >= {"relay_chain", "raw_consume", "pipeline", "latency_50", "latency_100"}
    assert set(results) >= {"rebuild", "verify", "memory", "services", "history"}
    assert results["history"]["verify"]["problems"] == 0
    assert results["history"]["rebuild"]["cases"] == results["history"]["written"]["cases"]
    assert results["pipeline"]["closed"] == results["pipeline"]["cases"] > 0
    several = results["instances"][0]
    assert several["instances"] == 2 and several["pipeline"]["closed"] == several["pipeline"]["cases"] > 0
