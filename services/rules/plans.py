"""Plan policy: what the bank offers, from the case's nature and complexity, what contact
learned and what the ledger showed. Deterministic and versioned (fairness: the same facts give
the same offer); the version is recorded with every offer. Every figure an offer states comes
from a recorded fact (the ledger reading, the complaint) or from a loaded reference data set,
which the offer cites; when one is missing, `missing` names it and nothing is proposed.
Credit-card personalised instalments are capped at 60 months (《商业银行信用卡业务监督管理办法》 art. 70)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Literal

from events.base import Money
from events.facts import LedgerReading, MarketPoint, ProductRecord, ReferenceCitation
from events.plans import (
    CounterOffer,
    Instalment,
    MarketDataPoint,
    Redress,
    RepaymentRestructuring,
    RiskExplanation,
    ServiceRecovery,
)

VERSION = "plan-policy-2026.2"
CARD_MAX_MONTHS = 60
LOAN_MAX_MONTHS = 120
STANDARD_TERM_MONTHS = 24  # a policy term, used when the customer stated no monthly capacity
CENT = Decimal("0.01")
CREDIT = ("credit_and_loan_repayment", "credit_card")
REDRESS = ("fees_and_charges", "fraud")
# The regulator's five risk levels for wealth products, in words.
RISK_LEVELS = {"R1": "low", "R2": "medium-low", "R3": "medium", "R4": "medium-high", "R5": "high"}


@dataclass(frozen=True)
class Reference:
    """The reference data set planning holds as current: where it came from, market points,
    product records."""

    citation: ReferenceCitation
    market: tuple[MarketPoint, ...] = ()
    products: tuple[ProductRecord, ...] = ()

    def product(self, code: str) -> ProductRecord | None:
        return next((p for p in self.products if p.code == code), None)


@dataclass(frozen=True)
class Facts:
    """What planning knows of a case when it proposes."""

    category: str
    complexity: str
    amount: Decimal | None  # the amount the customer disputed at intake
    currency: str
    product: str | None
    monthly_capacity: Decimal | None = None
    hardship: str | None = None
    ledger: LedgerReading | None = None
    reference: Reference | None = None


@dataclass(frozen=True)
class Offer:
    terms: RepaymentRestructuring | RiskExplanation | Redress | ServiceRecovery
    value: Decimal
    rationale: list[str]
    currency: str | None = None  # of the figures, when they came with one


def _treatment(card: bool, round_: int) -> Literal["waived", "frozen", "accrue"]:
    if card:
        return "frozen" if round_ < 3 else "waived"
    return "waived" if round_ >= 3 else "accrue"


def missing(facts: Facts, round_: int) -> list[tuple[str, str]]:
    """The facts this offer needs and the case lacks, as (name, why); empty when it can be made."""
    ledger, out = facts.ledger, []
    if facts.category in CREDIT:
        if ledger is None or ledger.balance is None:
            out.append(
                (
                    "ledger.balance",
                    "a repayment agreement states the balance and its make-up (principal, interest, "
                    "fees): record the ledger reading with RecordFacts",
                )
            )
        card = facts.category == "credit_card"
        rate_known = ledger is not None and ledger.annual_rate is not None
        if not card and _treatment(card, round_) == "accrue" and not rate_known:
            out.append(
                ("ledger.annual_rate", "interest accrues on a restructured loan: record its contractual rate")
            )
    elif facts.category == "wealth_management":
        if ledger is None:
            out.append(("ledger.product", "the product held, by its ledger code, to find its risk rating"))
        if facts.reference is None:
            out.append(
                (
                    "reference_data",
                    "risk ratings and market figures come from a reference data set: "
                    "an operator loads one with `accord reference load FILE`",
                )
            )
        elif ledger is not None and facts.reference.product(ledger.product) is None:
            c = facts.reference.citation
            out.append(
                (
                    "reference_data.product",
                    f"product {ledger.product} is not in reference data {c.dataset_id} version {c.version}",
                )
            )
    elif facts.category in REDRESS and facts.amount is None and (ledger is None or ledger.disputed is None):
        out.append(
            (
                "ledger.disputed",
                "the complaint names no amount: record the disputed charge as the ledger shows it",
            )
        )
    return [(name, why[:200]) for name, why in out]


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount.quantize(CENT, rounding=ROUND_HALF_UP), currency=currency)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def schedule(balance: Decimal, term: int, start: date, currency: str) -> list[Instalment]:
    """Equal monthly instalments on the 1st of each month, rounded down to the cent; the last one
    absorbs the rest, so none is ever below the others or negative (rounding half up, 1.32 over
    24 months made 23 of 0.06 and a last of -0.06)."""
    each = (balance / term).quantize(CENT, rounding=ROUND_DOWN)
    out = []
    for n in range(1, term + 1):
        amount = each if n < term else balance - each * (term - 1)
        out.append(Instalment(number=n, due_on=_add_months(start, n), amount=_money(amount, currency)))
    return out


def restructuring(
    facts: Facts, round_: int, now: datetime, counter: CounterOffer | None, missed_to_default: int
) -> Offer:
    card = facts.category == "credit_card"
    cap = CARD_MAX_MONTHS if card else LOAN_MAX_MONTHS
    capacity = facts.monthly_capacity
    ledger = facts.ledger
    assert ledger is not None and ledger.balance is not None  # `missing` said so
    assert ledger.principal is not None and ledger.interest is not None and ledger.fees is not None
    currency = ledger.balance.currency
    balance, interest, fees = ledger.balance.amount, ledger.interest.amount, ledger.fees.amount
    rationale = [
        f"balance {balance} {currency} as the ledger showed it on {ledger.as_of}: principal "
        f"{ledger.principal.amount}, interest {interest}, fees {fees}"
    ]
    if ledger.overdue is not None:
        rationale.append(f"overdue on {ledger.as_of}: {ledger.overdue.amount} {currency}")
    if capacity and capacity > 0:
        term = math.ceil(balance / capacity)
        rationale.append(f"term sized to the stated monthly capacity of {capacity}")
    else:
        term = STANDARD_TERM_MONTHS
        rationale.append(f"no stated capacity: standard {STANDARD_TERM_MONTHS}-month term")
    if round_ >= 2:
        term = math.ceil(term * Decimal("1.25"))
        rationale.append(f"round {round_}: term lengthened by a quarter")
    if counter and counter.term_months:
        term = counter.term_months
        rationale.append(f"customer asked for {counter.term_months} months")
    elif counter and counter.amount and counter.amount.amount > 0:
        term = math.ceil(balance / counter.amount.amount)
        rationale.append(f"customer offered {counter.amount.amount} a month")
    if term > cap:
        rationale.append(f"term capped at {cap} months ({'credit card, art. 70' if card else 'loan policy'})")
        term = cap
    term = max(term, 1)
    cents = int(balance / CENT)
    if 0 < cents < term:
        rationale.append(f"term shortened to {cents} months: no instalment is below {CENT} {currency}")
        term = cents
    treatment = _treatment(card, round_)
    rate = ledger.annual_rate if treatment == "accrue" and ledger.annual_rate is not None else Decimal("0")
    if treatment == "accrue":
        rationale.append(f"interest accrues at the contractual rate of {rate} from the ledger")
    start = counter.first_payment_on if counter and counter.first_payment_on else now.date()
    terms = RepaymentRestructuring(
        product="credit_card" if card else "loan",
        balance=_money(balance, currency),
        principal=_money(ledger.principal.amount, currency),
        interest=_money(interest, currency),
        fees=_money(fees, currency),
        term_months=term,
        annual_rate=rate,
        fees_and_interest=treatment,
        instalments=schedule(balance, term, start, currency),
        breach_liability=(
            f"{missed_to_default} missed instalment(s) end this agreement: the remaining balance falls "
            "due and fees and interest accrue again from the date of breach."
        ),
        collection_suspended=True,
        balance_as_of=ledger.as_of,
        account=ledger.account,
    )
    value = interest + fees if treatment in ("frozen", "waived") else Decimal(0)
    return Offer(terms, value, rationale, currency)


def explanation(facts: Facts) -> Offer:
    """The wealth product's risk and return, in the words and figures of the reference data."""
    assert facts.ledger is not None and facts.reference is not None  # `missing` said so
    record = facts.reference.product(facts.ledger.product)
    assert record is not None
    c = facts.reference.citation
    points = [p for p in facts.reference.market if not record.markets or p.name in record.markets]
    returns = (
        "its return is guaranteed"
        if record.guaranteed_return
        else "its return depends on the markets it invests in and is not guaranteed"
    )
    return Offer(
        RiskExplanation(
            product_name=record.name,
            risk_rating=record.risk_rating,
            explanation=(
                f"{record.name} is rated {record.risk_rating} ({RISK_LEVELS[record.risk_rating]} risk); "
                f"{returns}. The rating and the market figures below are from {c.source}, "
                f"data set {c.dataset_id} version {c.version} as of {c.as_of}."
            ),
            market_data=[MarketDataPoint(name=p.name, value=p.value, as_of=p.as_of) for p in points],
            options=["keep", "redeem", "switch"],
            reference=c,
        ),
        Decimal(0),
        [
            "wealth-management dispute: explain risk and return with market data",
            f"reference data {c.dataset_id} version {c.version} ({c.source}, as of {c.as_of})",
        ],
    )


