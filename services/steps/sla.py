"""SLA (the regulatory clock): consumes `negotiation.intake`, `negotiation.contact` (new facts
restart the decision clock),
`negotiation.planning`, closures and clock commands; emits one event per deadline crossing:
DeadlineStarted, DeadlineWarned (75%, 90%), DeadlineBreached, DeadlineExtended,
DeadlinePaused, DeadlineResumed, DeadlineRestarted and DeadlineMet. Time is the `now` it is
given, so tests move it at will."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from events.base import Policy
from events.commands import CommandEnvelope, ExtendDeadline, PauseClock, ResumeClock
from events.contact import CaseAssigned, ContactAttempted, FactsLearned
from events.envelope import Envelope
from events.evaluation import CaseClosed
from events.intake import ComplaintRegistered, NewFactsReported
from events.planning import PlanOffered, RouteChosen
from events.sla import (
    Deadline,
    DeadlineBreached,
    DeadlineExtended,
    DeadlineMet,
    DeadlinePaused,
    DeadlineRestarted,
    DeadlineResumed,
    DeadlineStarted,
    DeadlineWarned,
)
from services.rules import deadlines
from services.rules.model import Rules
from services.steps.contract import Decide, Emit, Evolve, StepSpec, Tick, refuse

STEP = "sla"
EVENTS_IN = (
    ComplaintRegistered,
    NewFactsReported,
    CaseAssigned,
    ContactAttempted,
    FactsLearned,
    PlanOffered,
    RouteChosen,
    CaseClosed,
)


@dataclass(frozen=True)
class Clock:
    started_at: datetime
    due_at: datetime
    paused_at: datetime | None = None
    paused_seconds: int = 0
    warned: frozenset[int] = frozenset()
    breached: bool = False
    met: bool = False
    tiers: frozenset[str] = frozenset()

    @property
    def running(self) -> bool:
        return not self.met and self.paused_at is None

    def percent_used(self, now: datetime) -> float:
        span = (self.due_at - self.started_at).total_seconds() - self.paused_seconds
        used = (now - self.started_at).total_seconds() - self.paused_seconds
        return 100.0 * used / span if span > 0 else 100.0

    def at_percent(self, percent: int) -> datetime:
        span = (self.due_at - self.started_at).total_seconds() - self.paused_seconds
        return self.started_at + timedelta(seconds=self.paused_seconds + span * percent / 100)


@dataclass(frozen=True)
class State:
    registered: bool = False
    policy: Policy = "CN-2020"
    clocks: dict[Deadline, Clock] = field(default_factory=dict)
    closed: bool = False
    decided_at: datetime | None = None  # when the decision was made (may precede registration)


def _set(state: State, name: Deadline, clock: Clock) -> State:
    return replace(state, clocks={**state.clocks, name: clock})


evolve = Evolve[State]()
decide = Decide[State](known=lambda state: state.registered, closed=lambda state: state.closed)


def _change(state: State, name: Deadline, change: Callable[[Clock], Clock]) -> State:
    """A change to a clock that is running; one never started stays as it is."""
    clock = state.clocks.get(name)
    return state if clock is None else _set(state, name, change(clock))


@evolve.on(PlanOffered, RouteChosen)
def _decided(state: State, e: PlanOffered | RouteChosen, message: Envelope) -> State:
    return replace(state, decided_at=message.occurred_at) if state.decided_at is None else state


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    return replace(state, registered=True, policy=e.policy)


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    return replace(state, closed=True)


@evolve.on(DeadlineStarted, DeadlineRestarted)
def _started(state: State, e: DeadlineStarted | DeadlineRestarted, message: Envelope) -> State:
    return _set(state, e.deadline, Clock(started_at=e.started_at, due_at=e.due_at))


@evolve.on(DeadlineWarned)
def _warned(state: State, e: DeadlineWarned, message: Envelope) -> State:
    return _change(state, e.deadline, lambda clock: replace(clock, warned=clock.warned | {e.percent_used}))


@evolve.on(DeadlineBreached)
def _breached(state: State, e: DeadlineBreached, message: Envelope) -> State:
    return _change(state, e.deadline, lambda clock: replace(clock, breached=True))


@evolve.on(DeadlineMet)
def _met_deadline(state: State, e: DeadlineMet, message: Envelope) -> State:
    return _change(state, e.deadline, lambda clock: replace(clock, met=True))


@evolve.on(DeadlineExtended)
def _extended(state: State, e: DeadlineExtended, message: Envelope) -> State:
    return _change(
        state,
        e.deadline,
        lambda clock: replace(
            clock, due_at=e.due_at, tiers=clock.tiers | {e.tier}, breached=False, warned=frozenset()
        ),
    )


@evolve.on(DeadlinePaused)
def _paused(state: State, e: DeadlinePaused, message: Envelope) -> State:
    return _change(state, e.deadline, lambda clock: replace(clock, paused_at=message.occurred_at))


@evolve.on(DeadlineResumed)
def _resumed(state: State, e: DeadlineResumed, message: Envelope) -> State:
    return _change(
        state,
        e.deadline,
        lambda clock: replace(
            clock, paused_at=None, due_at=e.due_at, paused_seconds=clock.paused_seconds + e.paused_seconds
        ),
    )


def next_due(state: State) -> datetime | None:
    """When the next warning or breach falls due, over all running clocks."""
    times = []
    for clock in state.clocks.values():
        if not clock.running or clock.breached:
            continue
        pending = [
            clock.at_percent(p) for p in deadlines.table(state.policy).warn_at if p not in clock.warned
        ]
        times.append(min([*pending, clock.due_at]))
    return min(times) if times else None


def _met(state: State, name: Deadline, now: datetime) -> list[Emit]:
    clock = state.clocks.get(name)
    if clock is None or clock.met:
        return []
    return [Emit(DeadlineMet(deadline=name, met_at=now, due_at=clock.due_at))]


@decide.on(ComplaintRegistered)
def _start_decision(
    state: State, e: ComplaintRegistered, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    due = deadlines.decision_due(e.policy, e.received_at)
    # The topics are read in no fixed order: the decision may have been seen first.
    started = Emit(
        DeadlineStarted(deadline="decision", policy=e.policy, started_at=e.received_at, due_at=due)
    )
    if state.decided_at is None:
        return [started]
    return [started, Emit(DeadlineMet(deadline="decision", met_at=state.decided_at, due_at=due))]


def _restart(state: State, at: datetime) -> list[Emit]:
    due = deadlines.decision_due(state.policy, at)
    return [Emit(DeadlineRestarted(deadline="decision", started_at=at, due_at=due))]


@decide.on(NewFactsReported)
def _new_facts(
    state: State, e: NewFactsReported, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    return [] if state.closed else _restart(state, e.received_at)


@decide.on(FactsLearned)
def _facts_learned(
    state: State, e: FactsLearned, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    if not e.new_facts or state.closed or not state.registered:
        return []
    # Staff recorded new facts (RecordFacts new_facts=true): the decision clock restarts
    # from the day they were recorded, as it does for a new submission with new facts.
    return _restart(state, message.occurred_at)


@decide.on(CaseAssigned)
def _start_first_contact(
    state: State, e: CaseAssigned, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    if "first_contact" in state.clocks:
        return []
    started = DeadlineStarted(
        deadline="first_contact", policy=state.policy, started_at=now, due_at=e.first_contact_due_at
    )
    return [Emit(started)]


@decide.on(ContactAttempted)
def _contacted(
    state: State, e: ContactAttempted, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    return _met(state, "first_contact", now) if e.outcome == "reached" else []


@decide.on(PlanOffered, RouteChosen)
def _decision_made(
    state: State, e: PlanOffered | RouteChosen, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    return _met(state, "decision", now)


@decide.on(CaseClosed)
def _all_met(state: State, e: CaseClosed, message: Envelope, now: datetime, rules: Rules) -> list[Emit]:
    return [x for name in sorted(state.clocks) for x in _met(state, name, now)]


@decide.on(Tick)
def _tick(state: State, tick: Tick, message: Tick, now: datetime, rules: Rules) -> list[Emit]:
    return _crossings(state, tick.now)


def _decision_clock(state: State) -> Clock | None:
    """The decision deadline if it is running: what every clock command acts on."""
    clock = state.clocks.get("decision")
    return None if clock is None or clock.met else clock


NOT_RUNNING = "the decision deadline is not running"


@decide.on(ExtendDeadline)
def _extend(
    state: State, command: ExtendDeadline, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    clock = _decision_clock(state)
    if clock is None:
        return refuse(message, NOT_RUNNING)
    actor = message.actor
    if actor.kind != "staff":
        return refuse(message, "only staff with approval can extend a deadline")
    if command.tier in clock.tiers:
        return refuse(message, f"the deadline was already extended as {command.tier}")
    if command.tier == "especially_complex" and "complex" not in clock.tiers:
        return refuse(message, "extend as complex first; especially complex is a further extension")
    extended = deadlines.extended_due(state.policy, clock.started_at, command.tier, clock.due_at)
    if extended is None:
        return refuse(message, f"policy {state.policy} allows no {command.tier} extension")
    due = extended + timedelta(seconds=clock.paused_seconds)
    return [
        Emit(
            DeadlineExtended(
                deadline="decision",
                tier=command.tier,
                due_at=due,
                approved_by=actor.id,
                customer_informed=command.customer_informed,
            )
        )
    ]


@decide.on(PauseClock)
def _pause(
    state: State, command: PauseClock, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    clock = _decision_clock(state)
    if clock is None:
        return refuse(message, NOT_RUNNING)
    if command.reason == "awaiting_customer" and rules.awaiting_customer_counts:
        return refuse(
            message,
            "waiting on the customer counts towards the deadline here (ACCORD_AWAITING_CUSTOMER_COUNTS)",
        )
    if clock.paused_at is not None:
        return refuse(message, "the clock is already paused")
    return [Emit(DeadlinePaused(deadline="decision", reason=command.reason, note=command.note))]


@decide.on(ResumeClock)
def _resume(
    state: State, command: ResumeClock, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    clock = _decision_clock(state)
    if clock is None:
        return refuse(message, NOT_RUNNING)
    if clock.paused_at is None:
        return refuse(message, "the clock is not paused")
    paused = int((now - clock.paused_at).total_seconds())
    resumed = DeadlineResumed(
        deadline="decision", paused_seconds=paused, due_at=clock.due_at + timedelta(seconds=paused)
    )
    return [Emit(resumed)]


def _crossings(state: State, now: datetime) -> list[Emit]:
    out: list[Emit] = []
    for name, clock in sorted(state.clocks.items()):
        if not clock.running or clock.breached or state.closed:
            continue
        used = clock.percent_used(now)
        for percent in deadlines.table(state.policy).warn_at:
            if used >= percent and percent not in clock.warned and now < clock.due_at:
                out.append(Emit(DeadlineWarned(deadline=name, percent_used=percent, due_at=clock.due_at)))
        if now >= clock.due_at:
            out.append(Emit(DeadlineBreached(deadline=name, due_at=clock.due_at)))
    return out


CONSUMES = (*EVENTS_IN, ExtendDeadline, PauseClock, ResumeClock)
SPEC = StepSpec(
    name=STEP, port=5, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide, next_due=next_due
)
