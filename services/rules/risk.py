"""Dispute risk of a case: a versioned logistic model kept as a rules table (`risk_model.json`,
written by `accord insights train`). Scoring is a pure function of a case's facts and the
stored coefficients; no learning library is needed at run time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

MODEL_FILE = Path(__file__).with_name("risk_model.json")

CATEGORIES = (
    "credit_and_loan_repayment",
    "credit_card",
    "wealth_management",
    "fees_and_charges",
    "service_quality",
    "fraud",
)  # "other" is the reference level
CHANNELS = ("hotline", "branch")  # "app" is the reference level
RELIEFS = ("monetary", "non_monetary", "explanation")  # none offered yet is the reference level
# What a plan of each kind gives the customer, in the CFPB's terms for a company's response.
RELIEF_OF_PLAN = {
    "refund": "monetary",
    "compensation": "monetary",
    "fee_waiver": "monetary",
    "repayment_restructuring": "non_monetary",
    "service_recovery": "non_monetary",
    "risk_explanation": "explanation",
}
FEATURES = (
    *(f"category:{c}" for c in CATEGORIES),
    *(f"channel:{c}" for c in CHANNELS),
    "complexity:complex",
    "complexity:especially_complex",
    *(f"relief:{r}" for r in RELIEFS),
    "decision_late",
    "first_contact_days_log1p",
    "amount_log10",
    "rounds_after_first",
    "counters",
    "deadline_warnings",
)


@dataclass(frozen=True)
class RiskFacts:
    """What is known of a case at some point; None (or 0) for what is not known yet."""

    category: str | None = None
    channel: str | None = None
    complexity: str | None = None
    amount: float | None = None
    first_contact_days: float | None = None
    relief: str | None = None
    rounds: int = 0
    counters: int = 0
    deadline_warnings: int = 0
    decision_late: bool = False


def features(facts: RiskFacts) -> dict[str, float]:
    """The model's inputs: one-hot levels against a reference level, and scaled counts."""
    x = dict.fromkeys(FEATURES, 0.0)
    for name, value in (
        ("category", facts.category),
        ("channel", facts.channel),
        ("complexity", facts.complexity),
        ("relief", facts.relief),
    ):
        if f"{name}:{value}" in x:
            x[f"{name}:{value}"] = 1.0
    if facts.first_contact_days is not None:
        x["first_contact_days_log1p"] = math.log1p(min(max(facts.first_contact_days, 0.0), 60.0))
    if facts.amount is not None:
        x["amount_log10"] = math.log10(1.0 + max(facts.amount, 0.0))
    x["rounds_after_first"] = float(max(facts.rounds - 1, 0))
    x["counters"] = float(facts.counters)
    x["deadline_warnings"] = float(facts.deadline_warnings)
    x["decision_late"] = 1.0 if facts.decision_late else 0.0
    return x


@dataclass(frozen=True)
class RiskModel:
    version: str
    intercept: float
    coefficients: dict[str, float]
    threshold: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskModel:
        unknown = set(data["coefficients"]) - set(FEATURES)
        if unknown:
            raise ValueError(f"risk model {data['version']}: unknown features {sorted(unknown)}")
        return cls(
            data["version"], float(data["intercept"]), dict(data["coefficients"]), float(data["threshold"])
        )


@cache
def model(path: Path = MODEL_FILE) -> RiskModel:
    return RiskModel.from_dict(json.loads(path.read_text()))


def score(facts: RiskFacts, risk_model: RiskModel) -> float:
    """The probability of a dispute the model gives these facts, rounded to 4 places."""
    x = features(facts)
    z = risk_model.intercept + sum(risk_model.coefficients.get(name, 0.0) * v for name, v in x.items())
    return round(1.0 / (1.0 + math.exp(-z)), 4)
