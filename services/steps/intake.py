"""Intake (problem identification): consumes `complaints.submitted` and closures from
`negotiation.evaluation`; emits ComplaintRegistered and ComplaintClassified for a new case,
RepeatComplaintLinked or NewFactsReported when the customer's open case covers the matter.
A stream is one customer, so repeats are found without a global index: the runtime re-keys
the inputs by customer first (`rekey`), so that a customer's stream lives on one partition."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from events.envelope import Envelope
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
from services.steps.contract import Decide, Emit, Evolve, Input, StepSpec

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


def customer_of(message: Input) -> str | None:
    """The customer an input is about: intake's partition key (its streams are customers)."""
    if isinstance(message, ComplaintSubmission):
        return message.customer_id
    customer = getattr(message, "customer_id", None)
    return str(customer) if customer else None


def route(message: Input) -> str | None:
    customer = customer_of(message)
    return f"customer|{customer}" if customer else None


evolve = Evolve[State]()
decide = Decide[State]()


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    return replace(state, pending={**state.pending, message.case_id: e.description})


@evolve.on(ComplaintClassified)
def _classified(state: State, e: ComplaintClassified, message: Envelope) -> State:
    if message.case_id not in state.pending:
        return state
    pending = dict(state.pending)
    description = pending.pop(message.case_id)
    case = Case(e.matter or "", frozenset({_norm(description)}))
    return replace(state, open={**state.open, message.case_id: case}, pending=pending)


@evolve.on(NewFactsReported)
def _new_facts(state: State, e: NewFactsReported, message: Envelope) -> State:
    if message.case_id not in state.open:
        return state
    case = state.open[message.case_id]
    case = replace(case, descriptions=case.descriptions | {_norm(e.summary)})
    return replace(state, open={**state.open, message.case_id: case})


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    if message.case_id not in state.open:
        return state
    still = dict(state.open)
    return replace(state, open=still, closed={**state.closed, message.case_id: still.pop(message.case_id)})


@evolve.on(CaseReopened)
def _reopened(state: State, e: CaseReopened, message: Envelope) -> State:
    if message.case_id not in state.closed:
        return state
    closed = dict(state.closed)
    return replace(state, closed=closed, open={**state.open, message.case_id: closed.pop(message.case_id)})


@decide.on(ComplaintSubmission)
def _submitted(
    state: State, submission: ComplaintSubmission, message: ComplaintSubmission, now: datetime, rules: Rules
) -> list[Emit]:
    category, complexity, priority, reasons = classification.classify(submission)
    matter = classification.matter(category, submission)
    for case_id, case in sorted(state.open.items()):
        if case.matter == matter:
            if _norm(submission.description) in case.descriptions:
                return [
                    Emit(
                        RepeatComplaintLinked(
                            submission_id=submission.submission_id,
                            channel=submission.channel,
                            received_at=submission.submitted_at,
                        ),
                        case_id=case_id,
                    )
                ]
            return [
                Emit(
                    NewFactsReported(
                        submission_id=submission.submission_id,
                        channel=submission.channel,
                        received_at=submission.submitted_at,
                        summary=submission.description,
                    ),
                    case_id=case_id,
                )
            ]
    case_id = case_id_for(submission)
    customer = submission.customer  # sealed by the channel, or by the runtime on arrival
    registered = ComplaintRegistered(
        submission_id=submission.submission_id,
        channel=submission.channel,
        received_at=submission.submitted_at,
        customer_id=submission.customer_id,
        product=submission.product,
        subject=submission.subject,
        description=submission.description,
        amount_disputed=submission.amount_disputed,
        branch_id=submission.branch_id,
        taken_by=submission.staff_id,
        preferred_contact=submission.preferred_contact,
        language=submission.language,
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
    name=STEP,
    port=0,
    consumes=CONSUMES,
    initial=State,
    evolve=evolve,
    decide=decide,
    route=route,
    # A customer's submissions (keyed by submission id) and closures (keyed by case id) arrive
    # on any partition: re-keyed by customer first, they meet on one (docs/architecture.md).
    rekey=customer_of,
)
