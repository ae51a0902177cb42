"""Execution: consumes `negotiation.planning`, closures and commands (payments, redress
confirmations); emits ExecutionStarted, PaymentMatched, InstalmentMissed, MilestoneReached,
ProgressNotified, RedressPaid, RedressConfirmed, PlanCompleted or PlanDefaulted (which sends
the case back to planning). Keeps a timer for the next instalment's due date."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from events.base import Money
from events.commands import CommandEnvelope, ConfirmRedress, RecordPayment
from events.envelope import Envelope
from events.evaluation import CaseClosed
from events.execution import (
    ExecutionStarted,
    InstalmentMissed,
    MilestoneReached,
    PaymentMatched,
    PlanCompleted,
    PlanDefaulted,
    ProgressNotified,
    RedressConfirmed,
    RedressPaid,
)
from events.planning import PlanAccepted, PlanProposed, PlanRevised
from events.plans import Redress, RepaymentRestructuring
from services.rules.model import Rules
from services.steps.contract import Decide, Emit, Evolve, StepSpec, Tick, refuse

STEP = "execution"
CONSUMES = (PlanProposed, PlanRevised, PlanAccepted, CaseClosed, RecordPayment, ConfirmRedress)
MILESTONES = (25, 50, 75)


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: date
    amount: Decimal
    paid: Decimal = Decimal(0)
    missed: bool = False

    @property
    def settled(self) -> bool:
        return self.paid >= self.amount


@dataclass(frozen=True)
class State:
    known: bool = False
    offers: dict[str, object] = field(default_factory=dict)  # plan id -> terms
    plan_id: str = ""  # the plan being carried out; empty before one is accepted
    kind: str | None = None
    currency: str = "CNY"
    schedule: tuple[Instalment, ...] = ()
    status: str = "idle"  # running | awaiting_confirmation | completed | defaulted
    milestones: frozenset[int] = field(default_factory=frozenset)
    reference: str | None = None
    closed: bool = False


def _percent(schedule: tuple[Instalment, ...]) -> int:
    total = sum(i.amount for i in schedule)
    paid = sum(min(i.paid, i.amount) for i in schedule)
    return int(paid * 100 / total) if total else 100


evolve = Evolve[State]()
decide = Decide[State](known=lambda state: state.known, closed=lambda state: state.closed)


@evolve.on(PlanProposed, PlanRevised)
def _proposed(state: State, e: PlanProposed | PlanRevised, message: Envelope) -> State:
    return replace(state, known=True, offers={**state.offers, e.plan_id: e.terms})


@evolve.on(ExecutionStarted)
def _started(state: State, e: ExecutionStarted, message: Envelope) -> State:
    terms = state.offers.get(e.plan_id)
    schedule: tuple[Instalment, ...] = ()
    currency = state.currency
    if isinstance(terms, RepaymentRestructuring):
        schedule = tuple(Instalment(i.number, i.due_on, i.amount.amount) for i in terms.instalments)
        currency = terms.balance.currency
    return replace(
        state,
        plan_id=e.plan_id,
        kind=e.plan_kind,
        schedule=schedule,
        currency=currency,
        status="running",
        milestones=frozenset(),
    )


@evolve.on(PaymentMatched)
def _matched(state: State, e: PaymentMatched, message: Envelope) -> State:
    schedule = tuple(
        replace(i, paid=i.paid + e.amount.amount) if i.number == e.instalment else i for i in state.schedule
    )
    return replace(state, schedule=schedule)


@evolve.on(InstalmentMissed)
def _missed_one(state: State, e: InstalmentMissed, message: Envelope) -> State:
    schedule = tuple(replace(i, missed=True) if i.number == e.instalment else i for i in state.schedule)
    return replace(state, schedule=schedule)


@evolve.on(MilestoneReached)
def _milestone(state: State, e: MilestoneReached, message: Envelope) -> State:
    return replace(state, milestones=state.milestones | {e.percent_done})


@evolve.on(RedressPaid)
def _redress_paid(state: State, e: RedressPaid, message: Envelope) -> State:
    return replace(state, status="awaiting_confirmation", reference=e.reference)


@evolve.on(PlanCompleted)
def _completed(state: State, e: PlanCompleted, message: Envelope) -> State:
    return replace(state, status="completed")


@evolve.on(PlanDefaulted)
def _defaulted(state: State, e: PlanDefaulted, message: Envelope) -> State:
    return replace(state, status="defaulted")


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    return replace(state, closed=True)


def next_due(state: State) -> datetime | None:
    """The morning after the earliest unpaid instalment that is not yet marked missed."""
    if state.status != "running" or state.closed:
        return None
    open_ = [i for i in state.schedule if not i.settled and not i.missed]
    if not open_:
        return None
    return datetime.combine(min(i.due_on for i in open_) + timedelta(days=1), time(0), tzinfo=UTC)


@decide.on(PlanAccepted)
def _start(state: State, e: PlanAccepted, message: Envelope, now: datetime, rules: Rules) -> list[Emit]:
    terms = state.offers.get(e.plan_id)
    if terms is None or state.status == "running":
        return []
    kind = terms.kind  # type: ignore[attr-defined]
    count = len(terms.instalments) if isinstance(terms, RepaymentRestructuring) else 0
    out = [Emit(ExecutionStarted(plan_id=e.plan_id, plan_kind=kind, instalments=count))]
    if isinstance(terms, Redress):
        out.append(Emit(RedressPaid(plan_id=e.plan_id, amount=terms.amount, reference=f"RD-{e.plan_id}")))
    elif not isinstance(terms, RepaymentRestructuring):
        out.append(Emit(PlanCompleted(plan_id=e.plan_id)))  # explanation / apology delivered
    return out


@decide.on(Tick)
def _tick(state: State, tick: Tick, message: Tick, now: datetime, rules: Rules) -> list[Emit]:
    return _missed(state, tick.now, rules)


@decide.on(ConfirmRedress)
def _confirm_redress(
    state: State, command: ConfirmRedress, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.status != "awaiting_confirmation" or command.reference != state.reference:
        return refuse(message, f"no redress {command.reference} awaits confirmation")
    return [
        Emit(RedressConfirmed(plan_id=state.plan_id, reference=command.reference)),
        Emit(PlanCompleted(plan_id=state.plan_id)),
    ]


@decide.on(RecordPayment)
def _record_payment(
    state: State, command: RecordPayment, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if state.status != "running" or not state.schedule:
        return refuse(message, "no repayment plan is running for this case")
    return _apply_payment(state, command)


def _apply_payment(state: State, payment: RecordPayment) -> list[Emit]:
    out: list[Emit] = []
    left = payment.amount.amount
    schedule = list(state.schedule)
    for index, inst in enumerate(schedule):
        if left <= 0:
            break
        if inst.settled:
            continue
        take = min(left, inst.amount - inst.paid)
        left -= take
        schedule[index] = replace(inst, paid=inst.paid + take)
        out.append(
            Emit(
                PaymentMatched(
                    plan_id=state.plan_id,
                    payment_id=payment.payment_id,
                    instalment=inst.number,
                    amount=Money(amount=take, currency=state.currency),
                    paid_at=payment.paid_at,
                    instalment_settled=schedule[index].settled,
                )
            )
        )
    percent = _percent(tuple(schedule))
    for mark in MILESTONES:
        if percent >= mark and mark not in state.milestones:
            out.append(Emit(MilestoneReached(plan_id=state.plan_id, percent_done=mark)))
            out.append(
                Emit(
                    ProgressNotified(
                        plan_id=state.plan_id,
                        percent_done=mark,
                        method="app",
                        message=f"Your repayment plan is {mark}% done.",
                    )
                )
            )
    if all(i.settled for i in schedule):
        out.append(
            Emit(
                ProgressNotified(
                    plan_id=state.plan_id,
                    percent_done=100,
                    method="app",
                    message="Your repayment plan is complete.",
                )
            )
        )
        out.append(Emit(PlanCompleted(plan_id=state.plan_id)))
    return out


def _missed(state: State, now: datetime, rules: Rules) -> list[Emit]:
    if state.status != "running" or state.closed:
        return []
    out: list[Emit] = []
    missed = sum(1 for i in state.schedule if i.missed and not i.settled)
    for inst in state.schedule:
        if not inst.settled and not inst.missed and inst.due_on < now.date():
            missed += 1
            out.append(
                Emit(
                    InstalmentMissed(
                        plan_id=state.plan_id,
                        instalment=inst.number,
                        due_on=inst.due_on,
                        missed_count=missed,
                    )
                )
            )
    if out and missed >= rules.default_tolerance_missed:
        arrears = sum(
            ((i.amount - i.paid) for i in state.schedule if not i.settled and i.due_on < now.date()),
            Decimal(0),
        )
        out.append(
            Emit(
                PlanDefaulted(
                    plan_id=state.plan_id,
                    missed_instalments=missed,
                    arrears=Money(amount=arrears, currency=state.currency),
                )
            )
        )
    return out


SPEC = StepSpec(
    name=STEP, port=3, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide, next_due=next_due
)
