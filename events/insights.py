"""Findings of the insights service (early warning), emitted onto `negotiation.insights`: a surge
of complaints in a one-day window, and a case whose dispute risk crossed the threshold."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from events.base import Category, Identifier, Line, Message, UtcDatetime
from events.registry import WorkflowStep

Probability = Annotated[float, Field(ge=0, le=1)]


class SurgeDetected(Message):
    """Complaints for one (branch, product, category) in one UTC day passed the surge rule
    against the group's trailing baseline; once per window and rule. The envelope's case id
    names the window (`S-<group hash>-<yyyymmdd>`), not a case."""

    type: Literal["SurgeDetected"] = "SurgeDetected"
    schema_version: Literal[1] = 1
    branch_id: Identifier | None
    product: Line | None
    category: Category
    window_start: UtcDatetime
    window_end: UtcDatetime
    complaints: Annotated[int, Field(ge=1)]  # counted in the window when the rule was passed
    baseline_per_day: Annotated[float, Field(ge=0)]
    baseline_days: Annotated[int, Field(ge=1)]
    required: Annotated[int, Field(ge=1)]  # the count the rule asked for, given the baseline
    rule: Identifier  # e.g. surge-v1:x3.0:min10:28d


class RiskScored(Message):
    """The case's dispute risk, scored from what is known of it so far, reached the model's
    threshold; once per case, model version and threshold."""

    type: Literal["RiskScored"] = "RiskScored"
    schema_version: Literal[1] = 1
    score: Probability
    threshold: Probability
    model_version: Identifier
    facts: dict[Identifier, float] = Field(max_length=40)  # the model's inputs that were non-zero
    point: WorkflowStep  # the step of the last fact it was scored on


EVENTS = (SurgeDetected, RiskScored)
STEP = "insights"
