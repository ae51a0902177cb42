"""Complaints as intake would emit them, for the insights tests: registered and classified."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from events.base import Actor
from events.envelope import Envelope
from events.intake import ComplaintClassified, ComplaintRegistered
from events.planning import PlanProposed

INTAKE = Actor(kind="system", id="intake")


def registered(
    case: str, branch: str, at: datetime, product: str = "Credit card", channel: str = "branch"
) -> list[Envelope]:
    """The two events intake emits for a new complaint, with ids derived from the case."""
    correlation = uuid.uuid5(uuid.NAMESPACE_URL, f"corr/{case}")
    common = {
        "case_id": case,
        "occurred_at": at,
        "step": "intake",
        "correlation_id": correlation,
        "actor": INTAKE,
        "customer_id": f"CUST-{case}",
    }
    return [
        Envelope(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"reg/{case}"),
            sequence=1,
            **common,  # type: ignore[arg-type]
            event=ComplaintRegistered(
                submission_id=f"S-{case}",
                channel=channel,
                received_at=at,
                customer_id=f"CUST-{case}",
                product=product,
                subject="Fee charged twice",
                description="fee",
                branch_id=branch,
                policy="CN-2020",
            ),
        ),
        Envelope(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"cls/{case}"),
            sequence=2,
            **common,  # type: ignore[arg-type]
            event=ComplaintClassified(
                category="credit_card", complexity="complex", priority="normal", rules_version="classify-test"
            ),
        ),
    ]


def proposed(case: str, at: datetime, kind: str = "risk_explanation") -> Envelope:
    """Planning's first plan for the case: a risk explanation, or a refund."""
    terms: dict = (
        {
            "kind": "risk_explanation",
            "product_name": "Fund A",
            "risk_rating": "R3",
            "explanation": "market fell",
            "options": ["keep"],
        }
        if kind == "risk_explanation"
        else {"kind": kind, "amount": {"amount": "25.00"}, "reason": "charged twice"}
    )
    return Envelope(
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"plan/{case}"),
        case_id=case,
        occurred_at=at,
        step="planning",
        sequence=1,
        correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, f"corr/{case}"),
        actor=Actor(kind="system", id="planning"),
        event=PlanProposed.model_validate_json(
            json.dumps(
                {
                    "plan_id": f"{case}-P1",
                    "round": 1,
                    "terms": terms,
                    "value": {"amount": "25.00"},
                    "policy_version": "plans-test",
                    "needs_approval": False,
                }
            )
        ),
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
