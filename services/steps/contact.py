"""Contact (initial communication): consumes `negotiation.intake`, `negotiation.commands` and
closures; emits CaseAssigned, ConflictOfInterestDeclared, ContactPreferenceSet,
ContactAttempted and FactsLearned. Whoever takes a case first stays responsible; staff with a
conflict of interest are never assigned."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from events.commands import (
    CommandEnvelope,
    DeclareConflict,
    ReassignCase,
    RecordContactAttempt,
    RecordFacts,
    SetContactPreference,
    TakeCase,
)
from events.contact import (
    CaseAssigned,
    ConflictOfInterestDeclared,
    ContactAttempted,
    ContactPreferenceSet,
    FactsLearned,
)
from events.envelope import Envelope
from events.evaluation import CaseClosed, CaseReopened
from events.intake import ComplaintRegistered
from events.submission import ContactPreference
from services.rules.model import Rules
from services.steps.contract import Decide, Emit, Evolve, StepSpec, refuse

STEP = "contact"
COMMAND_TYPES = (
    TakeCase,
    ReassignCase,
    DeclareConflict,
    SetContactPreference,
    RecordContactAttempt,
    RecordFacts,
)
CONSUMES = (ComplaintRegistered, CaseClosed, CaseReopened, *COMMAND_TYPES)


@dataclass(frozen=True)
class State:
    registered: bool = False
    taken_by: str | None = None
    handler: str | None = None
    team: str | None = None
    conflicts: frozenset[str] = field(default_factory=frozenset)
    preference: ContactPreference | None = None
    attempts: int = 0
    reached: bool = False
    closed: bool = False


evolve = Evolve[State]()
decide = Decide[State](known=lambda state: state.registered, closed=lambda state: state.closed)


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    return replace(state, registered=True, taken_by=e.taken_by)


@evolve.on(CaseAssigned)
def _assigned(state: State, e: CaseAssigned, message: Envelope) -> State:
    return replace(state, handler=e.handler_id, team=e.team)


@evolve.on(ConflictOfInterestDeclared)
def _conflicted(state: State, e: ConflictOfInterestDeclared, message: Envelope) -> State:
    return replace(state, conflicts=state.conflicts | {e.staff_id})


@evolve.on(ContactPreferenceSet)
def _preference_set(state: State, e: ContactPreferenceSet, message: Envelope) -> State:
    return replace(state, preference=e.preference)


@evolve.on(ContactAttempted)
def _attempted(state: State, e: ContactAttempted, message: Envelope) -> State:
    return replace(state, attempts=e.attempt, reached=state.reached or e.outcome == "reached")


@evolve.on(CaseClosed)
def _closed(state: State, e: CaseClosed, message: Envelope) -> State:
    return replace(state, closed=True)


@evolve.on(CaseReopened)
def _reopened(state: State, e: CaseReopened, message: Envelope) -> State:
    return replace(state, closed=False)


def pick_handler(
    case_id: str, rota: Sequence[tuple[str, str]], exclude: frozenset[str]
) -> tuple[str, str] | None:
    """A deterministic rota: the case id chooses the starting point; conflicts are skipped."""
    if not rota:
        return None
    start = int(hashlib.sha256(case_id.encode()).hexdigest(), 16) % len(rota)
    for i in range(len(rota)):
        handler, team = rota[(start + i) % len(rota)]
        if handler not in exclude:
            return handler, team
    return None


def _due(now: datetime, rules: Rules) -> datetime:
    return now + timedelta(hours=rules.first_contact_hours)


@decide.on(ComplaintRegistered)
def _assign(
    state: State, e: ComplaintRegistered, message: Envelope, now: datetime, rules: Rules
) -> list[Emit]:
    out: list[Emit] = []
    due = _due(now, rules)
    if e.taken_by:
        out.append(
            Emit(
                CaseAssigned(
                    handler_id=e.taken_by,
                    team=e.branch_id or "front-line",
                    first_contact_due_at=due,
                    reason="first_taker",
                )
            )
        )
    else:
        picked = pick_handler(message.case_id, rules.handler_rota, state.conflicts)
        if picked:
            out.append(
                Emit(
                    CaseAssigned(
                        handler_id=picked[0], team=picked[1], first_contact_due_at=due, reason="rota"
                    )
                )
            )
    if e.preferred_contact:
        out.append(Emit(ContactPreferenceSet(preference=e.preferred_contact, set_by="channel")))
    return out


@decide.on(TakeCase)
def _take(
    state: State, command: TakeCase, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    actor = message.actor
    if actor.kind != "staff":
        return refuse(message, "only staff can take a case")
    if actor.id in state.conflicts:
        return refuse(message, f"{actor.id} declared a conflict of interest in this case")
    if state.handler and state.handler != actor.id:
        return refuse(
            message,
            f"already taken by {state.handler}: whoever takes a case "
            "first stays responsible (a supervisor may reassign it)",
        )
    if state.handler == actor.id:
        return refuse(message, f"{actor.id} already handles this case")
    assigned = CaseAssigned(
        handler_id=actor.id, team=command.team, first_contact_due_at=_due(now, rules), reason="first_taker"
    )
    return [Emit(assigned)]


@decide.on(ReassignCase)
def _reassign(
    state: State, command: ReassignCase, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if message.actor.kind != "staff":
        return refuse(message, "only a supervisor can reassign a case")
    if command.handler_id in state.conflicts:
        return refuse(message, f"{command.handler_id} declared a conflict of interest in this case")
    assigned = CaseAssigned(
        handler_id=command.handler_id,
        team=command.team,
        first_contact_due_at=_due(now, rules),
        reason="reassigned",
    )
    return [Emit(assigned)]


@decide.on(DeclareConflict)
def _declare_conflict(
    state: State, command: DeclareConflict, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    out = [Emit(ConflictOfInterestDeclared(staff_id=command.staff_id, reason=command.reason))]
    if state.handler == command.staff_id:
        picked = pick_handler(message.case_id, rules.handler_rota, state.conflicts | {command.staff_id})
        if picked is None:
            return refuse(message, "no handler without a conflict of interest is available")
        out.append(
            Emit(
                CaseAssigned(
                    handler_id=picked[0],
                    team=picked[1],
                    first_contact_due_at=_due(now, rules),
                    reason="conflict_of_interest",
                )
            )
        )
    return out


@decide.on(SetContactPreference)
def _set_preference(
    state: State, command: SetContactPreference, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if message.actor.kind not in ("customer", "staff"):
        return refuse(message, "only the customer or staff can set the contact preference")
    return [Emit(ContactPreferenceSet(preference=command.preference, set_by=message.actor.kind))]


@decide.on(RecordContactAttempt)
def _record_attempt(
    state: State, command: RecordContactAttempt, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    within = state.preference is None or state.preference.method == command.method
    attempted = ContactAttempted(
        attempt=state.attempts + 1,
        method=command.method,
        outcome=command.outcome,
        callback_at=command.callback_at,
        within_preference=within,
    )
    return [Emit(attempted)]


@decide.on(RecordFacts)
def _record_facts(
    state: State, command: RecordFacts, message: CommandEnvelope, now: datetime, rules: Rules
) -> list[Emit]:
    if not state.reached:
        return refuse(
            message,
            "no contact has reached the customer yet: record a reached "
            "contact attempt before what was learned",
        )
    learned = FactsLearned(
        summary=command.summary,
        hardship_cause=command.hardship_cause,
        monthly_capacity=command.monthly_capacity,
        willing_to_repay=command.willing_to_repay,
        new_facts=command.new_facts,
        ledger=command.ledger,
    )
    return [Emit(learned)]


SPEC = StepSpec(name=STEP, port=1, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide)
