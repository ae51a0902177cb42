"""Events of the evaluation step (effect evaluation), emitted onto `negotiation.evaluation`:
the survey, the customer's satisfaction, and the case closed, reopened or escalated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from events.base import Identifier, Line, Message, Text, UtcDatetime


class SurveySent(Message):
    """A satisfaction survey went to the customer by their preferred method."""

    type: Literal["SurveySent"] = "SurveySent"
    schema_version: Literal[1] = 1
    survey_id: Identifier
    method: Literal["phone", "sms", "email", "app", "in_branch"]
    respond_by: UtcDatetime


class SatisfactionRecorded(Message):
    """The customer's answer: CSAT 1-5, NPS 0-10, an optional comment, and how it was given.
    v2 added `answered_via`; v1 events are upcast on read (see events/upcasters.py)."""

    type: Literal["SatisfactionRecorded"] = "SatisfactionRecorded"
    schema_version: Literal[2] = 2
    survey_id: Identifier
    csat: Annotated[int, Field(ge=1, le=5)]
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    comment: Text | None = None
    answered_via: Literal["phone", "sms", "email", "app", "in_branch"]


Outcome = Literal["resolved", "resolved_with_relief", "explained", "route_chosen", "withdrawn", "merged"]


class CaseClosed(Message):
    """The case closed with an outcome; until `reopen_until` the customer may reopen it."""

    type: Literal["CaseClosed"] = "CaseClosed"
    schema_version: Literal[1] = 1
    outcome: Outcome
    reopen_until: UtcDatetime | None = None


class CaseReopened(Message):
    """A closed case was reopened at the customer's request."""

    type: Literal["CaseReopened"] = "CaseReopened"
    schema_version: Literal[1] = 1
    reason: Line


class CaseEscalated(Message):
    """The case went to a higher level (the customer asked for review, or it was dissatisfied)."""

    type: Literal["CaseEscalated"] = "CaseEscalated"
    schema_version: Literal[1] = 1
    to_level: Literal["supervisor", "branch_head", "head_office", "ombudsman"]
    reason: Line


EVENTS = (SurveySent, SatisfactionRecorded, CaseClosed, CaseReopened, CaseEscalated)
STEP = "evaluation"
