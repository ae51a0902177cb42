"""Planning (plan formulation and the customer's choice): consumes `negotiation.intake`,
`negotiation.contact`, `negotiation.execution`, closures and commands; emits PlanProposed /
PlanRevised by the versioned policy, PlanApproved and PlanOffered, the customer's answer
(PlanAccepted, PlanRejected, PlanCountered), and after the last round RoutesOffered and
RouteChosen."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from events.base import Actor, Money
from events.commands import AcceptPlan, ApprovePlan, ChooseRoute, CounterPlan, RejectPlan
from events.contact import FactsLearned
from events.evaluation import CaseClosed, CaseReopened
from events.execution import PlanDefaulted
from events.intake import ComplaintClassified, ComplaintRegistered
from events.planning import (
    PlanAccepted,
    PlanApproved,
    PlanCountered,
    PlanOffered,
    PlanProposed,
    PlanRejected,
    PlanRevised,
    RouteChosen,
    RoutesOffered,
)
from events.plans import CounterOffer
from events.topics import COMMANDS, STEP_TOPICS
from services.rules import plans
from services.runtime.step import Emit, Input, case_of, command_of, event_of, refuse
from services.settings import Settings

STEP = "planning"
INPUTS = (
    STEP_TOPICS["intake"].name,
    STEP_TOPICS["contact"].name,
    STEP_TOPICS["execution"].name,
    STEP_TOPICS["evaluation"].name,
    COMMANDS.name,
)
EVENTS_IN = (ComplaintRegistered, ComplaintClassified, FactsLearned, PlanDefaulted, CaseClosed, CaseReopened)
COMMAND_TYPES = (ApprovePlan, AcceptPlan, RejectPlan, CounterPlan, ChooseRoute)
BANK = Actor(kind="system", id="planning")
ROUTES = ["higher_level_review", "mediation", "arbitration", "litigation"]


@dataclass(frozen=True)
class State:
    registered: bool = False
    case_id: str = ""
    customer_id: str | None = None
    amount: Decimal | None = None
    currency: str = "CNY"
    product: str | None = None
    category: str | None = None
    complexity: str | None = None
    capacity: Decimal | None = None
    hardship: str | None = None
    round: int = 0
    plan_id: str | None = None
    status: str = "none"  # awaiting_approval | offered | accepted | rejected | countered | routes | done
    route: str | None = None
    closed: bool = False
    facts_learned: bool = False


def interested(message: Input) -> bool:
    return isinstance(event_of(message), EVENTS_IN) or isinstance(command_of(message), COMMAND_TYPES)


def route(message: Input) -> str | None:
    return case_of(message)


def initial() -> State:
    return State()


def evolve(state: State, message: Input) -> State:
    e = event_of(message)
    if isinstance(e, ComplaintRegistered):
        money = e.amount_disputed
        return replace(
            state,
            registered=True,
            case_id=case_of(message) or "",
            customer_id=e.customer_id,
            product=e.product,
            amount=money.amount if money else None,
            currency=money.currency if money else "CNY",
        )
    if isinstance(e, ComplaintClassified):
        return replace(state, category=e.category, complexity=e.complexity)
    if isinstance(e, FactsLearned):
        return replace(
            state,
            facts_learned=True,
            capacity=e.monthly_capacity.amount if e.monthly_capacity else state.capacity,
            hardship=e.hardship_cause or state.hardship,
        )
    if isinstance(e, PlanProposed | PlanRevised):
        return replace(
            state,
            round=e.round,
            plan_id=e.plan_id,
            status="awaiting_approval" if e.needs_approval else "proposed",
        )
    if isinstance(e, PlanOffered):
        return replace(state, status="offered")
    if isinstance(e, PlanAccepted):
        return replace(state, status="accepted")
    if isinstance(e, PlanRejected):
        return replace(state, status="rejected")
    if isinstance(e, PlanCountered):
        return replace(state, status="countered")
    if isinstance(e, RoutesOffered):
        return replace(state, status="routes")
    if isinstance(e, RouteChosen):
        return replace(state, status="done", route=e.route)
    if isinstance(e, CaseClosed):
        return replace(state, closed=True)
    if isinstance(e, CaseReopened):
        return replace(state, closed=False)
    return state


def _facts(state: State) -> plans.Facts:
    return plans.Facts(
        category=state.category or "other",
        complexity=state.complexity or "simple",
        amount=state.amount,
        currency=state.currency,
        product=state.product,
        monthly_capacity=state.capacity,
        hardship=state.hardship,
    )


def _offer_round(
    state: State, round_: int, now: datetime, rules: Settings, counter: CounterOffer | None = None
) -> list[Emit]:
    """Propose (round 1) or revise (later rounds) and, unless it needs approval, offer it."""
    if round_ > rules.max_rounds:
        return [Emit(RoutesOffered(routes=ROUTES), actor=BANK)]
    offer = plans.propose(_facts(state), round_, now, counter)
    plan_id = f"{state.case_id}-P{round_}"
    value = Money(amount=offer.value.quantize(Decimal("0.01")), currency=state.currency)
    needs = offer.value > rules.approval_limit
    rationale = [r[:200] for r in offer.rationale]
    if state.plan_id is None:
        event: PlanProposed | PlanRevised = PlanProposed(
            plan_id=plan_id,
            round=round_,
            terms=offer.terms,
            value=value,
            policy_version=plans.VERSION,
            needs_approval=needs,
            rationale=rationale,
        )
    else:
        event = PlanRevised(
            plan_id=plan_id,
            replaces_plan_id=state.plan_id,
            round=round_,
            terms=offer.terms,
            value=value,
            policy_version=plans.VERSION,
            needs_approval=needs,
            rationale=rationale,
        )
    out = [Emit(event, actor=BANK)]  # the bank's answer, whoever's command prompted it
    if not needs:
        out.append(Emit(PlanOffered(plan_id=plan_id, round=round_), actor=BANK))
    return out


def decide(state: State, message: Input, now: datetime, rules: Settings) -> list[Emit]:
    e = event_of(message)
    case_id = case_of(message) or ""
    # Topics are read in no fixed order, so the facts (contact) may arrive before the
    # classification (intake): the first plan follows whichever of the two comes last.
    if isinstance(e, FactsLearned | ComplaintClassified):
        if state.status != "none" or state.closed or state.category is None or not state.facts_learned:
            return []
        return _offer_round(state, 1, now, rules)
    if isinstance(e, PlanDefaulted | CaseReopened) and state.plan_id and not state.closed:
        return _offer_round(state, state.round + 1, now, rules)
    command = command_of(message)
    if command is None:
        return []
    actor = message.actor  # type: ignore[union-attr]
    if not state.registered:
        return refuse(message, f"unknown case {case_id}")
    if state.closed:
        return refuse(message, f"case {case_id} is closed")
    plan_id = getattr(command, "plan_id", None)
    if isinstance(command, ApprovePlan):
        if actor.kind != "staff":
            return refuse(message, "only a supervisor can approve a plan")
        if state.status != "awaiting_approval" or plan_id != state.plan_id:
            return refuse(message, f"plan {plan_id} is not awaiting approval")
        return [
            Emit(PlanApproved(plan_id=plan_id, supervisor_id=actor.id)),
            Emit(PlanOffered(plan_id=plan_id, round=state.round)),
        ]
    if isinstance(command, AcceptPlan | RejectPlan | CounterPlan):
        if state.status != "offered" or plan_id != state.plan_id:
            return refuse(message, f"plan {plan_id} is not on offer to the customer")
        if actor.kind not in ("customer", "staff"):
            return refuse(message, "only the customer (or staff on their behalf) can answer a plan")
        if isinstance(command, AcceptPlan):
            return [Emit(PlanAccepted(plan_id=plan_id, round=state.round))]
        if isinstance(command, RejectPlan):
            answer: PlanRejected | PlanCountered = PlanRejected(
                plan_id=plan_id, round=state.round, reason=command.reason
            )
            counter = None
        else:
            answer = PlanCountered(plan_id=plan_id, round=state.round, counter=command.counter)
            counter = command.counter
        return [Emit(answer), *_offer_round(state, state.round + 1, now, rules, counter)]
    if isinstance(command, ChooseRoute):
        if state.status != "routes":
            return refuse(message, "further routes are offered only after the last round")
        return [Emit(RouteChosen(route=command.route))]
    return []
