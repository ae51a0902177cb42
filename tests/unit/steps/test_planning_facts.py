"""Planning states no figure it was not given: missing facts give no offer and a request that
names them; the figures of an offer move with the ledger reading and the reference data."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.base import Money
from events.commands import LoadReferenceData
from events.facts import REFERENCE_KEY, LedgerReading, mask_account
from events.planning import FactsRequested, PlanProposed, ReferenceDataLoaded
from events.plans import Redress, RepaymentRestructuring, RiskExplanation
from services.steps import planning
from services.steps.contract import Tick
from tests.given import CUSTOMER, RULES, T0, cmd, env, types, when
from tests.given import given as past
from tests.unit.steps.test_planning import facts, ledger, loaded, reference, registered

WEALTH = ("Wealth management product", "8000.00", "wealth_management")


def _proposed(history: list, message: object) -> PlanProposed:
    events = when(planning, past(planning, *history), message)
    assert types(events)[0] == "PlanProposed", types(events)
    return events[0]  # type: ignore[return-value]


def test_a_repayment_plan_without_a_ledger_reading_proposes_nothing_and_asks_for_the_balance() -> None:
    state = past(planning, *registered("Business loan", "240000.00", "credit_and_loan_repayment"))
    events = when(planning, state, env(facts("12000"), step="contact"))
    assert types(events) == ["FactsRequested"]
    request = events[0]
    assert isinstance(request, FactsRequested)
    assert request.missing == ["ledger.balance", "ledger.annual_rate"] and request.round == 1
    assert "make-up" in request.reasons[0] and "RecordFacts" in request.reasons[0]


def test_the_ledger_reading_recorded_later_brings_the_plan() -> None:
    history = registered("Credit card", None, "credit_card")
    asked = when(planning, past(planning, *history), env(facts("500"), step="contact"))
    assert types(asked) == ["FactsRequested"] and asked[0].missing == ["ledger.balance"]  # type: ignore[attr-defined]
    history += [env(facts("500"), step="contact"), env(asked[0], step="planning")]
    reading = ledger("9000.00", interest="450.00", fees="90.00", rate=None, product="CARD-1")
    events = when(planning, past(planning, *history), env(facts(reading=reading), step="contact"))
    assert types(events) == ["PlanProposed", "PlanOffered"]
    assert events[0].terms.balance == reading.balance  # type: ignore[attr-defined]


def test_asking_again_for_the_same_missing_facts_says_nothing_new() -> None:
    history = registered("Loan", None, "credit_and_loan_repayment")
    asked = when(planning, past(planning, *history), env(facts(), step="contact"))
    history += [env(facts(), step="contact"), env(asked[0], step="planning")]
    assert when(planning, past(planning, *history), env(facts("300"), step="contact")) == []


def test_the_offer_figures_move_with_the_balance_and_its_make_up() -> None:
    """No constant figure: every amount in the offer follows the ledger reading it was given."""
    history = registered("Loan", None, "credit_and_loan_repayment")
    offers = {}
    for balance, interest, fees, currency in (
        ("12000.00", "600.00", "150.00", "CNY"),
        ("31415.92", "2718.28", "161.80", "CNY"),
        ("777.77", "0.00", "77.70", "USD"),
    ):
        reading = ledger(balance, interest=interest, fees=fees, rate="0.05", currency=currency)
        plan = _proposed(history, env(facts("1000", reading), step="contact"))
        terms = plan.terms
        assert isinstance(terms, RepaymentRestructuring)
        assert terms.balance == reading.balance and terms.principal == reading.principal
        assert terms.interest == reading.interest and terms.fees == reading.fees
        assert sum(i.amount.amount for i in terms.instalments) == Decimal(balance)
        assert {i.amount.currency for i in terms.instalments} == {currency}
        assert terms.annual_rate == Decimal("0.05")
        assert any(balance in r for r in plan.rationale)
        offers[balance] = terms
    assert len({t.instalments[0].amount for t in offers.values()}) == 3


def test_a_frozen_card_plan_is_worth_the_interest_and_fees_the_ledger_shows() -> None:
    history = registered("Credit card", None, "credit_card")
    for interest, fees in (("450.00", "90.00"), ("1200.00", "30.00")):
        reading = ledger("9000.00", interest=interest, fees=fees, rate=None)
        plan = _proposed(history, env(facts("500", reading), step="contact"))
        assert plan.value.amount == Decimal(interest) + Decimal(fees)


def test_the_explanation_moves_with_the_reference_data() -> None:
    product = env(facts(reading=ledger(None, product="WM-1")), step="contact")
    first = _proposed([*registered(*WEALTH), loaded(reference(1, "R3", "-7.4%"))], product).terms
    second = _proposed([*registered(*WEALTH), loaded(reference(2, "R4", "+3.1%"))], product).terms
    assert isinstance(first, RiskExplanation) and isinstance(second, RiskExplanation)
    assert (first.risk_rating, second.risk_rating) == ("R3", "R4")
    assert (first.market_data[0].value, second.market_data[0].value) == ("-7.4%", "+3.1%")
    assert first.reference and second.reference
    assert (first.reference.version, second.reference.version) == (1, 2)
    assert "version 1" in first.explanation and "version 2" in second.explanation


def test_a_wealth_case_without_reference_data_waits_and_says_so() -> None:
    history = registered(*WEALTH)
    events = when(planning, past(planning, *history), env(facts(), step="contact"))
    assert types(events) == ["FactsRequested"]
    assert events[0].missing == ["ledger.product", "reference_data"]  # type: ignore[attr-defined]
    assert any("accord reference load" in r for r in events[0].reasons)  # type: ignore[attr-defined]


def test_a_product_missing_from_the_reference_data_is_named() -> None:
    history = [*registered(*WEALTH), loaded(reference(products=("WM-9",)))]
    message = env(facts(reading=ledger(None, product="WM-1")), step="contact")
    events = when(planning, past(planning, *history), message)
    assert types(events) == ["FactsRequested"] and events[0].missing == ["reference_data.product"]  # type: ignore[attr-defined]
    assert "WM-1" in events[0].reasons[0]  # type: ignore[attr-defined]


def test_reference_data_loaded_later_brings_the_explanation_at_the_next_tick() -> None:
    """The reference data lives in its own stream; the runtime lends it to each case's decision."""
    learned = env(facts(reading=ledger(None, product="WM-1")), step="contact")
    history = [*registered(*WEALTH), learned]
    asked = when(planning, past(planning, *history), learned)
    assert types(asked) == ["FactsRequested"] and asked[0].missing == ["reference_data"]  # type: ignore[attr-defined]
    case = past(planning, *history, env(asked[0], step="planning"))
    assert planning.next_due(case) == T0
    shared = past(planning, loaded(reference()))
    later = T0 + timedelta(minutes=5)
    events = planning.decide(planning.with_shared(case, shared), Tick(later), later, RULES)
    assert [type(e.event).__name__ for e in events] == ["PlanProposed", "PlanOffered"]


