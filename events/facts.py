"""Where the figures in an offer come from: a ledger reading staff record with `RecordFacts`
(balance and its make-up, overdue amount, product, a masked account reference), and the
reference data sets operators load (market and product data, with source and as-of date)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from events.base import Identifier, Line, Message, Money, PastDate

# An account number is personal data: only its last four characters ever travel, after "****".
MaskedAccount = Annotated[str, StringConstraints(pattern=r"^\*{4}[0-9A-Za-z]{4}$")]
RiskRating = Literal["R1", "R2", "R3", "R4", "R5"]
# Reference data arrives as commands on `negotiation.commands` under this key (one partition,
# so loads keep their order); planning keeps the current set in the stream of that name.
REFERENCE_KEY = "reference-data"


def mask_account(number: str) -> str:
    """`****` and the last four letters or digits of an account number."""
    kept = "".join(c for c in number if c.isascii() and c.isalnum())
    if len(kept) < 4:
        raise ValueError("an account number needs at least four letters or digits")
    return "****" + kept[-4:]


class LedgerReading(Message):
    """What staff read from the bank's ledger on `as_of`: the balance and its make-up
    (principal + interest + fees = balance), the overdue amount, the contractual rate, the
    charge in dispute, the product held and a masked account reference."""

    as_of: PastDate
    product: Identifier  # the ledger's product code (a wealth product's code for its reference data)
    account: MaskedAccount | None = None
    balance: Money | None = None
    principal: Money | None = None
    interest: Money | None = None
    fees: Money | None = None
    overdue: Money | None = None
    annual_rate: Annotated[Decimal, Field(ge=0, le=1, decimal_places=6)] | None = None
    disputed: Money | None = None  # the charge(s) in dispute, as the ledger shows them

    @model_validator(mode="after")
    def _make_up_adds_up(self) -> LedgerReading:
        parts = (self.principal, self.interest, self.fees)
        if self.balance is None:
            if any(p is not None for p in parts):
                raise ValueError("principal, interest and fees are a balance's make-up: give the balance")
            return self
        if any(p is None for p in parts):
            raise ValueError("a balance needs its make-up: principal, interest and fees")
        money = [self.balance, *parts, self.overdue, self.disputed]
        if len({m.currency for m in money if m is not None}) > 1:
            raise ValueError("balance, make-up, overdue and disputed amounts must share one currency")
        total = sum((p.amount for p in parts if p is not None), Decimal(0))
        if total != self.balance.amount:
            raise ValueError("principal + interest + fees must equal the balance")
        return self


class MarketPoint(Message):
    """One market figure as its source published it."""

    name: Line
    value: Line
    as_of: PastDate


class ProductRecord(Message):
    """A product in the bank's reference data: its name and risk rating, whether its return is
    guaranteed, and which market points drive its return (all of them when none are named)."""

    code: Identifier
    name: Line
    risk_rating: RiskRating
    guaranteed_return: bool = False
    markets: list[Line] = Field(default_factory=list, max_length=20)


class ReferenceCitation(Message):
    """Which reference data set a plan's figures came from."""

    dataset_id: Identifier
    version: Annotated[int, Field(ge=1)]
    source: Line
    as_of: PastDate
