"""Planning: the versioned policy, approval, the customer's choice over rounds, and routes.
Every figure an offer states comes from the ledger reading or the reference data: see
test_planning_facts.py for what happens when they are missing and how the figures move."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events.base import Money
from events.commands import AcceptPlan, ApprovePlan, ChooseRoute, CounterPlan, RejectPlan
from events.common import CommandRejected
from events.contact import FactsLearned
from events.facts import REFERENCE_KEY, LedgerReading, MarketPoint, ProductRecord
from events.intake import ComplaintClassified, ComplaintRegistered
from events.planning import PlanProposed, PlanRevised, ReferenceDataLoaded
from events.plans import CounterOffer, RepaymentRestructuring, RiskExplanation
from services.steps import planning
from tests.given import CUSTOMER, T0, cmd, env, given, types, when


def registered(product: str, amount: str | None, category: str, complexity: str = "complex") -> list:
    return [
        env(
            ComplaintRegistered(
                submission_id="S1",
                channel="hotline",
                received_at=T0,
                customer_id="CUST-1",
                product=product,
                subject="s",
                description="d",
                amount_disputed=Money(amount=Decimal(amount)) if amount else None,
                policy="CN-2020",
            )
        ),
        env(
            ComplaintClassified(
                category=category, complexity=complexity, priority="normal", rules_version="r1"
            )
        ),
    ]


def ledger(
    balance: str | None = "12000.00",
    interest: str = "600.00",
    fees: str = "150.00",
    rate: str | None = "0.0435",
    product: str = "LOAN-1",
    currency: str = "CNY",
    disputed: str | None = None,
) -> LedgerReading:
    """A ledger reading: the principal is what is left of the balance after interest and fees."""
    money = lambda amount: Money(amount=Decimal(amount), currency=currency)  # noqa: E731
    parts = {}
    if balance is not None:
        principal = Decimal(balance) - Decimal(interest) - Decimal(fees)
        parts = {
            "balance": money(balance),
            "principal": money(str(principal)),
            "interest": money(interest),
            "fees": money(fees),
        }
    return LedgerReading(
        as_of=date(2026, 3, 1),
        product=product,
        account="****4567",
        annual_rate=Decimal(rate) if rate else None,
        disputed=money(disputed) if disputed else None,
        **parts,
    )


def facts(capacity: str | None = None, reading: LedgerReading | None = None) -> FactsLearned:
    return FactsLearned(
        summary="learned",
        monthly_capacity=Money(amount=Decimal(capacity)) if capacity else None,
        ledger=reading,
    )


def reference(
    version: int = 1, rating: str = "R3", value: str = "-7.4%", products: tuple[str, ...] = ("WM-1",)
) -> ReferenceDataLoaded:
    return ReferenceDataLoaded(
        dataset_id="REF",
        version=version,
        source="test data",
        as_of=date(2026, 2, 27),
        market=[
            MarketPoint(name="Equity index, 12-month change", value=value, as_of=date(2026, 2, 27)),
            MarketPoint(name="Money-market 7-day yield", value="1.6%", as_of=date(2026, 2, 27)),
        ],
        products=[
            ProductRecord(
                code=code,
                name=f"Product {code}",
                risk_rating=rating,
                markets=["Equity index, 12-month change"],
            )
            for code in products
        ],
    )


def loaded(data: ReferenceDataLoaded) -> object:
    return env(data, case=REFERENCE_KEY, step="planning")


def test_the_company_with_missed_repayments_gets_an_extended_repayment_schedule() -> None:
    """Worked case 1: a readjusted repayment plan with a longer term and feasible instalments."""
    state = given(planning, *registered("Business loan", "240000.00", "credit_and_loan_repayment"))
    reading = ledger("240000.00", interest="9600.00", fees="2400.00")
    events = when(planning, state, env(facts("12000", reading), step="contact"))
    assert types(events) == ["PlanProposed", "PlanOffered"]
    plan = events[0]
    assert isinstance(plan, PlanProposed) and isinstance(plan.terms, RepaymentRestructuring)
    terms = plan.terms
    assert terms.term_months == 20 and len(terms.instalments) == 20
    assert sum(i.amount.amount for i in terms.instalments) == Decimal("240000.00")
    assert all(i.amount.amount <= Decimal("12000.00") for i in terms.instalments)
    assert [i.due_on.isoformat() for i in terms.instalments[:2]] == ["2026-04-01", "2026-05-01"]
    assert terms.balance.amount == terms.principal.amount + terms.interest.amount + terms.fees.amount
    assert (terms.principal, terms.interest, terms.fees) == (
        reading.principal,
        reading.interest,
        reading.fees,
    )
    assert terms.balance_as_of == reading.as_of and terms.account == "****4567"
    assert terms.annual_rate == Decimal("0.0435") and terms.fees_and_interest == "accrue"
    assert plan.policy_version == "plan-policy-2026.2" and terms.breach_liability


def test_credit_card_instalments_are_capped_at_sixty_months() -> None:
    state = given(planning, *registered("Credit card", "90000.00", "credit_card"))
    plan = when(planning, state, env(facts("500", ledger("90000.00", rate=None)), step="contact"))[0]
    terms = plan.terms  # type: ignore[attr-defined]
    assert terms.product == "credit_card" and terms.term_months == 60 and len(terms.instalments) == 60
    assert terms.collection_suspended and terms.fees_and_interest == "frozen"
    assert any("capped at 60" in r for r in plan.rationale)  # type: ignore[attr-defined]


def test_the_same_facts_give_the_same_offer() -> None:
    state = given(planning, *registered("Business loan", "50000.00", "credit_and_loan_repayment"))
    first = when(planning, state, env(facts("2000", ledger("50000.00")), step="contact"))[0]
    second = when(planning, state, env(facts("2000", ledger("50000.00")), step="contact"))[0]
    assert first.terms == second.terms and first.value == second.value  # type: ignore[attr-defined]


def test_the_wealth_customer_gets_an_explanation_and_may_keep_the_product() -> None:
    """Worked case 2: risk and return explained with market data; keeping it is an outcome."""
    history = [*registered("Wealth management product", "8000.00", "wealth_management"), loaded(reference())]
    state = given(planning, *history)
    events = when(planning, state, env(facts(reading=ledger(None, product="WM-1")), step="contact"))
    plan = events[0]
    assert isinstance(plan, PlanProposed) and isinstance(plan.terms, RiskExplanation)
    assert "keep" in plan.terms.options and plan.terms.market_data
    assert plan.terms.risk_rating == "R3" and plan.terms.product_name == "Product WM-1"
    assert [p.name for p in plan.terms.market_data] == ["Equity index, 12-month change"]
    assert plan.terms.reference and plan.terms.reference.version == 1
    assert "test data" in plan.terms.explanation and "2026-02-27" in plan.terms.explanation
    state = given(planning, *history, *[env(e, step="planning") for e in events])
    assert types(when(planning, state, cmd(AcceptPlan(plan_id=plan.plan_id), actor=CUSTOMER))) == [
        "PlanAccepted"
    ]


def test_an_offer_above_the_approval_limit_waits_for_a_supervisor() -> None:
    history = registered("Fee", "25000.00", "fees_and_charges", "simple")
    state = given(planning, *history)
    events = when(planning, state, env(facts(), step="contact"))
    assert types(events) == ["PlanProposed"] and events[0].needs_approval  # type: ignore[attr-defined]
    state = given(planning, *history, *[env(e, step="planning") for e in events])
    plan_id = events[0].plan_id  # type: ignore[attr-defined]
    refused = when(planning, state, cmd(AcceptPlan(plan_id=plan_id), actor=CUSTOMER))
    assert types(refused) == ["CommandRejected"]
    assert types(when(planning, state, cmd(ApprovePlan(plan_id=plan_id)))) == ["PlanApproved", "PlanOffered"]


def _offered(history: list) -> tuple[object, list]:
    learned = env(facts("1000", ledger()), step="contact")
    events = when(planning, given(planning, *history), learned)
    return events[0], [*history, learned, *[env(e, step="planning") for e in events]]


def test_accepting_a_plan_never_offered_is_rejected_with_the_reason() -> None:
    plan, history = _offered(registered("Loan", "12000.00", "credit_and_loan_repayment"))
    events = when(planning, given(planning, *history), cmd(AcceptPlan(plan_id="C1-P9"), actor=CUSTOMER))
    assert isinstance(events[0], CommandRejected) and "not on offer" in events[0].reason


def test_a_counter_offer_gets_a_revised_plan_in_the_next_round() -> None:
    plan, history = _offered(registered("Loan", "12000.00", "credit_and_loan_repayment"))
    counter = CounterOffer(summary="36 months please", term_months=36)
    events = when(
        planning,
        given(planning, *history),
        cmd(CounterPlan(plan_id=plan.plan_id, counter=counter), actor=CUSTOMER),
    )  # type: ignore[attr-defined]
    assert types(events) == ["PlanCountered", "PlanRevised", "PlanOffered"]
    revised = events[1]
    assert isinstance(revised, PlanRevised) and revised.round == 2
    assert revised.terms.term_months == 36 and revised.replaces_plan_id == plan.plan_id  # type: ignore[union-attr, attr-defined]


def test_after_the_last_round_the_customer_is_offered_review_mediation_arbitration_or_litigation() -> None:
    plan, history = _offered(registered("Loan", "12000.00", "credit_and_loan_repayment"))
    for _ in range(3):
        state = given(planning, *history)
        events = when(planning, state, cmd(RejectPlan(plan_id=state.plan_id), actor=CUSTOMER))
        history += [env(e, step="planning") for e in events]
    assert types(events) == ["PlanRejected", "RoutesOffered"]
    assert set(events[1].routes) == {"higher_level_review", "mediation", "arbitration", "litigation"}  # type: ignore[attr-defined]
    chosen = when(planning, given(planning, *history), cmd(ChooseRoute(route="mediation"), actor=CUSTOMER))
    assert types(chosen) == ["RouteChosen"]


def test_a_command_on_an_unknown_case_is_rejected() -> None:
    events = when(planning, planning.State(), cmd(AcceptPlan(plan_id="X-P1"), case="NOPE", actor=CUSTOMER))
    assert isinstance(events[0], CommandRejected) and "unknown case NOPE" in events[0].reason


def test_only_staff_can_approve_a_plan() -> None:
    plan, history = _offered(registered("Fee", "25000.00", "fees_and_charges", "simple"))
    events = when(planning, given(planning, *history), cmd(ApprovePlan(plan_id=plan.plan_id), actor=CUSTOMER))  # type: ignore[attr-defined]
    assert types(events) == ["CommandRejected"] and "supervisor" in events[0].reason  # type: ignore[attr-defined]


def test_facts_that_arrive_before_the_classification_still_get_a_plan() -> None:
    """Planning reads intake and contact topics in no fixed order."""
    registered_only, classified = registered("Loan", "12000.00", "credit_and_loan_repayment")
    state = given(planning, registered_only)
    assert when(planning, state, env(facts("1000", ledger()), step="contact")) == []
    state = given(planning, registered_only, env(facts("1000", ledger()), step="contact"))
    assert types(when(planning, state, classified)) == ["PlanProposed", "PlanOffered"]
