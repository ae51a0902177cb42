"""Events of the intake step (problem identification), emitted onto `negotiation.intake`:
a complaint registered, classified, or linked to the customer's open case as a repeat."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.base import (
    Category,
    Channel,
    Complexity,
    Identifier,
    Line,
    Message,
    Money,
    Policy,
    Priority,
    Text,
    UtcDatetime,
)
from events.submission import ContactPreference


class ComplaintRegistered(Message):
    """A submission was accepted and a case opened for it; the case's first fact."""

    type: Literal["ComplaintRegistered"] = "ComplaintRegistered"
    schema_version: Literal[1] = 1
    submission_id: Identifier
    channel: Channel
    received_at: UtcDatetime
    customer_id: Identifier
    product: Line | None = None
    subject: Line
    description: Text
    amount_disputed: Money | None = None
    branch_id: Identifier | None = None
    taken_by: Identifier | None = None  # whoever took it first stays responsible
    preferred_contact: ContactPreference | None = None
    language: str = "zh-CN"
    policy: Policy


class ComplaintClassified(Message):
    """The case was given a category, complexity and priority by a versioned rule set."""

    type: Literal["ComplaintClassified"] = "ComplaintClassified"
    schema_version: Literal[1] = 1
    category: Category
    complexity: Complexity
    priority: Priority
    rules_version: Identifier
    reasons: list[Line] = Field(default_factory=list, max_length=20)
    matter: Line | None = None  # what counts as "the same matter" for repeat complaints


class RepeatComplaintLinked(Message):
    """A new submission on the same matter, without new facts, was merged into this open case."""

    type: Literal["RepeatComplaintLinked"] = "RepeatComplaintLinked"
    schema_version: Literal[1] = 1
    submission_id: Identifier
    channel: Channel
    received_at: UtcDatetime


class NewFactsReported(Message):
    """A new submission on an open case brought new facts; the regulatory clock restarts."""

    type: Literal["NewFactsReported"] = "NewFactsReported"
    schema_version: Literal[1] = 1
    submission_id: Identifier
    channel: Channel
    received_at: UtcDatetime
    summary: Text


EVENTS = (ComplaintRegistered, ComplaintClassified, RepeatComplaintLinked, NewFactsReported)
STEP = "intake"
