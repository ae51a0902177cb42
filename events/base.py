"""Building blocks shared by every message: the strict frozen base model and the value types
(UTC times, money, identifiers, safe text) that events, commands and submissions are made of."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
)

# Tab, newline and carriage return are legitimate in free text; every other C0 control
# character, DEL and the C1 range are not, and are refused rather than stripped.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ANY_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _no_controls(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


def _single_line(value: str) -> str:
    if _ANY_BREAK.search(value):
        raise ValueError("contains control characters or line breaks")
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class Message(BaseModel):
    """Every event, command and submission: immutable, strict, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

# Plausibility of the dates that arrive from outside (channels, staff, customers): a value
# outside its window is refused as bad input before any step decides with it. The static
# bounds always hold; the bound relative to the receiving clock holds when the runtime
# decodes a new input (validation context RECEIVED_AT), not when history is read back.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
RECEIVED_AT = "received_at"
PAST_SLACK = timedelta(days=1)  # clocks disagree: "now" may run a day ahead of ours
SCHEDULE_AHEAD = timedelta(days=366)  # callbacks and first payments at most a year ahead


def _window(ahead: timedelta, what: str) -> object:
    def check(value: datetime | date, info: ValidationInfo) -> datetime | date:
        moment = value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)
        if moment < EARLIEST:
            raise ValueError(f"{what} before {EARLIEST.date()} is not plausible")
        if moment >= LATEST:
            raise ValueError(f"{what} after {LATEST.year - 1} is not plausible")
        received = (info.context or {}).get(RECEIVED_AT)
        if received is not None and moment > received + ahead:
            days = ahead.days
            raise ValueError(f"{what} more than {days} day{'s' if days != 1 else ''} after it was received")
        return value

    return AfterValidator(check)


# A moment that has already happened when the message is received (submitted, issued, paid).
PastDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc), _window(PAST_SLACK, "a time")]
# A moment the sender schedules (a callback): within a year of receipt.
ScheduledDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc), _window(SCHEDULE_AHEAD, "a time")]
ScheduledDate = Annotated[date, _window(SCHEDULE_AHEAD, "a date")]
# A day that has already come when the message is received (an as-of date).
PastDate = Annotated[date, _window(PAST_SLACK, "a date")]
Text = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_no_controls)]
Line = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_single_line)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

Channel = Literal["hotline", "branch", "app"]
Category = Literal[
    "credit_and_loan_repayment",
    "credit_card",
    "wealth_management",
    "fees_and_charges",
    "service_quality",
    "fraud",
    "other",
]
Complexity = Literal["simple", "complex", "especially_complex"]
Priority = Literal["low", "normal", "high", "urgent"]
ContactMethod = Literal["phone", "sms", "email", "app", "in_branch"]
Policy = Literal["CN-2020", "UK-FCA", "US-CFPB"]


class Money(Message):
    """An amount in one currency; never a float."""

    # At most 999,999,999,999.99: larger figures are refused as implausible, not computed with.
    amount: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"


class Actor(Message):
    """Who caused a message: the system itself, a staff member, the customer or a channel."""

    kind: Literal["system", "staff", "customer", "channel"]
    id: Identifier
