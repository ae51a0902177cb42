"""Events of the execution step, emitted onto `negotiation.execution`: the accepted plan
carried out, payments matched to instalments, progress told to the customer, completion or default."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from events.base import Identifier, Line, Message, Money, UtcDatetime


class ExecutionStarted(Message):
    """Execution of the accepted plan began."""

    type: Literal["ExecutionStarted"] = "ExecutionStarted"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    plan_kind: Literal[
        "repayment_restructuring",
        "risk_explanation",
        "refund",
        "fee_waiver",
        "compensation",
        "service_recovery",
    ]
    instalments: Annotated[int, Field(ge=0, le=600)] = 0


class PaymentMatched(Message):
    """A payment was matched to an instalment of the schedule."""

    type: Literal["PaymentMatched"] = "PaymentMatched"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    payment_id: Identifier
    instalment: Annotated[int, Field(ge=1, le=600)]
    amount: Money
    paid_at: UtcDatetime
    instalment_settled: bool


class InstalmentMissed(Message):
    """An instalment's due date passed without full payment."""

    type: Literal["InstalmentMissed"] = "InstalmentMissed"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    instalment: Annotated[int, Field(ge=1, le=600)]
    due_on: date
    missed_count: Annotated[int, Field(ge=1)]


class MilestoneReached(Message):
    """A point worth telling the customer about: a share of the plan done."""

    type: Literal["MilestoneReached"] = "MilestoneReached"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    percent_done: Annotated[int, Field(ge=0, le=100)]


class ProgressNotified(Message):
    """The customer was told how far the plan has got."""

    type: Literal["ProgressNotified"] = "ProgressNotified"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    percent_done: Annotated[int, Field(ge=0, le=100)]
    method: Literal["phone", "sms", "email", "app", "in_branch"]
    message: Line


class RedressPaid(Message):
    """A refund, fee waiver or compensation was executed; confirmation follows."""

    type: Literal["RedressPaid"] = "RedressPaid"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    amount: Money
    reference: Identifier


class RedressConfirmed(Message):
    """The refund, waiver or compensation was confirmed as received."""

    type: Literal["RedressConfirmed"] = "RedressConfirmed"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    reference: Identifier


class PlanCompleted(Message):
    """Every part of the plan was carried out."""

    type: Literal["PlanCompleted"] = "PlanCompleted"
    schema_version: Literal[1] = 1
    plan_id: Identifier


class PlanDefaulted(Message):
    """The customer fell behind beyond tolerance; the case goes back to planning."""

    type: Literal["PlanDefaulted"] = "PlanDefaulted"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    missed_instalments: Annotated[int, Field(ge=1)]
    arrears: Money


EVENTS = (
    ExecutionStarted,
    PaymentMatched,
    InstalmentMissed,
    MilestoneReached,
    ProgressNotified,
    RedressPaid,
    RedressConfirmed,
    PlanCompleted,
    PlanDefaulted,
)
STEP = "execution"