def propose(
    facts: Facts, round_: int, now: datetime, counter: CounterOffer | None = None, missed_to_default: int = 2
) -> Offer:
    """The offer for this round; call only when `missing` is empty."""
    if facts.category in CREDIT:
        return restructuring(facts, round_, now, counter, missed_to_default)
    if facts.category == "wealth_management":
        return explanation(facts)
    if facts.category in REDRESS:
        ledger = facts.ledger
        if ledger is not None and ledger.disputed is not None:
            amount, currency = ledger.disputed.amount, ledger.disputed.currency
            source = f"as the ledger showed it on {ledger.as_of}"
        else:
            assert facts.amount is not None  # `missing` said so
            amount, currency, source = facts.amount, facts.currency, "as the customer stated it"
        kind: Literal["refund", "compensation"] = (
            "refund" if facts.category == "fees_and_charges" else "compensation"
        )
        rationale = [f"{facts.category}: return the disputed amount of {amount} {currency} {source}"]
        if counter and counter.amount and counter.amount.amount <= amount * Decimal("1.10"):
            amount = counter.amount.amount
            rationale.append("customer's counter within 10% of the disputed amount: accepted")
        elif round_ >= 2:
            amount = (amount * Decimal("1.05")).quantize(CENT)
            rationale.append(f"round {round_}: 5% goodwill added")
        return Offer(
            Redress(
                kind=kind,
                amount=_money(amount, currency),
                reason="charging error" if kind == "refund" else "unauthorised use",
            ),
            amount,
            rationale,
            currency,
        )
    return Offer(
        ServiceRecovery(
            apology="We are sorry for the experience you had with our service.",
            actions=["review of the handling with the staff involved", "follow-up call within 5 days"]
            + (["fee-free month on the account"] if round_ >= 2 else []),
        ),
        Decimal(0),
        ["service matter: apology and service recovery"],
    )
