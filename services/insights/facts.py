"""What the insights service knows of a case, as a fold of its events from every step topic,
and the findings it derives. Every field merges by max, min or set union, so the fold gives the
same record whatever order the topics are read in and however often an event is redelivered."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from events.base import Actor
from events.envelope import Envelope
from events.insights import RiskScored, SurgeDetected
from services.insights.surge import SurgeRule
from services.rules import risk

Record = dict[str, Any]
# Finding ids: UUIDv5 of what the finding is about, so a replay rewrites the same record.
NAMESPACE = uuid.UUID("5b0c8f5e-7a8e-4c59-9a54-6f1b1a2f7e21")
ACTOR = Actor(kind="system", id="insights")


def new_record() -> Record:
    return {
        "received_at": None,
        "channel": None,
        "branch_id": None,
        "product": None,
        "amount": None,
        "category": None,
        "complexity": None,
        "first_contact_at": None,
        "relief": None,
        "rounds": 0,
        "counters": [],
        "warnings": [],
        "late": False,
        "forwarded": False,
        "finding": None,
        "sent": False,
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def absorb(record: Record, envelope: Envelope) -> Record:
    """The record with this event's facts merged in (a new dict; the input is not changed)."""
    r = {**record, "counters": list(record["counters"]), "warnings": list(record["warnings"])}
    e: Any = envelope.event
    kind = e.type
    if kind == "ComplaintRegistered":
        r.update(received_at=_iso(e.received_at), channel=e.channel, branch_id=e.branch_id, product=e.product)
        if e.amount_disputed is not None:
            r["amount"] = float(e.amount_disputed.amount)
    elif kind == "ComplaintClassified":
        r.update(category=e.category, complexity=e.complexity)
    elif kind == "ContactAttempted" and e.outcome == "reached":
        at = _iso(envelope.occurred_at)
        r["first_contact_at"] = min(filter(None, [r["first_contact_at"], at]))
    elif kind in ("PlanProposed", "PlanRevised"):
        relief = [_iso(envelope.occurred_at), risk.RELIEF_OF_PLAN.get(e.terms.kind)]
        r["relief"] = max(filter(None, [r["relief"], relief]), key=lambda x: x[0] or "")
        r["rounds"] = max(r["rounds"], e.round)
    elif kind == "PlanOffered":
        r["rounds"] = max(r["rounds"], e.round)
    elif kind == "PlanCountered":
        r["counters"] = sorted({*r["counters"], e.plan_id})
    elif kind == "DeadlineWarned":
        r["warnings"] = sorted({*r["warnings"], f"{e.deadline}:{e.percent_used}"})
    elif kind in ("DeadlineBreached", "DeadlineMet") and e.deadline == "decision":
        r["late"] = r["late"] or kind == "DeadlineBreached" or e.met_at > e.due_at
    return r


def facts(record: Record) -> risk.RiskFacts:
    days = None
    if record["received_at"] and record["first_contact_at"]:
        delta = datetime.fromisoformat(record["first_contact_at"]) - datetime.fromisoformat(
            record["received_at"]
        )
        days = max(delta.total_seconds(), 0.0) / 86400
    return risk.RiskFacts(
        category=record["category"],
        channel=record["channel"],
        complexity=record["complexity"],
        amount=record["amount"],
        first_contact_days=days,
        relief=record["relief"][1] if record["relief"] else None,
        rounds=record["rounds"],
        counters=len(record["counters"]),
        deadline_warnings=len(record["warnings"]),
        decision_late=record["late"],
    )


def risk_finding(record: Record, cause: Envelope, model: risk.RiskModel) -> Envelope | None:
    """RiskScored if the case's score reached the threshold and none was found before."""
    if record["finding"] is not None or record["category"] is None:
        return None
    known = facts(record)
    value = risk.score(known, model)
    if value < model.threshold:
        return None
    inputs = {k: round(v, 4) for k, v in risk.features(known).items() if v}
    event = RiskScored(
        score=value,
        threshold=model.threshold,
        model_version=model.version,
        facts=inputs,
        point=cause.step if cause.step != "insights" else "intake",
    )
    key = f"risk|{cause.case_id}|{model.version}|{model.threshold}"
    return Envelope(
        event_id=uuid.uuid5(NAMESPACE, key),
        case_id=cause.case_id,
        occurred_at=cause.occurred_at,
        step="insights",
        sequence=1,
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
        actor=ACTOR,
        event=event,  # type: ignore[arg-type]
    )


def group_key(record: Record) -> str:
    """The surge group of a registered and classified case: (branch, product, category)."""
    return json.dumps([record["branch_id"], record["product"], record["category"]], ensure_ascii=False)


def surge_input(record: Record, cause: Envelope) -> dict[str, str] | None:
    """What the surge counter needs, once the case is both registered and classified (and only
    if not forwarded before)."""
    if record["forwarded"] or not (record["received_at"] and record["category"]):
        return None
    return {
        "case_id": cause.case_id,
        "group": group_key(record),
        "day": record["received_at"][:10],
        "at": cause.occurred_at.isoformat(),
        "cause": str(cause.event_id),
    }


def window_id(group: str, day: str) -> str:
    return f"S-{hashlib.sha256(group.encode()).hexdigest()[:12]}-{day.replace('-', '')}"


def surge_finding(
    group: str,
    day: str,
    complaints: int,
    baseline: float,
    rule: SurgeRule,
    cause_id: uuid.UUID,
    at: datetime,
) -> Envelope:
    branch, product, category = json.loads(group)
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    event = SurgeDetected(
        branch_id=branch,
        product=product,
        category=category,
        window_start=start,
        window_end=start + timedelta(days=1),
        complaints=complaints,
        baseline_per_day=round(baseline, 4),
        baseline_days=rule.baseline_days,
        required=rule.required(baseline),
        rule=rule.id,
    )
    window = window_id(group, day)
    return Envelope(
        event_id=uuid.uuid5(NAMESPACE, f"surge|{group}|{day}|{rule.id}"),
        case_id=window,
        occurred_at=at,
        step="insights",
        sequence=1,
        correlation_id=uuid.uuid5(NAMESPACE, window),
        causation_id=cause_id,
        actor=ACTOR,
        event=event,  # type: ignore[arg-type]
    )
