"""Execution (payments, milestones, completion, default) and evaluation (survey, close,
reopen, escalate)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from events.base import Money
from events.commands import ConfirmRedress, EscalateCase, RecordPayment, RecordSatisfaction, ReopenCase
from events.evaluation import CaseClosed, SurveySent
from events.execution import ExecutionStarted, PlanCompleted, RedressPaid
from events.intake import ComplaintRegistered
from events.planning import PlanAccepted, PlanProposed
from events.plans import Redress
from services.rules.plans import schedule
from services.steps import evaluation, execution, planning
from services.steps.contract import Tick
from tests.given import CUSTOMER, T0, cmd, env, given, types, when
from tests.unit.steps.test_planning import facts, ledger, registered  # noqa: F401 - shared fixtures

DAY = timedelta(days=1)


def accepted_repayment(balance: str = "1200.00", capacity: str = "100") -> list:
    history = registered("Loan", balance, "credit_and_loan_repayment")
    reading = ledger(balance, interest="60.00", fees="15.00")
    proposed = when(planning, given(planning, *history), env(facts(capacity, reading), step="contact"))
    plan = proposed[0]
    return [env(plan, step="planning"), env(PlanAccepted(plan_id=plan.plan_id, round=1), step="planning")]  # type: ignore[attr-defined]


def started(history: list) -> list:
    events = when(execution, given(execution, *history[:-1]), history[-1])
    return [*history, *[env(e, step="execution") for e in events]]


def pay(amount: str, n: int = 1) -> object:
    return cmd(RecordPayment(payment_id=f"P{n}", amount=Money(amount=Decimal(amount)), paid_at=T0))


def test_an_accepted_repayment_plan_starts_and_payments_are_matched_to_instalments() -> None:
    history = started(accepted_repayment())
    assert isinstance(history[-1].event, ExecutionStarted) and history[-1].event.instalments == 12
    events = when(execution, given(execution, *history), pay("300.00"))
    assert types(events) == ["PaymentMatched"] * 3 + ["MilestoneReached", "ProgressNotified"]


def test_paying_everything_completes_the_plan_and_tells_the_customer() -> None:
    history = started(accepted_repayment())
    events = when(execution, given(execution, *history), pay("1200.00"))
    assert types(events)[-2:] == ["ProgressNotified", "PlanCompleted"]
    assert types(events).count("MilestoneReached") == 3


def test_two_missed_instalments_default_the_plan_back_to_planning() -> None:
    history = started(accepted_repayment())
    state = given(execution, *history)
    assert execution.next_due(state) is not None
    first_due = schedule(Decimal("1200.00"), 12, T0.date(), "CNY")[0].due_on
    events = when(execution, state, Tick(T0 + 70 * DAY), now=T0 + 70 * DAY)
    assert types(events) == ["InstalmentMissed", "InstalmentMissed", "PlanDefaulted"]
    assert events[0].due_on == first_due  # type: ignore[attr-defined]


def test_a_refund_is_executed_and_then_confirmed() -> None:
    plan = PlanProposed(
        plan_id="C1-P1",
        round=1,
        terms=Redress(kind="refund", amount=Money(amount=Decimal("25.00")), reason="charged twice"),
        value=Money(amount=Decimal("25.00")),
        policy_version="p",
        needs_approval=False,
    )
    history = started(
        [env(plan, step="planning"), env(PlanAccepted(plan_id="C1-P1", round=1), step="planning")]
    )
    assert isinstance(history[-1].event, RedressPaid)
    refused = when(execution, given(execution, *history), cmd(ConfirmRedress(reference="WRONG")))
    assert types(refused) == ["CommandRejected"]
    done = when(
        execution, given(execution, *history), cmd(ConfirmRedress(reference=history[-1].event.reference))
    )
    assert types(done) == ["RedressConfirmed", "PlanCompleted"]


def test_a_payment_without_a_running_plan_is_rejected() -> None:
    assert types(when(execution, execution.State(), pay("10"))) == ["CommandRejected"]


REGISTERED = env(
    ComplaintRegistered(
        submission_id="S1",
        channel="app",
        received_at=T0,
        customer_id="CUST-1",
        subject="s",
        description="d",
        policy="CN-2020",
    )
)


def test_a_completed_plan_sends_a_survey_and_the_answer_closes_the_case() -> None:
    sent = when(
        evaluation, given(evaluation, REGISTERED), env(PlanCompleted(plan_id="C1-P1"), step="execution")
    )
    assert types(sent) == ["SurveySent"]
    state = given(evaluation, REGISTERED, env(sent[0], step="evaluation"))
    answer = cmd(
        RecordSatisfaction(survey_id=sent[0].survey_id, csat=2, nps=3, comment="slow"), actor=CUSTOMER
    )  # type: ignore[attr-defined]
    events = when(evaluation, state, answer)
    assert types(events) == ["SatisfactionRecorded", "CaseClosed"]
    assert events[1].reopen_until == T0 + 14 * DAY  # type: ignore[attr-defined]
    again = when(
        evaluation,
        given(
            evaluation,
            REGISTERED,
            env(sent[0], step="evaluation"),
            *[env(e, step="evaluation") for e in events],
        ),
        answer,
    )
    assert types(again) == ["CommandRejected"]


def _closed() -> object:
    survey = SurveySent(survey_id="C1-S1", method="app", respond_by=T0)
    return given(
        evaluation,
        REGISTERED,
        env(survey, step="evaluation"),
        env(CaseClosed(outcome="resolved", reopen_until=T0 + 14 * DAY), step="evaluation"),
    )


def test_a_dissatisfied_customer_can_reopen_or_escalate_within_the_window() -> None:
    assert types(
        when(evaluation, _closed(), cmd(ReopenCase(reason="not fixed"), actor=CUSTOMER), now=T0 + 3 * DAY)
    ) == ["CaseReopened"]
    assert types(
        when(
            evaluation,
            _closed(),
            cmd(EscalateCase(to_level="head_office", reason="unfair"), actor=CUSTOMER),
            now=T0 + 3 * DAY,
        )
    ) == ["CaseEscalated"]


def test_reopening_after_the_window_is_rejected() -> None:
    events = when(evaluation, _closed(), cmd(ReopenCase(reason="late"), actor=CUSTOMER), now=T0 + 15 * DAY)
    assert types(events) == ["CommandRejected"] and "window" in events[0].reason  # type: ignore[attr-defined]


def test_an_unanswered_survey_closes_the_case_when_its_answer_is_due() -> None:
    sent = when(
        evaluation, given(evaluation, REGISTERED), env(PlanCompleted(plan_id="C1-P1"), step="execution")
    )
    state = given(evaluation, REGISTERED, env(sent[0], step="evaluation"))
    due = evaluation.next_due(state)
    assert due == T0 + 7 * DAY
    assert when(evaluation, state, Tick(T0 + 6 * DAY), now=T0 + 6 * DAY) == []
    events = when(evaluation, state, Tick(T0 + 7 * DAY), now=T0 + 7 * DAY)
    assert types(events) == ["CaseClosed"] and events[0].outcome == "resolved"  # type: ignore[attr-defined]
    closed = given(
        evaluation, REGISTERED, env(sent[0], step="evaluation"), *[env(e, step="evaluation") for e in events]
    )
    assert evaluation.next_due(closed) is None