def test_loading_reference_data_records_what_was_loaded_and_refuses_an_older_version() -> None:
    command = LoadReferenceData(**reference(2).model_dump(exclude={"type", "schema_version"}))
    message = cmd(command, case=REFERENCE_KEY)
    assert planning.route(message) == REFERENCE_KEY
    events = when(planning, planning.State(), message)
    assert types(events) == ["ReferenceDataLoaded"]
    assert isinstance(events[0], ReferenceDataLoaded) and events[0].products == command.products
    state = past(planning, loaded(events[0]))  # type: ignore[arg-type]
    older = LoadReferenceData(**reference(1).model_dump(exclude={"type", "schema_version"}))
    refused = when(planning, state, cmd(older, case=REFERENCE_KEY))
    assert types(refused) == ["CommandRejected"] and "not newer" in refused[0].reason  # type: ignore[attr-defined]
    by_customer = when(planning, state, cmd(command, case=REFERENCE_KEY, actor=CUSTOMER))
    assert types(by_customer) == ["CommandRejected"]


def test_a_refund_comes_from_the_ledger_or_the_complaint_and_waits_when_neither_names_an_amount() -> None:
    history = registered("Debit card fee", None, "fees_and_charges", "simple")
    asked = when(planning, past(planning, *history), env(facts(), step="contact"))
    assert types(asked) == ["FactsRequested"] and asked[0].missing == ["ledger.disputed"]  # type: ignore[attr-defined]
    for amount in ("35.00", "120.50"):
        reading = ledger(None, disputed=amount, product="DEBIT-1")
        plan = _proposed(history, env(facts(reading=reading), step="contact"))
        assert isinstance(plan.terms, Redress) and plan.terms.amount.amount == Decimal(amount)
    stated = _proposed(registered("Fee", "25.00", "fees_and_charges", "simple"), env(facts(), step="contact"))
    assert stated.terms.amount.amount == Decimal("25.00")  # type: ignore[union-attr]


