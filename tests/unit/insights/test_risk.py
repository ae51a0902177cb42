"""The dispute-risk scorer: a pure function of a case's facts and the stored coefficients."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from services.rules import risk

FACTS = st.builds(
    risk.RiskFacts,
    category=st.sampled_from([None, "credit_card", "fees_and_charges", "other", "fraud"]),
    channel=st.sampled_from([None, "app", "hotline", "branch"]),
    complexity=st.sampled_from([None, "simple", "complex", "especially_complex"]),
    amount=st.none() | st.floats(min_value=0, max_value=1e7),
    first_contact_days=st.none() | st.floats(min_value=0, max_value=90),
    relief=st.sampled_from([None, *risk.RELIEFS]),
    rounds=st.integers(0, 5),
    counters=st.integers(0, 5),
    deadline_warnings=st.integers(0, 4),
    decision_late=st.booleans(),
)


@given(FACTS)
def test_the_same_facts_always_get_the_same_score(facts: risk.RiskFacts) -> None:
    model = risk.model()
    first = risk.score(facts, model)
    assert risk.score(facts, model) == first and 0 <= first <= 1
    assert risk.score(risk.RiskFacts(**facts.__dict__), risk.RiskModel.from_dict(_stored())) == first


def _stored() -> dict:
    return json.loads(risk.MODEL_FILE.read_text())


def test_the_score_is_the_logistic_of_the_stored_coefficients() -> None:
    stored = _stored()
    facts = risk.RiskFacts(
        category="credit_card", channel="hotline", relief="explanation", first_contact_days=2
    )
    z = stored["intercept"] + sum(
        stored["coefficients"][name]
        for name in ("category:credit_card", "channel:hotline", "relief:explanation")
    )
    z += stored["coefficients"]["first_contact_days_log1p"] * math.log1p(2)
    assert risk.score(facts, risk.model()) == round(1 / (1 + math.exp(-z)), 4)


def test_the_rules_table_names_its_version_provenance_and_held_out_metrics() -> None:
    stored = _stored()
    assert stored["version"].startswith("risk-") and 0 < stored["threshold"] < 1
    assert set(stored["coefficients"]) == set(risk.FEATURES)
    assert (
        stored["provenance"]["data"] == "cfpb_sample.csv"
        and stored["provenance"]["rows_with_outcome"] == 2061
    )
    assert stored["provenance"]["fit_dates"][1] <= stored["provenance"]["test_dates"][0]
    for name in ("roc_auc", "pr_auc"):
        low, high = stored["metrics"][f"{name}_95ci"]
        assert low <= stored["metrics"][name] <= high


def test_a_model_with_an_unknown_feature_is_refused() -> None:
    stored = _stored()
    stored["coefficients"]["shoe_size"] = 1.0
    try:
        risk.RiskModel.from_dict(stored)
    except ValueError as exc:
        assert "shoe_size" in str(exc)
    else:
        raise AssertionError("accepted an unknown feature")
