"""Fitting the risk model on the CFPB sample: a time-based split, reproducible, and what the
rules table holds is what training gives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from services.rules import risk

CSV = Path(__file__).resolve().parents[4] / "shared" / "data" / "cfpb_sample.csv"


@pytest.fixture(scope="module")
def train():  # type: ignore[no-untyped-def]
    if not CSV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the CFPB sample is missing at {CSV}", pytrace=False)
        pytest.skip("no ../shared/data/cfpb_sample.csv beside the checkout")
    pytest.importorskip("sklearn", reason="training needs the `train` extra (make test installs it)")
    from services.insights import train

    return train


def test_only_rows_with_a_known_outcome_are_used_and_earlier_rows_fit(train) -> None:  # type: ignore[no-untyped-def]
    rows = train.examples(CSV)
    assert len(rows) == 2061 and sum(e.disputed for e in rows) == 482
    fit, test = train.split(rows)
    assert len(fit) == 1442 and len(test) == 619
    assert max((e.received, e.complaint_id) for e in fit) < min((e.received, e.complaint_id) for e in test)


def test_training_is_reproducible_and_the_stored_rules_table_is_its_output(train) -> None:  # type: ignore[no-untyped-def]
    fresh = train.train(CSV)
    stored = json.loads(risk.MODEL_FILE.read_text())
    for model in (fresh, stored):
        del model["provenance"]["trained_on"]  # the one thing a later run may change
    assert fresh == stored  # same data, same seed: the same coefficients, threshold, version, metrics
