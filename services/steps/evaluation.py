"""Evaluation (effect evaluation): consumes `negotiation.intake`, `negotiation.planning`,
`negotiation.execution` and commands; emits SurveySent when the plan is carried out,
SatisfactionRecorded and CaseClosed when the customer answers, CaseClosed when a further
route is chosen, and CaseReopened / CaseEscalated within the reopen window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from events.base import ContactMethod
from events.commands import CommandEnvelope, EscalateCase, RecordSatisfaction, ReopenCase
from events.envelope import Envelope
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
from services.steps.contract import Decide, Emit, Evolve, StepSpec, Tick, refuse

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


evolve = Evolve[State]()
decide = Decide[State](known=lambda state: state.registered)  # a closed case can be reopened


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    return replace(state, registered=True)


@evolve.on(ExecutionStarted)
def _started(state: State, e: ExecutionStarted, message: Envelope) -> State:
    return replace(state, plan_kind=e.plan_kind)


@evolve.on(SurveySent)
def _survey_sent(state: State, e: SurveySent, message: Envelope) -> State:
    return replace(
        state,
        surveys=state.surveys + 1,
        survey_id=e.survey_id,
        answered=False,
        survey_method=e.method,
        respond_by=e.respond_by,
    )


@evolve.on(SatisfactionRecorded)
def _answered(state: State, e: SatisfactionRecorded, message: Envelope) -> State:
    return replace(state, answered=True)


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    return replace(state, closed=True, reopen_until=e.reopen_until)


@evolve.on(CaseReopened)
def _reopened(state: State, e: CaseReopened, message: Envelope) -> State:
    return replace(state, closed=False, reopen_until=None)


def next_due(state: State) -> datetime | None:
    """An unanswered survey closes the case when its answer is due."""
    if state.closed or state.answered or state.respond_by is None:
        return None
    return state.respond_by


def _outcome(state: State) -> Outcome:
    if state.plan_kind in RELIEF:
        return "resolved_with_relief"
    return "explained" if state.plan_kind == "risk_explanation" else "resolved"


def _window(now: datetime, rules: Rules) -> datetime:
    """Until when a case closed now can be reopened or escalated."""
    return now + timedelta(days=rules.reopen_days)


@decide.on(Tick)
def _unanswered(state: State, tick: Tick, message: Tick, now: datetime, rules: Rules) -> list[Emit]:
    due = next_due(state)
    if due is None or now < due:
        return []
    # No answer by the deadline: the plan was carried out, so the case closes without a score.
    return [Emit(CaseClosed(outcome=_outcome(state), reopen_until=_window(now, rules)))]


@decide.on(PlanCompleted)
def _send_survey(
    state: State, e: PlanCompleted, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.closed:
        return []
    survey = f"{message.case_id}-S{state.surveys + 1}"
    return [Emit(SurveySent(survey_id=survey, method="app", respond_by=now + timedelta(days=7)))]


@decide.on(RouteChosen)
def _route_chosen(state: State, e: RouteChosen, message: Envelope, now: datetime, rules: Rules) -> list[Emit]:
    if state.closed:
        return []
    return [Emit(CaseClosed(outcome="route_chosen", reopen_until=_window(now, rules)))]


@decide.on(RecordSatisfaction)
def _record_satisfaction(
    state: State, command: RecordSatisfaction, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.answered or command.survey_id != state.survey_id:
        return refuse(message, f"survey {command.survey_id} is not awaiting an answer")
    recorded = SatisfactionRecorded(
        survey_id=command.survey_id,
        csat=command.csat,
        nps=command.nps,
        comment=command.comment,
        answered_via=state.survey_method,
    )
    return [Emit(recorded), Emit(CaseClosed(outcome=_outcome(state), reopen_until=_window(now, rules)))]


@decide.on(ReopenCase)
def _reopen(
    state: State, command: ReopenCase, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if not state.closed:
        return refuse(message, f"case {message.case_id} is not closed")
    if state.reopen_until is None or now > state.reopen_until:
        return refuse(message, f"the reopen window of case {message.case_id} has ended")
    return [Emit(CaseReopened(reason=command.reason))]


@decide.on(EscalateCase)
def _escalate(
    state: State, command: EscalateCase, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.closed and (state.reopen_until is None or now > state.reopen_until):
        return refuse(message, f"case {message.case_id} is closed and its reopen window has ended")
    return [Emit(CaseEscalated(to_level=command.to_level, reason=command.reason))]


SPEC = StepSpec(
    name=STEP, port=4, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide, next_due=next_due
)
