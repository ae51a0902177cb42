"""Plan policy: what the bank offers, from the case's nature and complexity and what contact
learned. Deterministic and versioned (fairness: the same facts give the same offer); the
version is recorded with every offer. Credit-card personalised instalments are capped at
60 months (《商业银行信用卡业务监督管理办法》 art. 70)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from events.base import Money
from events.plans import (
    CounterOffer,
    Instalment,
    MarketDataPoint,
    Redress,
    RepaymentRestructuring,
    RiskExplanation,
    ServiceRecovery,
)

VERSION = "plan-policy-2026.1"
CARD_MAX_MONTHS = 60
LOAN_MAX_MONTHS = 120
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Facts:
    """What planning knows of a case when it proposes."""

    category: str
    complexity: str
    amount: Decimal | None
    currency: str
    product: str | None
    monthly_capacity: Decimal | None = None
    hardship: str | None = None


@dataclass(frozen=True)
class Offer:
    terms: RepaymentRestructuring | RiskExplanation | Redress | ServiceRecovery
    value: Decimal
    rationale: list[str]


def _money(amount: Decimal, currency: str) -> Money:
    return Money(amount=amount.quantize(CENT, rounding=ROUND_HALF_UP), currency=currency)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def schedule(balance: Decimal, term: int, start: date, currency: str) -> list[Instalment]:
    """Equal monthly instalments on the 1st of each month; the last one absorbs the rounding."""
    each = (balance / term).quantize(CENT, rounding=ROUND_HALF_UP)
    out = []
    for n in range(1, term + 1):
        amount = each if n < term else balance - each * (term - 1)
        out.append(Instalment(number=n, due_on=_add_months(start, n), amount=_money(amount, currency)))
    return out


def restructuring(facts: Facts, round_: int, now: datetime, counter: CounterOffer | None) -> Offer:
    card = facts.category == "credit_card"
    cap = CARD_MAX_MONTHS if card else LOAN_MAX_MONTHS
    capacity = facts.monthly_capacity
    balance = facts.amount or ((capacity * 12) if capacity else Decimal("12000"))
    balance = balance.quantize(CENT)
    # The ledger is not connected yet: the balance is split by the bank's standard make-up.
    principal = (balance * Decimal("0.85")).quantize(CENT)
    interest = (balance * Decimal("0.10")).quantize(CENT)
    fees = balance - principal - interest
    rationale = [f"balance {balance} {facts.currency}: principal, interest and fees by standard make-up"]
    if capacity and capacity > 0:
        term = math.ceil(balance / capacity)
        rationale.append(f"term sized to the stated monthly capacity of {capacity}")
    else:
        term = 24
        rationale.append("no stated capacity: standard 24-month term")
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
    waive = round_ >= 3 or card
    treatment = "frozen" if card and round_ < 3 else ("waived" if waive else "accrue")
    rate = Decimal("0") if card or waive else Decimal("0.0435")
    start = counter.first_payment_on if counter and counter.first_payment_on else now.date()
    terms = RepaymentRestructuring(
        product="credit_card" if card else "loan",
        balance=_money(balance, facts.currency),
        principal=_money(principal, facts.currency),
        interest=_money(interest, facts.currency),
        fees=_money(fees, facts.currency),
        term_months=term,
        annual_rate=rate,
        fees_and_interest=treatment,
        instalments=schedule(balance, term, start, facts.currency),
        breach_liability=(
            "Two missed instalments end this agreement: the remaining balance falls "
            "due and fees and interest accrue again from the date of breach."
        ),
        collection_suspended=True,
    )
    value = interest + fees if treatment in ("frozen", "waived") else Decimal(0)
    return Offer(terms, value, rationale)


MARKET_DATA = [
    ("CSI 300 index, 12-month change", "-7.4%"),
    ("China 10-year government bond", "1.9%"),
    ("Money-market fund 7-day yield", "1.6%"),
]


def propose(facts: Facts, round_: int, now: datetime, counter: CounterOffer | None = None) -> Offer:
    if facts.category in ("credit_and_loan_repayment", "credit_card"):
        return restructuring(facts, round_, now, counter)
    if facts.category == "wealth_management":
        return Offer(
            RiskExplanation(
                product_name=facts.product or "wealth-management product",
                risk_rating="R3",
                explanation=(
                    "The product's return depends on the markets it invests in; the "
                    "prospectus rated it R3 (medium risk) with no guaranteed return. The "
                    "shortfall follows the market data below, not a mis-sale."
                ),
                market_data=[MarketDataPoint(name=n, value=v, as_of=now.date()) for n, v in MARKET_DATA],
                options=["keep", "redeem", "switch"],
            ),
            Decimal(0),
            ["wealth-management dispute: explain risk and return with market data"],
        )
    if facts.category in ("fees_and_charges", "fraud"):
        amount = facts.amount or Decimal(0)
        kind = "refund" if facts.category == "fees_and_charges" else "compensation"
        rationale = [f"{facts.category}: return the disputed amount"]
        if counter and counter.amount and counter.amount.amount <= amount * Decimal("1.10"):
            amount = counter.amount.amount
            rationale.append("customer's counter within 10% of the disputed amount: accepted")
        elif round_ >= 2:
            amount = (amount * Decimal("1.05")).quantize(CENT)
            rationale.append(f"round {round_}: 5% goodwill added")
        return Offer(
            Redress(
                kind=kind,
                amount=_money(amount, facts.currency),
                reason="charging error" if kind == "refund" else "unauthorised use",
            ),
            amount,
            rationale,
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
