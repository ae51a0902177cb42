"""`accord insights train --cfpb PATH`: fits the dispute-risk model on the CFPB rows whose
dispute outcome is known, with what was known at the bank's response, on a time-based split
(earlier rows fit, later rows test), and writes the coefficients as a versioned rules table."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from services.rules import risk
from services.rules.cfpb import CHANNELS
from services.rules.classification import PRODUCTS

RELIEF = {
    "Closed with monetary relief": "monetary",
    "Closed with non-monetary relief": "non_monetary",
    "Closed with explanation": "explanation",
}
# Features the CFPB sample cannot inform: no amount, no rounds or counter-offers, no deadline
# warnings, and complexity follows from the category alone when there is no amount.
NOT_IN_CFPB = (
    "category:wealth_management",
    "category:fraud",
    "complexity:complex",
    "complexity:especially_complex",
    "amount_log10",
    "rounds_after_first",
    "counters",
    "deadline_warnings",
)
FIT_SHARE = 0.7
C = 1.0  # the library's default L2 strength, fixed in advance: nothing is tuned on the test rows
THRESHOLD_QUANTILE = 0.75  # flag the cases scoring in the top quarter of the fitted rows
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Example:
    complaint_id: int
    received: date
    facts: risk.RiskFacts
    disputed: bool


def examples(path: Path) -> list[Example]:
    """The rows whose outcome is known, as the facts Accord would hold at the bank's response."""
    out = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Consumer disputed?"] not in ("Yes", "No"):
                continue
            received = date.fromisoformat(row["Date received"])
            sent = date.fromisoformat(row["Date sent to company"])
            facts = risk.RiskFacts(
                category=PRODUCTS.get(row["Product"].strip().lower(), "other"),
                channel=CHANNELS.get(row["Submitted via"], "app"),
                # CFPB proxy for time to first contact: days until the company had the complaint
                first_contact_days=float(max((sent - received).days, 0)),
                relief=RELIEF.get(row["Company response to consumer"]),
                decision_late=row["Timely response?"] != "Yes",
            )
            out.append(Example(int(row["Complaint ID"]), received, facts, row["Consumer disputed?"] == "Yes"))
    return out


def split(rows: list[Example]) -> tuple[list[Example], list[Example]]:
    """Earlier rows to fit, later rows to test, by date received (complaint id breaks ties)."""
    ordered = sorted(rows, key=lambda e: (e.received, e.complaint_id))
    cut = int(len(ordered) * FIT_SHARE)
    return ordered[:cut], ordered[cut:]


def _matrix(rows: list[Example], names: list[str]) -> list[list[float]]:
    return [[risk.features(e.facts)[n] for n in names] for e in rows]


def _interval(labels: list[int], scores: list[float], metric: Any, seed: int) -> list[float]:
    """A 95% percentile-bootstrap interval over the test rows (resampled with replacement)."""
    rng = random.Random(seed)
    n, values = len(labels), []
    for _ in range(BOOTSTRAP):
        pick = [rng.randrange(n) for _ in range(n)]
        y = [labels[i] for i in pick]
        if 0 < sum(y) < n:
            values.append(metric(y, [scores[i] for i in pick]))
    values.sort()
    return [round(values[int(0.025 * len(values))], 4), round(values[int(0.975 * len(values)) - 1], 4)]


def train(path: Path, seed: int = 20130722) -> dict[str, Any]:
    """The rules table (coefficients, threshold, version) with the run's provenance and metrics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    rows = examples(path)
    fit, test = split(rows)
    names = [n for n in risk.FEATURES if n not in NOT_IN_CFPB]
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=5000, random_state=seed)
    clf.fit(_matrix(fit, names), [int(e.disputed) for e in fit])
    coefficients = {n: round(float(c), 6) for n, c in zip(names, clf.coef_[0], strict=True)}
    coefficients |= dict.fromkeys(NOT_IN_CFPB, 0.0)
    body = {"intercept": round(float(clf.intercept_[0]), 6), "coefficients": coefficients}
    draft = risk.RiskModel.from_dict({**body, "version": "draft", "threshold": 0.5})
    fitted = sorted(risk.score(e.facts, draft) for e in fit)
    body["threshold"] = fitted[int(THRESHOLD_QUANTILE * (len(fitted) - 1))]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    labels = [int(e.disputed) for e in test]
    scores = [risk.score(e.facts, draft) for e in test]
    data = Path(path)
    return {
        "version": f"risk-{digest}",
        **body,
        "provenance": {
            "data": data.name,
            "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            "trained_on": date.today().isoformat(),
            "rows_with_outcome": len(rows),
            "point": "at the bank's response: category, channel, days until the company had the "
            "complaint (proxy for time to first contact), the relief given, whether it was late",
            "split": f"time-based: the earliest {FIT_SHARE:.0%} by date received fit, the rest test",
            "fit_rows": len(fit),
            "fit_dates": [fit[0].received.isoformat(), fit[-1].received.isoformat()],
            "test_rows": len(test),
            "test_dates": [test[0].received.isoformat(), test[-1].received.isoformat()],
            "method": f"scikit-learn LogisticRegression(C={C}, lbfgs), fixed in advance; "
            f"threshold = {THRESHOLD_QUANTILE:.0%} quantile of the fitted rows' scores",
            "not_fitted": list(NOT_IN_CFPB),
            "seed": seed,
        },
        "metrics": {
            "test_dispute_rate": round(sum(labels) / len(labels), 4),
            "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
            "roc_auc_95ci": _interval(labels, scores, roc_auc_score, seed),
            "pr_auc": round(float(average_precision_score(labels, scores)), 4),
            "pr_auc_95ci": _interval(labels, scores, average_precision_score, seed),
            "bootstrap_resamples": BOOTSTRAP,
        },
    }


def summary(model: dict[str, Any]) -> list[str]:
    m, p = model["metrics"], model["provenance"]
    return [
        f"risk model {model['version']}: fit on {p['fit_rows']} rows "
        f"{p['fit_dates'][0]}..{p['fit_dates'][1]}, tested on {p['test_rows']} later rows "
        f"{p['test_dates'][0]}..{p['test_dates'][1]}",
        f"  held-out ROC AUC {m['roc_auc']:.4f} (95% bootstrap CI {m['roc_auc_95ci'][0]:.4f}-"
        f"{m['roc_auc_95ci'][1]:.4f})",
        f"  held-out PR AUC  {m['pr_auc']:.4f} (95% bootstrap CI {m['pr_auc_95ci'][0]:.4f}-"
        f"{m['pr_auc_95ci'][1]:.4f}; dispute rate of the test rows {m['test_dispute_rate']:.4f})",
        f"  threshold {model['threshold']:.4f}; not fitted (absent from the CFPB data): "
        + ", ".join(p["not_fitted"]),
    ]


def write(model: dict[str, Any], path: Path = risk.MODEL_FILE) -> None:
    path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
