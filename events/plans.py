"""The terms of a negotiation plan, one model per kind of plan: a repayment restructuring,
a risk explanation, monetary redress, or an apology with service recovery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from events.base import Line, Message, Money, PastDatetime, ScheduledDate, Text
from events.facts import MaskedAccount, ReferenceCitation


class Instalment(Message):
    number: Annotated[int, Field(ge=1, le=600)]
    due_on: date
    amount: Money


class RepaymentRestructuring(Message):
    """A new repayment schedule for credit, loan or credit-card hardship. For a credit card
    (personalised instalments) the term is at most 60 months and collection stops once signed."""

    kind: Literal["repayment_restructuring"] = "repayment_restructuring"
    product: Literal["loan", "credit_card"]
    balance: Money
    principal: Money
    interest: Money
    fees: Money
    term_months: Annotated[int, Field(ge=1, le=600)]
    annual_rate: Annotated[Decimal, Field(ge=0, le=1, decimal_places=6)]
    fees_and_interest: Literal["waived", "frozen", "accrue"]
    repayment_cycle: Literal["monthly"] = "monthly"
    instalments: list[Instalment] = Field(min_length=1, max_length=600)
    breach_liability: Text
    collection_suspended: bool
    balance_as_of: date | None = None  # the date of the ledger reading the balance comes from
    account: MaskedAccount | None = None


class MarketDataPoint(Message):
    name: Line
    value: Line
    as_of: date


class RiskExplanation(Message):
    """An explanation of a wealth-management product's risk and return with market data;
    keeping the product is a legitimate outcome."""

    kind: Literal["risk_explanation"] = "risk_explanation"
    product_name: Line
    risk_rating: Literal["R1", "R2", "R3", "R4", "R5"]
    explanation: Text
    market_data: list[MarketDataPoint] = Field(default_factory=list, max_length=20)
    options: list[Literal["keep", "redeem", "switch"]] = Field(min_length=1)
    reference: ReferenceCitation | None = None  # the data set the rating and market data came from


class Redress(Message):
    """Money back for a charging error: a refund, a fee waiver or compensation."""

    kind: Literal["refund", "fee_waiver", "compensation"]
    amount: Money
    reason: Line


class ServiceRecovery(Message):
    """An apology and concrete steps to put the service right."""

    kind: Literal["service_recovery"] = "service_recovery"
    apology: Text
    actions: list[Line] = Field(min_length=1, max_length=20)


PlanTerms = Annotated[
    RepaymentRestructuring | RiskExplanation | Redress | ServiceRecovery,
    Field(discriminator="kind"),
]
Route = Literal["higher_level_review", "mediation", "arbitration", "litigation"]


class CounterOffer(Message):
    """What the customer asks for instead."""

    summary: Text
    amount: Money | None = None
    term_months: Annotated[int, Field(ge=1, le=600)] | None = None
    first_payment_on: ScheduledDate | None = None
    received_at: PastDatetime | None = None
