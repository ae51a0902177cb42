"""Real CFPB complaints replayed through the running services: the report's figures equal the
same figures computed straight from the CSV (a subset here; `make simulate` runs all 8,967)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services import simulate

CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "cfpb_sample.csv"


def test_the_report_matches_the_csv_for_a_replayed_subset(running) -> None:
    if not CSV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the CFPB sample is missing at {CSV}", pytrace=False)
        pytest.skip("no ../shared/data/cfpb_sample.csv beside the checkout")
    lines: list[str] = []
    ok = simulate.simulate(running, CSV, limit=150, timeout_s=240, log=lines.append)
    assert ok, "\n".join(lines)
    assert "all figures match" in lines[-1]


def test_the_expected_figures_come_straight_from_the_csv() -> None:
    if not CSV.exists():
        pytest.skip("no CFPB sample")
    data = simulate.rows(CSV)
    figures = simulate.expected(data)
    assert figures["cases"] == 8967
    assert figures["by_channel"] == {"app": 6675, "branch": 1580, "hotline": 712}
    assert figures["on_time_rate"] == round(8848 / 8967, 4)
    assert figures["dispute_rate"] == round(482 / (482 + 1579), 4)
