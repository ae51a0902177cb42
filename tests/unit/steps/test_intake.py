"""Intake: registration, classification, repeats and new facts."""

from __future__ import annotations

import json
from decimal import Decimal

from events.codec import decode
from events.evaluation import CaseClosed
from events.intake import ComplaintClassified, ComplaintRegistered, NewFactsReported, RepeatComplaintLinked
from events.submission import ComplaintSubmission
from services.rules import classification
from services.steps import intake
from tests.given import RULES, T0, env, given, types, when


def submission(**changes: object) -> ComplaintSubmission:
    body = {
        "submission_id": "HL-1",
        "channel": "hotline",
        "submitted_at": "2026-03-02T08:00:00Z",
        "customer_id": "CUST-1",
        "customer": {"name": "王强", "phone": "+86 138 0000 1111"},
        "product": "Business loan",
        "subject": "Missed repayments after a market swing",
        "description": "Working capital shortfall",
        "amount_disputed": {"amount": "240000.00"},
    }
    body.update(changes)
    return decode(ComplaintSubmission, json.dumps(body).encode())


def registered_and_classified(sub: ComplaintSubmission) -> list:
    events = when(intake, intake.State(), sub)
    case = intake.case_id_for(sub)
    return [env(e, case=case) for e in events]


def test_a_new_complaint_is_registered_and_classified_with_the_policy_and_rules_version() -> None:
    events = when(intake, intake.State(), submission())
    assert types(events) == ["ComplaintRegistered", "ComplaintClassified"]
    registered, classified = events
    assert isinstance(registered, ComplaintRegistered) and isinstance(classified, ComplaintClassified)
    assert registered.policy == "CN-2020" and registered.amount_disputed.amount == Decimal("240000.00")
    assert (classified.category, classified.complexity) == ("credit_and_loan_repayment", "complex")
    assert classified.rules_version == classification.VERSION


def test_personal_data_goes_in_the_envelope_not_in_the_event() -> None:
    emits = intake.decide(intake.State(), submission(), T0, RULES)
    assert emits[0].personal is not None and emits[0].personal.name == "王强"
    assert "王强" not in emits[0].event.model_dump_json()


def test_classification_covers_every_category() -> None:
    cases = {
        "Credit card": "credit_card",
        "Wealth management product": "wealth_management",
        "Checking account fee": "fees_and_charges",
        "Fraud alert": "fraud",
        "Mortgage": "credit_and_loan_repayment",
        "Branch service": "service_quality",
        "Something else": "other",
    }
    for product, expected in cases.items():
        sub = submission(product=product, subject="A problem", description="请处理")
        classified = when(intake, intake.State(), sub)[1]
        assert classified.category == expected, product  # type: ignore[attr-defined]


def test_fraud_is_especially_complex_and_urgent_and_small_fees_are_simple() -> None:
    fraud = when(intake, intake.State(), submission(product="Card", subject="Fraud on my card"))[1]
    fee = when(
        intake,
        intake.State(),
        submission(product="Account fee", subject="Fee", amount_disputed={"amount": "25.00"}),
    )[1]
    assert (fraud.complexity, fraud.priority) == ("especially_complex", "urgent")  # type: ignore[attr-defined]
    assert fee.complexity == "simple"  # type: ignore[attr-defined]


def test_a_repeat_complaint_without_new_facts_is_linked_to_the_open_case() -> None:
    first = submission()
    state = given(intake, *registered_and_classified(first))
    again = submission(submission_id="APP-9", channel="app")
    events = when(intake, state, again)
    assert types(events) == ["RepeatComplaintLinked"]
    assert isinstance(events[0], RepeatComplaintLinked) and events[0].submission_id == "APP-9"


def test_a_repeat_complaint_with_new_facts_reports_them_on_the_open_case() -> None:
    state = given(intake, *registered_and_classified(submission()))
    events = when(
        intake,
        state,
        submission(submission_id="BR-2", channel="branch", description="The bank also charged a penalty fee"),
    )
    assert types(events) == ["NewFactsReported"]
    assert isinstance(events[0], NewFactsReported)


def test_after_the_case_closes_the_same_matter_opens_a_new_case() -> None:
    first = submission()
    case = intake.case_id_for(first)
    state = given(
        intake,
        *registered_and_classified(first),
        env(CaseClosed(outcome="resolved"), case=case, step="evaluation"),
    )
    events = when(intake, state, submission(submission_id="HL-2"))
    assert types(events) == ["ComplaintRegistered", "ComplaintClassified"]


def test_a_different_matter_of_the_same_customer_is_a_new_case() -> None:
    state = given(intake, *registered_and_classified(submission()))
    events = when(intake, state, submission(submission_id="HL-3", product="Credit card", subject="Card fee"))
    assert types(events) == ["ComplaintRegistered", "ComplaintClassified"]


def test_the_case_id_is_stable_for_a_channel_and_submission_id() -> None:
    assert intake.case_id_for(submission()) == intake.case_id_for(submission())
    assert intake.case_id_for(submission()) != intake.case_id_for(submission(channel="app"))
