"""Commands: what staff and customers ask the workflow to do, published to
`negotiation.commands` keyed by case id. Imperative names; a step answers with events."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from events.base import (
    Actor,
    CaseId,
    ContactMethod,
    Identifier,
    Line,
    Message,
    Money,
    PastDate,
    PastDatetime,
    ScheduledDatetime,
    Text,
)
from events.facts import LedgerReading, MarketPoint, ProductRecord
from events.plans import CounterOffer, Route
from events.submission import ContactPreference


class TakeCase(Message):
    """A staff member takes the case; the first to take it stays responsible."""

    type: Literal["TakeCase"] = "TakeCase"
    schema_version: Literal[1] = 1
    team: Identifier


class ReassignCase(Message):
    """A supervisor moves the case to another handler, with the reason."""

    type: Literal["ReassignCase"] = "ReassignCase"
    schema_version: Literal[1] = 1
    handler_id: Identifier
    team: Identifier
    reason: Line


class DeclareConflict(Message):
    """A staff member declares a stake in the case, so they are never assigned to it."""

    type: Literal["DeclareConflict"] = "DeclareConflict"
    schema_version: Literal[1] = 1
    staff_id: Identifier
    reason: Line


class SetContactPreference(Message):
    """The customer chooses or changes how and when to be contacted."""

    type: Literal["SetContactPreference"] = "SetContactPreference"
    schema_version: Literal[1] = 1
    preference: ContactPreference


class RecordContactAttempt(Message):
    """Staff record an attempt to reach the customer and its outcome."""

    type: Literal["RecordContactAttempt"] = "RecordContactAttempt"
    schema_version: Literal[1] = 1
    method: ContactMethod
    outcome: Literal["reached", "no_answer", "callback_requested", "message_left"]
    callback_at: ScheduledDatetime | None = None


class RecordFacts(Message):
    """Staff record what was learned from the customer and, in `ledger`, what the bank's ledger
    shows (the figures a plan may state); `new_facts` restarts the clock."""

    type: Literal["RecordFacts"] = "RecordFacts"
    schema_version: Literal[1] = 1
    summary: Text
    hardship_cause: Line | None = None
    monthly_capacity: Money | None = None
    willing_to_repay: bool | None = None
    new_facts: bool = False
    ledger: LedgerReading | None = None  # what the ledger shows: the figures a plan may state


class LoadReferenceData(Message):
    """An operator loads a versioned reference data set (market points, product records) with
    its source and as-of date; sent under the key `reference-data`, not a case id."""

    type: Literal["LoadReferenceData"] = "LoadReferenceData"
    schema_version: Literal[1] = 1
    dataset_id: Identifier
    version: Annotated[int, Field(ge=1)]
    source: Line
    as_of: PastDate
    market: list[MarketPoint] = Field(default_factory=list, max_length=50)
    products: list[ProductRecord] = Field(default_factory=list, max_length=500)


class ApprovePlan(Message):
    """A supervisor approves a plan above the approval limit."""

    type: Literal["ApprovePlan"] = "ApprovePlan"
    schema_version: Literal[1] = 1
    plan_id: Identifier


class AcceptPlan(Message):
    """The customer accepts the plan on offer."""

    type: Literal["AcceptPlan"] = "AcceptPlan"
    schema_version: Literal[1] = 1
    plan_id: Identifier


class RejectPlan(Message):
    """The customer rejects the plan on offer."""

    type: Literal["RejectPlan"] = "RejectPlan"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    reason: Line | None = None


class CounterPlan(Message):
    """The customer answers the plan on offer with terms of their own."""

    type: Literal["CounterPlan"] = "CounterPlan"
    schema_version: Literal[1] = 1
    plan_id: Identifier
    counter: CounterOffer


class ChooseRoute(Message):
    """After the last round, the customer chooses review, mediation, arbitration or litigation."""

    type: Literal["ChooseRoute"] = "ChooseRoute"
    schema_version: Literal[1] = 1
    route: Route


class RecordPayment(Message):
    """A payment towards a repayment plan arrived."""

    type: Literal["RecordPayment"] = "RecordPayment"
    schema_version: Literal[1] = 1
    payment_id: Identifier
    amount: Money
    paid_at: PastDatetime


class ConfirmRedress(Message):
    """Finance confirms that a refund, waiver or compensation reached the customer."""

    type: Literal["ConfirmRedress"] = "ConfirmRedress"
    schema_version: Literal[1] = 1
    reference: Identifier


class RecordSatisfaction(Message):
    """The customer answers the survey."""

    type: Literal["RecordSatisfaction"] = "RecordSatisfaction"
    schema_version: Literal[1] = 1
    survey_id: Identifier
    csat: Annotated[int, Field(ge=1, le=5)]
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    comment: Text | None = None


class ReopenCase(Message):
    """A dissatisfied customer reopens a closed case within the reopen window."""

    type: Literal["ReopenCase"] = "ReopenCase"
    schema_version: Literal[1] = 1
    reason: Line


class EscalateCase(Message):
    """The customer or staff ask for the case to go to a higher level."""

    type: Literal["EscalateCase"] = "EscalateCase"
    schema_version: Literal[1] = 1
    to_level: Literal["supervisor", "branch_head", "head_office", "ombudsman"]
    reason: Line


class ExtendDeadline(Message):
    """A supervisor (or a higher level, for the second extension) extends the decision deadline."""

    type: Literal["ExtendDeadline"] = "ExtendDeadline"
    schema_version: Literal[1] = 1
    tier: Literal["complex", "especially_complex"]
    customer_informed: bool


class PauseClock(Message):
    """Stop the regulatory clock: outside appraisal, or waiting on the customer where so configured."""

    type: Literal["PauseClock"] = "PauseClock"
    schema_version: Literal[1] = 1
    reason: Literal["outside_appraisal", "awaiting_customer"]
    note: Line | None = None


class ResumeClock(Message):
    """Start the paused regulatory clock again."""

    type: Literal["ResumeClock"] = "ResumeClock"
    schema_version: Literal[1] = 1


COMMANDS = (
    TakeCase,
    ReassignCase,
    DeclareConflict,
    SetContactPreference,
    RecordContactAttempt,
    RecordFacts,
    LoadReferenceData,
    ApprovePlan,
    AcceptPlan,
    RejectPlan,
    CounterPlan,
    ChooseRoute,
    RecordPayment,
    ConfirmRedress,
    RecordSatisfaction,
    ReopenCase,
    EscalateCase,
    ExtendDeadline,
    PauseClock,
    ResumeClock,
)

AnyCommand = Annotated[
    TakeCase
    | ReassignCase
    | DeclareConflict
    | SetContactPreference
    | RecordContactAttempt
    | RecordFacts
    | LoadReferenceData
    | ApprovePlan
    | AcceptPlan
    | RejectPlan
    | CounterPlan
    | ChooseRoute
    | RecordPayment
    | ConfirmRedress
    | RecordSatisfaction
    | ReopenCase
    | EscalateCase
    | ExtendDeadline
    | PauseClock
    | ResumeClock,
    Field(discriminator="type"),
]


class CommandEnvelope(Message):
    """One command for one case, by one actor (staff member or customer)."""

    schema_version: Literal[1] = 1
    command_id: UUID
    case_id: CaseId
    issued_at: PastDatetime
    actor: Actor
    command: AnyCommand