def test_an_account_number_travels_only_masked() -> None:
    assert mask_account("6222 0210 0123 4567") == "****4567"
    with pytest.raises(ValidationError):
        LedgerReading(as_of=T0.date(), product="LOAN-1", account="6222021001234567")


def test_a_ledger_whose_make_up_does_not_add_up_is_refused() -> None:
    money = lambda a: Money(amount=Decimal(a))  # noqa: E731
    with pytest.raises(ValidationError, match="must equal the balance"):
        LedgerReading(
            as_of=T0.date(),
            product="LOAN-1",
            balance=money("1000.00"),
            principal=money("900.00"),
            interest=money("50.00"),
            fees=money("10.00"),
        )
    with pytest.raises(ValidationError, match="needs its make-up"):
        LedgerReading(as_of=T0.date(), product="LOAN-1", balance=money("1000.00"))


def test_the_shipped_reference_data_says_it_is_a_sample_and_loads() -> None:
    """The sample must never pass for market data: its source and every figure say so."""
    import json
    from pathlib import Path

    sample = Path(__file__).resolve().parents[3] / "deploy" / "reference" / "sample.json"
    data = json.loads(sample.read_text(encoding="utf-8"))
    assert "SAMPLE" in data["source"] and "not market data" in data["source"]
    assert all("sample" in point["name"].lower() for point in data["market"])
    assert all("illustration" in product["name"].lower() for product in data["products"])
    command = LoadReferenceData.model_validate({"type": "LoadReferenceData", **data}, strict=False)
    assert types(when(planning, planning.State(), cmd(command, case=REFERENCE_KEY))) == [
        "ReferenceDataLoaded"
    ]


@settings(max_examples=60, deadline=None)
@given(
    principal=st.decimals(min_value=Decimal("1.00"), max_value=Decimal("900000.00"), places=2),
    interest=st.decimals(min_value=Decimal("0.00"), max_value=Decimal("90000.00"), places=2),
    fees=st.decimals(min_value=Decimal("0.00"), max_value=Decimal("9000.00"), places=2),
    capacity=st.one_of(st.none(), st.integers(min_value=50, max_value=50000)),
    card=st.booleans(),
    currency=st.sampled_from(["CNY", "USD", "HKD"]),
)
def test_every_amount_in_a_repayment_offer_follows_from_the_ledger_reading(
    principal: Decimal, interest: Decimal, fees: Decimal, capacity: int | None, card: bool, currency: str
) -> None:
    balance = principal + interest + fees
    reading = ledger(str(balance), interest=str(interest), fees=str(fees), rate="0.031", currency=currency)
    history = registered(
        "Card" if card else "Loan", None, "credit_card" if card else "credit_and_loan_repayment"
    )
    plan = _proposed(history, env(facts(str(capacity) if capacity else None, reading), step="contact"))
    terms = plan.terms
    assert isinstance(terms, RepaymentRestructuring)
    assert (terms.balance, terms.principal, terms.interest, terms.fees) == (
        reading.balance,
        reading.principal,
        reading.interest,
        reading.fees,
    )
    assert sum(i.amount.amount for i in terms.instalments) == balance
    assert {i.amount.currency for i in terms.instalments} == {currency} == {plan.value.currency}
    assert terms.annual_rate == (Decimal(0) if card else Decimal("0.031"))
    assert plan.value.amount == (interest + fees if card else Decimal(0))
