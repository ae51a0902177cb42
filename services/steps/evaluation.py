"""Evaluation (effect evaluation): consumes `negotiation.intake`, `negotiation.planning`,
`negotiation.execution` and commands; emits SurveySent when the plan is carried out,
SatisfactionRecorded and CaseClosed when the customer answers, CaseClosed when a further
route is chosen, and CaseReopened / CaseEscalated within the reopen window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from events.base import ContactMethod
from events.commands import EscalateCase, RecordSatisfaction, ReopenCase
from events.evaluation import (
    CaseClosed,
    CaseEscalated,
    CaseReopened,
    Outcome,
    SatisfactionRecorded,
    SurveySent,
)
from events.execution import ExecutionStarted, PlanCompleted
from events.intake import ComplaintRegistered
from events.planning import RouteChosen
from services.rules.model import Rules
from services.steps.contract import Emit, Input, StepSpec, Tick, case_of, command_of, event_of, refuse

STEP = "evaluation"
CONSUMES = (
    ComplaintRegistered,
    ExecutionStarted,
    PlanCompleted,
    RouteChosen,
    RecordSatisfaction,
    ReopenCase,
    EscalateCase,
)
RELIEF = {"repayment_restructuring", "refund", "fee_waiver", "compensation"}


@dataclass(frozen=True)
class State:
    registered: bool = False
    plan_kind: str | None = None
    surveys: int = 0
    survey_id: str | None = None
    answered: bool = True
    closed: bool = False
    reopen_until: datetime | None = None
    survey_method: ContactMethod = "app"
    respond_by: datetime | None = None


def evolve(state: State, message: Input) -> State:
    e = event_of(message)
    if isinstance(e, ComplaintRegistered):
        return replace(state, registered=True)
    if isinstance(e, ExecutionStarted):
        return replace(state, plan_kind=e.plan_kind)
    if isinstance(e, SurveySent):
        return replace(
            state,
            surveys=state.surveys + 1,
            survey_id=e.survey_id,
            answered=False,
            survey_method=e.method,
            respond_by=e.respond_by,
        )
    if isinstance(e, SatisfactionRecorded):
        return replace(state, answered=True)
    if isinstance(e, CaseClosed):
        return replace(state, closed=True, reopen_until=e.reopen_until)
    if isinstance(e, CaseReopened):
        return replace(state, closed=False, reopen_until=None)
    return state


def next_due(state: State) -> datetime | None:
    """An unanswered survey closes the case when its answer is due."""
    if state.closed or state.answered or state.respond_by is None:
        return None
    return state.respond_by


def _outcome(state: State) -> Outcome:
    if state.plan_kind in RELIEF:
        return "resolved_with_relief"
    return "explained" if state.plan_kind == "risk_explanation" else "resolved"


def decide(state: State, message: Input, now: datetime, rules: Rules) -> list[Emit]:
    e = event_of(message)
    case_id = case_of(message)
    window = now + timedelta(days=rules.reopen_days)
    if isinstance(message, Tick):
        due = next_due(state)
        if due is None or now < due:
            return []
        # No answer by the deadline: the plan was carried out, so the case closes without a score.
        return [Emit(CaseClosed(outcome=_outcome(state), reopen_until=window))]
    if isinstance(e, PlanCompleted) and not state.closed:
        survey = f"{case_id}-S{state.surveys + 1}"
        return [Emit(SurveySent(survey_id=survey, method="app", respond_by=now + timedelta(days=7)))]
    if isinstance(e, RouteChosen) and not state.closed:
        return [Emit(CaseClosed(outcome="route_chosen", reopen_until=window))]
    command = command_of(message)
    if command is None:
        return []
    if not state.registered:
        return refuse(message, f"unknown case {case_id}")
    if isinstance(command, RecordSatisfaction):
        if state.answered or command.survey_id != state.survey_id:
            return refuse(message, f"survey {command.survey_id} is not awaiting an answer")
        outcome = _outcome(state)
        return [
            Emit(
                SatisfactionRecorded(
                    survey_id=command.survey_id,
                    csat=command.csat,
                    nps=command.nps,
                    comment=command.comment,
                    answered_via=state.survey_method,
                )
            ),
            Emit(CaseClosed(outcome=outcome, reopen_until=window)),
        ]
    if isinstance(command, ReopenCase):
        if not state.closed:
            return refuse(message, f"case {case_id} is not closed")
        if state.reopen_until is None or now > state.reopen_until:
            return refuse(message, f"the reopen window of case {case_id} has ended")
        return [Emit(CaseReopened(reason=command.reason))]
    if isinstance(command, EscalateCase):
        if state.closed and (state.reopen_until is None or now > state.reopen_until):
            return refuse(message, f"case {case_id} is closed and its reopen window has ended")
        return [Emit(CaseEscalated(to_level=command.to_level, reason=command.reason))]
    return []


SPEC = StepSpec(
    name=STEP, port=4, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide, next_due=next_due
)
