"""SLA (the regulatory clock): consumes `negotiation.intake`, `negotiation.contact` (new facts
restart the decision clock),
`negotiation.planning`, closures and clock commands; emits one event per deadline crossing:
DeadlineStarted, DeadlineWarned (75%, 90%), DeadlineBreached, DeadlineExtended,
DeadlinePaused, DeadlineResumed, DeadlineRestarted and DeadlineMet. Time is the `now` it is
given, so tests move it at will."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from events.base import Policy
from events.commands import ExtendDeadline, PauseClock, ResumeClock
from events.contact import CaseAssigned, ContactAttempted, FactsLearned
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
from services.steps.contract import Emit, Input, StepSpec, Tick, case_of, command_of, event_of, refuse

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


def evolve(state: State, message: Input) -> State:
    e = event_of(message)
    if isinstance(e, PlanOffered | RouteChosen) and state.decided_at is None:
        state = replace(state, decided_at=message.occurred_at)  # type: ignore[union-attr]
    if isinstance(e, ComplaintRegistered):
        return replace(state, registered=True, policy=e.policy)
    if isinstance(e, CaseClosed):
        return replace(state, closed=True)
    clock = state.clocks.get(getattr(e, "deadline", "decision")) if hasattr(e, "deadline") else None
    if isinstance(e, DeadlineStarted | DeadlineRestarted):
        return _set(state, e.deadline, Clock(started_at=e.started_at, due_at=e.due_at))
    if clock is None:
        return state
    if isinstance(e, DeadlineWarned):
        return _set(state, e.deadline, replace(clock, warned=clock.warned | {e.percent_used}))
    if isinstance(e, DeadlineBreached):
        return _set(state, e.deadline, replace(clock, breached=True))
    if isinstance(e, DeadlineMet):
        return _set(state, e.deadline, replace(clock, met=True))
    if isinstance(e, DeadlineExtended):
        return _set(
            state,
            e.deadline,
            replace(clock, due_at=e.due_at, tiers=clock.tiers | {e.tier}, breached=False, warned=frozenset()),
        )
    if isinstance(e, DeadlinePaused):
        occurred = message.occurred_at  # type: ignore[union-attr]
        return _set(state, e.deadline, replace(clock, paused_at=occurred))
    if isinstance(e, DeadlineResumed):
        return _set(
            state,
            e.deadline,
            replace(
                clock, paused_at=None, due_at=e.due_at, paused_seconds=clock.paused_seconds + e.paused_seconds
            ),
        )
    return state


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


def decide(state: State, message: Input, now: datetime, rules: Rules) -> list[Emit]:
    e = event_of(message)
    if isinstance(e, ComplaintRegistered):
        due = deadlines.decision_due(e.policy, e.received_at)
        # The topics are read in no fixed order: the decision may have been seen first.
        started = Emit(
            DeadlineStarted(deadline="decision", policy=e.policy, started_at=e.received_at, due_at=due)
        )
        if state.decided_at is None:
            return [started]
        return [started, Emit(DeadlineMet(deadline="decision", met_at=state.decided_at, due_at=due))]
    if isinstance(e, NewFactsReported) and not state.closed:
        return [
            Emit(
                DeadlineRestarted(
                    deadline="decision",
                    started_at=e.received_at,
                    due_at=deadlines.decision_due(state.policy, e.received_at),
                )
            )
        ]
    if isinstance(e, FactsLearned) and e.new_facts and not state.closed and state.registered:
        # Staff recorded new facts (RecordFacts new_facts=true): the decision clock restarts
        # from the day they were recorded, as it does for a new submission with new facts.
        at = message.occurred_at  # type: ignore[union-attr]
        return [
            Emit(
                DeadlineRestarted(
                    deadline="decision", started_at=at, due_at=deadlines.decision_due(state.policy, at)
                )
            )
        ]
    if isinstance(e, CaseAssigned) and "first_contact" not in state.clocks:
        return [
            Emit(
                DeadlineStarted(
                    deadline="first_contact",
                    policy=state.policy,
                    started_at=now,
                    due_at=e.first_contact_due_at,
                )
            )
        ]
    if isinstance(e, ContactAttempted) and e.outcome == "reached":
        return _met(state, "first_contact", now)
    if isinstance(e, PlanOffered | RouteChosen):
        return _met(state, "decision", now)
    if isinstance(e, CaseClosed):
        return [x for name in sorted(state.clocks) for x in _met(state, name, now)]
    if isinstance(message, Tick):
        return _crossings(state, message.now)
    command = command_of(message)
    if command is None:
        return []
    if not state.registered:
        return refuse(message, f"unknown case {case_of(message)}")
    if state.closed:
        return refuse(message, f"case {case_of(message)} is closed")
    clock = state.clocks.get("decision")
    if clock is None or clock.met:
        return refuse(message, "the decision deadline is not running")
    actor = message.actor  # type: ignore[union-attr]
    if isinstance(command, ExtendDeadline):
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
    if isinstance(command, PauseClock):
        if command.reason == "awaiting_customer" and rules.awaiting_customer_counts:
            return refuse(
                message,
                "waiting on the customer counts towards the deadline here (ACCORD_AWAITING_CUSTOMER_COUNTS)",
            )
        if clock.paused_at is not None:
            return refuse(message, "the clock is already paused")
        return [Emit(DeadlinePaused(deadline="decision", reason=command.reason, note=command.note))]
    if isinstance(command, ResumeClock):
        if clock.paused_at is None:
            return refuse(message, "the clock is not paused")
        paused = int((now - clock.paused_at).total_seconds())
        return [
            Emit(
                DeadlineResumed(
                    deadline="decision",
                    paused_seconds=paused,
                    due_at=clock.due_at + timedelta(seconds=paused),
                )
            )
        ]
    return []


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
