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

from events.base import Actor, Message, Money
from events.commands import (
    AcceptPlan,
    ApprovePlan,
    ChooseRoute,
    CommandEnvelope,
    CounterPlan,
    LoadReferenceData,
    RejectPlan,
)
from events.contact import FactsLearned
from events.envelope import Envelope
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
from services.steps.contract import Decide, Emit, Evolve, Input, StepSpec, Tick, case_of, command_of, refuse

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


evolve = Evolve[State]()
decide = Decide[State](
    known=lambda state: state.registered,
    closed=lambda state: state.closed,
    unguarded=(LoadReferenceData,),  # no case's: it goes to the reference data stream
)


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    money = e.amount_disputed
    return replace(
        state,
        registered=True,
        case_id=message.case_id,
        product=e.product,
        amount=money.amount if money else None,
        currency=money.currency if money else "CNY",
    )


@evolve.on(ComplaintClassified)
def _classified(state: State, e: ComplaintClassified, message: Envelope) -> State:
    return replace(state, category=e.category, complexity=e.complexity)


@evolve.on(FactsLearned)
def _facts_learned(state: State, e: FactsLearned, message: Envelope) -> State:
    return replace(
        state,
        facts_learned=True,
        capacity=e.monthly_capacity.amount if e.monthly_capacity else state.capacity,
        hardship=e.hardship_cause or state.hardship,
        ledger=e.ledger or state.ledger,
    )


@evolve.on(ReferenceDataLoaded)
def _reference_loaded(state: State, e: ReferenceDataLoaded, message: Envelope) -> State:
    citation = ReferenceCitation(dataset_id=e.dataset_id, version=e.version, source=e.source, as_of=e.as_of)
    return replace(state, reference=plans.Reference(citation, tuple(e.market), tuple(e.products)))


@evolve.on(FactsRequested)
def _facts_requested(state: State, e: FactsRequested, message: Envelope) -> State:
    return replace(state, awaiting=tuple(e.missing), awaiting_since=message.occurred_at)


@evolve.on(PlanProposed, PlanRevised)
def _proposed(state: State, e: PlanProposed | PlanRevised, message: Envelope) -> State:
    return replace(
        state,
        round=e.round,
        plan_id=e.plan_id,
        status="awaiting_approval" if e.needs_approval else "proposed",
        awaiting=(),
        awaiting_since=None,
    )


# The status each of these events leaves the plan in.
STATUS_AFTER = {
    PlanOffered: "offered",
    PlanAccepted: "accepted",
    PlanRejected: "rejected",
    PlanCountered: "countered",
    RoutesOffered: "routes",
}


@evolve.on(*STATUS_AFTER)
def _status(state: State, e: Message, message: Envelope) -> State:
    return replace(state, status=STATUS_AFTER[type(e)])


@evolve.on(RouteChosen)
def _route_chosen(state: State, e: RouteChosen, message: Envelope) -> State:
    return replace(state, status="done", route=e.route)


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    return replace(state, closed=True)


@evolve.on(CaseReopened)
def _reopened(state: State, e: CaseReopened, message: Envelope) -> State:
    return replace(state, closed=False)


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


# Topics are read in no fixed order, so the facts (contact) may arrive before the
# classification (intake): the first plan follows whichever of the two comes last.
@decide.on(FactsLearned, ComplaintClassified)
def _first_plan(
    state: State, e: FactsLearned | ComplaintClassified, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.status != "none" or state.closed or state.category is None or not state.facts_learned:
        return []
    return _offer_round(state, 1, now, rules)


@decide.on(PlanDefaulted, CaseReopened)
def _next_round(
    state: State, e: PlanDefaulted | CaseReopened, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    if not state.plan_id or state.closed:
        return []
    return _offer_round(state, state.round + 1, now, rules)


@decide.on(Tick)
def _look_again(state: State, tick: Tick, message: Tick, now: datetime, rules: Rules) -> list[Emit]:
    if state.status != "none" or state.closed or not state.awaiting:
        return []
    return _offer_round(state, 1, now, rules)


@decide.on(ApprovePlan)
def _approve(
    state: State, command: ApprovePlan, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    plan_id = command.plan_id
    if message.actor.kind != "staff":
        return refuse(message, "only a supervisor can approve a plan")
    if state.status != "awaiting_approval" or plan_id != state.plan_id:
        return refuse(message, f"plan {plan_id} is not awaiting approval")
    return [
        Emit(PlanApproved(plan_id=plan_id, supervisor_id=message.actor.id)),
        Emit(PlanOffered(plan_id=plan_id, round=state.round)),
    ]


def _not_on_offer(state: State, plan_id: str, message: CommandEnvelope) -> list[Emit]:
    """Why the customer cannot answer this plan now; nothing if they can."""
    if state.status != "offered" or plan_id != state.plan_id:
        return refuse(message, f"plan {plan_id} is not on offer to the customer")
    if message.actor.kind not in ("customer", "staff"):
        return refuse(message, "only the customer (or staff on their behalf) can answer a plan")
    return []


@decide.on(AcceptPlan)
def _accept(
    state: State, command: AcceptPlan, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if refused := _not_on_offer(state, command.plan_id, message):
        return refused
    return [Emit(PlanAccepted(plan_id=command.plan_id, round=state.round))]


@decide.on(RejectPlan)
def _reject(
    state: State, command: RejectPlan, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if refused := _not_on_offer(state, command.plan_id, message):
        return refused
    answer = PlanRejected(plan_id=command.plan_id, round=state.round, reason=command.reason)
    return [Emit(answer), *_offer_round(state, state.round + 1, now, rules)]


@decide.on(CounterPlan)
def _counter(
    state: State, command: CounterPlan, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if refused := _not_on_offer(state, command.plan_id, message):
        return refused
    answer = PlanCountered(plan_id=command.plan_id, round=state.round, counter=command.counter)
    return [Emit(answer), *_offer_round(state, state.round + 1, now, rules, command.counter)]


@decide.on(ChooseRoute)
def _choose_route(
    state: State, command: ChooseRoute, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.status != "routes":
        return refuse(message, "further routes are offered only after the last round")
    return [Emit(RouteChosen(route=command.route))]


@decide.on(LoadReferenceData)
def _load_reference(
    state: State, command: LoadReferenceData, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if message.actor.kind != "staff":
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
