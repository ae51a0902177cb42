"""Intake (problem identification): consumes `complaints.submitted` and closures from
`negotiation.evaluation`; emits ComplaintRegistered and ComplaintClassified for a new case,
RepeatComplaintLinked or NewFactsReported when the customer's open case covers the matter.
A stream is one customer, so repeats are found without a global index."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from events.evaluation import CaseClosed, CaseReopened
from events.identity import case_id_for
from events.intake import (
    ComplaintClassified,
    ComplaintRegistered,
    NewFactsReported,
    RepeatComplaintLinked,
)
from events.personal import has_personal
from events.submission import ComplaintSubmission
from services.rules import classification
from services.rules.model import Rules
from services.steps.contract import Emit, Input, StepSpec, event_of

STEP = "intake"
CONSUMES = (ComplaintSubmission, CaseClosed, CaseReopened)


@dataclass(frozen=True)
class Case:
    matter: str
    descriptions: frozenset[str]


@dataclass(frozen=True)
class State:
    open: dict[str, Case] = field(default_factory=dict)
    closed: dict[str, Case] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # case -> description, until classified


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def route(message: Input) -> str | None:
    if isinstance(message, ComplaintSubmission):
        return f"customer|{message.customer_id}"
    customer = getattr(message, "customer_id", None)
    return f"customer|{customer}" if customer else None


def evolve(state: State, message: Input) -> State:
    if isinstance(message, ComplaintSubmission):
        return state
    event = event_of(message)
    case_id = str(getattr(message, "case_id", ""))
    if isinstance(event, ComplaintRegistered):
        return replace(state, pending={**state.pending, case_id: event.description})
    if isinstance(event, ComplaintClassified) and case_id in state.pending:
        pending = dict(state.pending)
        description = pending.pop(case_id)
        case = Case(event.matter or "", frozenset({_norm(description)}))
        return replace(state, open={**state.open, case_id: case}, pending=pending)
    if isinstance(event, NewFactsReported) and case_id in state.open:
        case = state.open[case_id]
        case = replace(case, descriptions=case.descriptions | {_norm(event.summary)})
        return replace(state, open={**state.open, case_id: case})
    if isinstance(event, CaseClosed) and case_id in state.open:
        still = dict(state.open)
        return replace(state, open=still, closed={**state.closed, case_id: still.pop(case_id)})
    if isinstance(event, CaseReopened) and case_id in state.closed:
        closed = dict(state.closed)
        return replace(state, closed=closed, open={**state.open, case_id: closed.pop(case_id)})
    return state


def decide(state: State, message: Input, now: datetime, rules: Rules) -> list[Emit]:
    if not isinstance(message, ComplaintSubmission):
        return []
    category, complexity, priority, reasons = classification.classify(message)
    matter = classification.matter(category, message)
    for case_id, case in sorted(state.open.items()):
        if case.matter == matter:
            if _norm(message.description) in case.descriptions:
                return [
                    Emit(
                        RepeatComplaintLinked(
                            submission_id=message.submission_id,
                            channel=message.channel,
                            received_at=message.submitted_at,
                        ),
                        case_id=case_id,
                    )
                ]
            return [
                Emit(
                    NewFactsReported(
                        submission_id=message.submission_id,
                        channel=message.channel,
                        received_at=message.submitted_at,
                        summary=message.description,
                    ),
                    case_id=case_id,
                )
            ]
    case_id = case_id_for(message)
    customer = message.customer  # sealed by the channel, or by the runtime on arrival
    registered = ComplaintRegistered(
        submission_id=message.submission_id,
        channel=message.channel,
        received_at=message.submitted_at,
        customer_id=message.customer_id,
        product=message.product,
        subject=message.subject,
        description=message.description,
        amount_disputed=message.amount_disputed,
        branch_id=message.branch_id,
        taken_by=message.staff_id,
        preferred_contact=message.preferred_contact,
        language=message.language,
        policy=rules.policy,
    )
    classified = ComplaintClassified(
        category=category,
        complexity=complexity,
        priority=priority,
        rules_version=classification.VERSION,
        reasons=reasons,
        matter=matter[:200],
    )
    return [
        Emit(registered, case_id=case_id, personal=customer if has_personal(customer) else None),
        Emit(classified, case_id=case_id),
    ]


SPEC = StepSpec(
    name=STEP, port=0, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide, route=route
)
