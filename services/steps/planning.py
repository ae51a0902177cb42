"""Planning (plan formulation and the customer's choice): consumes `negotiation.intake`,
`negotiation.contact`, `negotiation.execution`, closures and commands; emits PlanProposed /
PlanRevised by the versioned policy (or FactsRequested when a fact it needs is missing),
PlanApproved and PlanOffered, the customer's answer (PlanAccepted, PlanRejected,
PlanCountered), after the last round RoutesOffered and RouteChosen, and ReferenceDataLoaded
for the operators' reference data, which every case's decision reads (`SHARED`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from events.base import Actor, Money
from events.commands import AcceptPlan, ApprovePlan, ChooseRoute, CounterPlan, LoadReferenceData, RejectPlan
from events.contact import FactsLearned
from events.evaluation import CaseClosed, CaseReopened
from events.execution import PlanDefaulted
from events.facts import REFERENCE_KEY, LedgerReading, ReferenceCitation
from events.intake import ComplaintClassified, ComplaintRegistered
from events.planning import (
    FactsRequested,
    PlanAccepted,
    PlanApproved,
    PlanCountered,
    PlanOffered,
    PlanProposed,
    PlanRejected,
    PlanRevised,
    ReferenceDataLoaded,
    RouteChosen,
    RoutesOffered,
)
from events.plans import CounterOffer, Route
from services.rules import plans
from services.rules.model import Rules
from services.steps.contract import Emit, Input, StepSpec, Tick, case_of, command_of, event_of, refuse

STEP = "planning"
EVENTS_IN = (ComplaintRegistered, ComplaintClassified, FactsLearned, PlanDefaulted, CaseClosed, CaseReopened)
COMMAND_TYPES = (ApprovePlan, AcceptPlan, RejectPlan, CounterPlan, ChooseRoute, LoadReferenceData)
CONSUMES = (*EVENTS_IN, *COMMAND_TYPES)
BANK = Actor(kind="system", id="planning")
SHARED = REFERENCE_KEY  # the stream whose state (the current reference data) every decision reads
ROUTES: list[Route] = ["higher_level_review", "mediation", "arbitration", "litigation"]


@dataclass(frozen=True)
class State:
    registered: bool = False
    case_id: str = ""
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
    ledger: LedgerReading | None = None
    reference: plans.Reference | None = None  # in the reference stream; lent to a case's decision
    awaiting: tuple[str, ...] = ()  # facts the policy asked for and still lacks
    awaiting_since: datetime | None = None


def route(message: Input) -> str | None:
    if isinstance(command_of(message), LoadReferenceData):
        return REFERENCE_KEY
    return case_of(message)


def with_shared(state: State, shared: State) -> State:
    """A case's state as its decision sees it: with the current reference data."""
    return replace(state, reference=shared.reference)


def next_due(state: State) -> datetime | None:
    """A case waiting for reference data looks again at every tick: it arrives in another stream."""
    waiting = any(name.startswith("reference_data") for name in state.awaiting)
    return state.awaiting_since if waiting and state.status == "none" and not state.closed else None


def evolve(state: State, message: Input) -> State:
    e = event_of(message)
    if isinstance(e, ComplaintRegistered):
        money = e.amount_disputed
        return replace(
            state,
            registered=True,
            case_id=case_of(message) or "",
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
            ledger=e.ledger or state.ledger,
        )
    if isinstance(e, ReferenceDataLoaded):
        citation = ReferenceCitation(
            dataset_id=e.dataset_id, version=e.version, source=e.source, as_of=e.as_of
        )
        return replace(state, reference=plans.Reference(citation, tuple(e.market), tuple(e.products)))
    if isinstance(e, FactsRequested):
        return replace(state, awaiting=tuple(e.missing), awaiting_since=message.occurred_at)  # type: ignore[union-attr]
    if isinstance(e, PlanProposed | PlanRevised):
        return replace(
            state,
            round=e.round,
            plan_id=e.plan_id,
            status="awaiting_approval" if e.needs_approval else "proposed",
            awaiting=(),
            awaiting_since=None,
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
        ledger=state.ledger,
        reference=state.reference,
    )


def _offer_round(
    state: State, round_: int, now: datetime, rules: Rules, counter: CounterOffer | None = None
) -> list[Emit]:
    """Propose (round 1) or revise (later rounds) and, unless it needs approval, offer it."""
    if round_ > rules.max_rounds:
        return [Emit(RoutesOffered(routes=ROUTES), actor=BANK)]
    facts = _facts(state)
    lacking = plans.missing(facts, round_)
    if lacking:
        names = tuple(name for name, _ in lacking)
        if names == state.awaiting:
            return []  # asked already; nothing new to say
        request = FactsRequested(
            round=round_,
            missing=list(names),
            reasons=[why for _, why in lacking],
            policy_version=plans.VERSION,
        )
        return [Emit(request, actor=BANK)]
    offer = plans.propose(facts, round_, now, counter, rules.default_tolerance_missed)
    plan_id = f"{state.case_id}-P{round_}"
    value = Money(amount=offer.value.quantize(Decimal("0.01")), currency=offer.currency or state.currency)
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


def decide(state: State, message: Input, now: datetime, rules: Rules) -> list[Emit]:
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
    if isinstance(message, Tick):
        if state.status != "none" or state.closed or not state.awaiting:
            return []
        return _offer_round(state, 1, now, rules)
    command = command_of(message)
    if command is None:
        return []
    actor = message.actor  # type: ignore[union-attr]
    if isinstance(command, LoadReferenceData):
        return _load_reference(state, message, command)
    if not state.registered:
        return refuse(message, f"unknown case {case_id}")
    if state.closed:
        return refuse(message, f"case {case_id} is closed")
    plan_id = str(getattr(command, "plan_id", ""))
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


def _load_reference(state: State, message: Input, command: LoadReferenceData) -> list[Emit]:
    if message.actor.kind != "staff":  # type: ignore[union-attr]
        return refuse(message, "only staff (an operator) can load reference data")
    current = state.reference.citation if state.reference else None
    if current and current.dataset_id == command.dataset_id and command.version <= current.version:
        return refuse(
            message,
            f"reference data {command.dataset_id} version {command.version} is not newer than "
            f"version {current.version}, which is loaded",
        )
    names = [p.name for p in command.market]
    for product in command.products:
        unknown = [m for m in product.markets if m not in names]
        if unknown:
            return refuse(
                message, f"product {product.code} names market points not in the data set: {unknown}"
            )
    return [
        Emit(
            ReferenceDataLoaded(
                dataset_id=command.dataset_id,
                version=command.version,
                source=command.source,
                as_of=command.as_of,
                market=command.market,
                products=command.products,
            ),
            case_id=REFERENCE_KEY,
        )
    ]


SPEC = StepSpec(
    name=STEP,
    port=2,
    consumes=CONSUMES,
    initial=State,
    evolve=evolve,
    decide=decide,
    route=route,
    next_due=next_due,
    shared=SHARED,
    with_shared=with_shared,
)
