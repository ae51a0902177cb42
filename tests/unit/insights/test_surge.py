"""The surge rule and the case facts the insights service keeps: given these complaints, then
this finding, whatever order and however often they arrive."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from events.base import Actor
from events.contact import ContactAttempted
from events.envelope import Envelope
from events.planning import PlanCountered, PlanOffered
from events.sla import DeadlineBreached, DeadlineWarned
from services.insights import facts
from services.insights.surge import SurgeRule
from services.rules import risk
from tests.given import T0
from tests.insights_data import registered

RULE = SurgeRule(factor=3.0, min_count=10, baseline_days=28)


def test_a_surge_needs_the_minimum_and_more_than_factor_times_the_baseline() -> None:
    assert RULE.required(0.0) == 10  # a quiet group: the minimum
    assert RULE.required(2.0) == 10  # 3 x 2 = 6 < 10
    assert RULE.required(5.0) == 16  # more than 3 x 5
    assert not RULE.surge(15, 5.0) and RULE.surge(16, 5.0)
    assert RULE.id == "surge-v1:x3:min10:28d"


def test_the_baseline_is_the_mean_over_the_trailing_days_before_the_window() -> None:
    counts = {"2026-03-01": 28, "2026-02-02": 28, "2026-02-01": 1000, "2026-03-02": 500}
    assert RULE.baseline(counts, "2026-03-02") == 2.0  # the window itself and day -29 are outside
    assert RULE.expired_before("2026-03-02") == "2026-02-01"


def _case_events(case: str = "C1") -> list[Envelope]:
    def env(event, step: str, minutes: int) -> Envelope:  # type: ignore[no-untyped-def]
        return Envelope(
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{minutes}"),
            case_id=case,
            occurred_at=T0 + timedelta(minutes=minutes),
            step=step,
            sequence=1,  # type: ignore[arg-type]
            correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, case),
            actor=Actor(kind="system", id=step),
            event=event,
        )

    return [
        *registered(case, "B-1", T0),
        env(
            ContactAttempted(attempt=1, method="phone", outcome="reached", within_preference=True),
            "contact",
            600,
        ),
        env(PlanOffered(plan_id=f"{case}-P1", round=1), "planning", 700),
        env(PlanCountered(plan_id=f"{case}-P1", round=1, counter={"summary": "more time"}), "planning", 800),
        env(DeadlineWarned(deadline="decision", percent_used=75, due_at=T0 + timedelta(days=15)), "sla", 900),
        env(DeadlineBreached(deadline="decision", due_at=T0 + timedelta(days=15)), "sla", 1000),
    ]


@settings(max_examples=50)
@given(st.randoms(use_true_random=False), st.integers(0, 6))
def test_the_case_facts_are_the_same_in_any_order_and_with_redeliveries(
    rng: random.Random, dups: int
) -> None:
    events = _case_events()
    shuffled = events + [rng.choice(events) for _ in range(dups)]
    rng.shuffle(shuffled)
    record = facts.new_record()
    for envelope in shuffled:
        record = facts.absorb(record, envelope)
    expected = facts.new_record()
    for envelope in events:
        expected = facts.absorb(expected, envelope)
    assert record == expected
    known = facts.facts(record)
    assert known.counters == 1 and known.deadline_warnings == 1 and known.decision_late
    assert (
        known.first_contact_days == 600 / 1440
        and known.channel == "branch"
        and known.category == "credit_card"
    )


def test_a_finding_has_an_id_from_what_it_is_about_and_nothing_else() -> None:
    events = _case_events()
    model = risk.RiskModel("risk-test", -5.0, {"decision_late": 10.0}, threshold=0.5)
    record = facts.new_record()
    found = []
    for envelope in events:
        record = facts.absorb(record, envelope)
        finding = facts.risk_finding(record, envelope, model)
        if finding is not None:
            found.append(finding)
            record = {**record, "finding": "recorded", "sent": True}
    assert len(found) == 1 and found[0].step == "insights" and found[0].event.type == "RiskScored"
    assert found[0].event.model_version == "risk-test" and found[0].event.point == "sla"  # type: ignore[union-attr]
    again = facts.risk_finding({**record, "finding": None}, events[0], model)
    assert again is not None and again.event_id == found[0].event_id
    group = json.dumps(["B-1", "Credit card", "credit_card"])
    one = facts.surge_finding(group, "2026-03-02", 10, 0.0, RULE, uuid.uuid4(), T0)
    two = facts.surge_finding(group, "2026-03-02", 12, 0.5, RULE, uuid.uuid4(), T0 + timedelta(hours=1))
    assert one.event_id == two.event_id and one.case_id == two.case_id
    assert facts.surge_finding(group, "2026-03-03", 10, 0.0, RULE, uuid.uuid4(), T0).event_id != one.event_id


def test_a_case_is_forwarded_to_the_surge_count_once_it_is_registered_and_classified() -> None:
    reg, cls = registered("C9", "B-1", T0)
    record = facts.absorb(facts.new_record(), reg)
    assert facts.surge_input(record, reg) is None
    record = facts.absorb(record, cls)
    forward = facts.surge_input(record, cls)
    assert forward is not None and forward["day"] == T0.date().isoformat()
    assert json.loads(forward["group"]) == ["B-1", "Credit card", "credit_card"]
    assert facts.surge_input({**record, "forwarded": True}, cls) is None
