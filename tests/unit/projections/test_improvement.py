"""Continuous improvement and staff development from the case views: plan effectiveness by plan
type and category, and each handler against the team's median with coaching notes."""

from __future__ import annotations

from typing import Any

from projections import report
from projections.case_state import new_view


def view(
    n: int, handler: str, kind: str = "refund", category: str = "fees_and_charges", **facts: Any
) -> dict:
    v = new_view(f"C{n}")
    v.update(handler=handler, team="retail", category=category, opened_at="2026-03-02T09:00:00Z")
    accepted = facts.pop("accepted", True)
    status = facts.pop("plan_status", "completed" if accepted else "offered")
    v["plan"] = {"plan_id": f"C{n}-P1", "kind": kind, "round": facts.pop("round", 1), "status": status}
    v["offers"] = {kind: 1}
    v["accepted"] = {kind: 1} if accepted else {}
    v["first_contact_deadline"] = {
        "due_at": "2026-03-03T09:00:00Z",
        "met_at": "2026-03-02T10:00:00Z" if facts.pop("contact_on_time", True) else "2026-03-04T09:00:00Z",
        "breached": False,
    }
    v["deadline"]["on_time"] = facts.pop("on_time", True)
    v.update(facts)
    return v


def test_plan_effectiveness_is_reported_by_plan_type_and_category() -> None:
    views = [
        view(
            1, "H-1", kind="repayment_restructuring", category="credit_card", round=2, plan_status="defaulted"
        ),
        view(2, "H-1", kind="repayment_restructuring", category="credit_card", csat=5, nps=10),
        view(3, "H-1", kind="repayment_restructuring", category="credit_card", accepted=False, reopened=1),
        view(4, "H-2", csat=2, nps=3, escalated=True),
    ]
    plans = report.compute(views, ["plan"])["plan"]
    cards = plans["repayment_restructuring/credit_card"]
    assert cards["cases"] == 3 and cards["acceptance_rate"] == round(2 / 3, 4)
    assert cards["rounds_to_acceptance_avg"] == 1.5 and cards["repayment_default_rate"] == 0.5
    assert cards["reopen_rate"] == round(1 / 3, 4) and cards["csat_avg"] == 5 and cards["nps"] == 100
    fees = plans["refund/fees_and_charges"]
    assert fees["escalation_rate"] == 1 and fees["repayment_default_rate"] is None and fees["nps"] == -100


def test_each_handler_is_set_against_the_team_median_and_outliers_are_named_for_coaching() -> None:
    views = [view(i, "H-GOOD", csat=5) for i in range(6)]
    views += [view(10 + i, "H-MID", csat=4) for i in range(6)]
    views += [view(20 + i, "H-SLOW", csat=4, contact_on_time=i < 2, accepted=i < 3) for i in range(6)]
    views += [view(30 + i, "H-NEW", csat=1, contact_on_time=False) for i in range(2)]  # too few to judge
    by = report.compute(views, ["handler"])["handler"]
    slow = by["H-SLOW"]
    assert slow["team"] == "retail" and slow["first_contact_on_time_rate"] == round(2 / 6, 4)
    assert slow["team_median"]["first_contact_on_time_rate"] == 1.0
    assert [note.split()[0] for note in slow["coaching"]] == ["first_contact_on_time_rate", "acceptance_rate"]
    assert by["H-GOOD"]["coaching"] == [] and by["H-MID"]["coaching"] == [] and by["H-NEW"]["coaching"] == []
    table, csv, html = (
        report.table({"handler": by}),
        report.to_csv({"handler": by}),
        report.to_html({"handler": by}),
    )
    assert "first_contact_on_time_rate 0.333 vs team median 1" in table and "H-SLOW" in csv
    assert "Coaching suggested" in html and "H-SLOW" in html


def test_a_risk_finding_flags_the_case_view_and_a_surge_is_no_case() -> None:
    from datetime import timedelta

    from projections import case_state
    from services.insights import facts
    from services.insights.surge import SurgeRule
    from services.rules import risk
    from tests.given import T0
    from tests.insights_data import proposed, registered

    events = [*registered("C1", "B-1", T0, channel="app"), proposed("C1", T0 + timedelta(hours=1))]
    record = facts.new_record()
    finding = None
    for envelope in events:
        record = facts.absorb(record, envelope)
        finding = finding or facts.risk_finding(record, envelope, risk.model())
    assert finding is not None and case_state.concerns_a_case(finding)
    plain = case_state.fold("C1", events)
    flagged = case_state.fold("C1", [*events, finding])
    assert "risk" not in plain and flagged["risk"]["score"] == finding.event.score  # type: ignore[union-attr]
    assert flagged["step"] == plain["step"] == "planning"  # a finding is not a step acting on the case
    surge = facts.surge_finding(
        '["B-1", null, "other"]', "2026-03-02", 10, 0.0, SurgeRule(), finding.event_id, T0
    )
    assert not case_state.concerns_a_case(surge)
