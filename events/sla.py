"""Events of the sla step (the regulatory clock), emitted onto `negotiation.sla`: each
deadline started, warned, breached, extended, paused, resumed, restarted or met, once each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from events.base import Identifier, Line, Message, Policy, UtcDatetime

Deadline = Literal["first_contact", "decision"]


class DeadlineStarted(Message):
    """A regulatory deadline began to run under a policy table."""

    type: Literal["DeadlineStarted"] = "DeadlineStarted"
    schema_version: Literal[1] = 1
    deadline: Deadline
    policy: Policy
    started_at: UtcDatetime
    due_at: UtcDatetime


class DeadlineWarned(Message):
    """A share of the time allowed was used (for example 75% or 90%); once per threshold."""

    type: Literal["DeadlineWarned"] = "DeadlineWarned"
    schema_version: Literal[1] = 1
    deadline: Deadline
    percent_used: Annotated[int, Field(ge=1, le=99)]
    due_at: UtcDatetime


class DeadlineBreached(Message):
    """The deadline passed without the required step; once per deadline."""

    type: Literal["DeadlineBreached"] = "DeadlineBreached"
    schema_version: Literal[1] = 1
    deadline: Deadline
    due_at: UtcDatetime


class DeadlineExtended(Message):
    """A longer limit for a complex (to 30 days) or especially complex case (a further 30,
    approved by a higher level); the customer must be told."""

    type: Literal["DeadlineExtended"] = "DeadlineExtended"
    schema_version: Literal[1] = 1
    deadline: Deadline
    tier: Literal["complex", "especially_complex"]
    due_at: UtcDatetime
    approved_by: Identifier
    customer_informed: bool


class DeadlinePaused(Message):
    """The clock stopped: outside appraisal or testing, or (if so configured) waiting on
    the customer."""

    type: Literal["DeadlinePaused"] = "DeadlinePaused"
    schema_version: Literal[1] = 1
    deadline: Deadline
    reason: Literal["outside_appraisal", "awaiting_customer"]
    note: Line | None = None


class DeadlineResumed(Message):
    """The paused clock runs again; the paused time is added to the due time."""

    type: Literal["DeadlineResumed"] = "DeadlineResumed"
    schema_version: Literal[1] = 1
    deadline: Deadline
    paused_seconds: Annotated[int, Field(ge=0)]
    due_at: UtcDatetime


class DeadlineRestarted(Message):
    """New facts restarted the clock from the time they arrived."""

    type: Literal["DeadlineRestarted"] = "DeadlineRestarted"
    schema_version: Literal[1] = 1
    deadline: Deadline
    started_at: UtcDatetime
    due_at: UtcDatetime


class DeadlineMet(Message):
    """The required step happened before the due time."""

    type: Literal["DeadlineMet"] = "DeadlineMet"
    schema_version: Literal[1] = 1
    deadline: Deadline
    met_at: UtcDatetime
    due_at: UtcDatetime


EVENTS = (
    DeadlineStarted,
    DeadlineWarned,
    DeadlineBreached,
    DeadlineExtended,
    DeadlinePaused,
    DeadlineResumed,
    DeadlineRestarted,
    DeadlineMet,
)
STEP = "sla"
