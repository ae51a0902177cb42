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
from events.evaluation import CaseClosed, CaseReopened
from events.intake import ComplaintRegistered
from events.submission import ContactPreference
from services.rules.model import Rules
from services.steps.contract import Emit, Input, StepSpec, case_of, command_of, event_of, refuse

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


def evolve(state: State, message: Input) -> State:
    event = event_of(message)
    if isinstance(event, ComplaintRegistered):
        return replace(state, registered=True, taken_by=event.taken_by)
    if isinstance(event, CaseAssigned):
        return replace(state, handler=event.handler_id, team=event.team)
    if isinstance(event, ConflictOfInterestDeclared):
        return replace(state, conflicts=state.conflicts | {event.staff_id})
    if isinstance(event, ContactPreferenceSet):
        return replace(state, preference=event.preference)
    if isinstance(event, ContactAttempted):
        return replace(state, attempts=event.attempt, reached=state.reached or event.outcome == "reached")
    if isinstance(event, CaseClosed):
        return replace(state, closed=True)
    if isinstance(event, CaseReopened):
        return replace(state, closed=False)
    return state


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


def decide(state: State, message: Input, now: datetime, rules: Rules) -> list[Emit]:
    event = event_of(message)
    case_id = case_of(message) or ""
    due = now + timedelta(hours=rules.first_contact_hours)
    if isinstance(event, ComplaintRegistered):
        out: list[Emit] = []
        if event.taken_by:
            out.append(
                Emit(
                    CaseAssigned(
                        handler_id=event.taken_by,
                        team=event.branch_id or "front-line",
                        first_contact_due_at=due,
                        reason="first_taker",
                    )
                )
            )
        else:
            picked = pick_handler(case_id, rules.handler_rota, state.conflicts)
            if picked:
                out.append(
                    Emit(
                        CaseAssigned(
                            handler_id=picked[0], team=picked[1], first_contact_due_at=due, reason="rota"
                        )
                    )
                )
        if event.preferred_contact:
            out.append(Emit(ContactPreferenceSet(preference=event.preferred_contact, set_by="channel")))
        return out
    command = command_of(message)
    if command is None:
        return []
    actor = message.actor  # type: ignore[union-attr]
    if not state.registered:
        return refuse(message, f"unknown case {case_id}")
    if state.closed:
        return refuse(message, f"case {case_id} is closed")
    if isinstance(command, TakeCase):
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
        return [
            Emit(
                CaseAssigned(
                    handler_id=actor.id, team=command.team, first_contact_due_at=due, reason="first_taker"
                )
            )
        ]
    if isinstance(command, ReassignCase):
        if actor.kind != "staff":
            return refuse(message, "only a supervisor can reassign a case")
        if command.handler_id in state.conflicts:
            return refuse(message, f"{command.handler_id} declared a conflict of interest in this case")
        return [
            Emit(
                CaseAssigned(
                    handler_id=command.handler_id,
                    team=command.team,
                    first_contact_due_at=due,
                    reason="reassigned",
                )
            )
        ]
    if isinstance(command, DeclareConflict):
        out = [Emit(ConflictOfInterestDeclared(staff_id=command.staff_id, reason=command.reason))]
        if state.handler == command.staff_id:
            picked = pick_handler(case_id, rules.handler_rota, state.conflicts | {command.staff_id})
            if picked is None:
                return refuse(message, "no handler without a conflict of interest is available")
            out.append(
                Emit(
                    CaseAssigned(
                        handler_id=picked[0],
                        team=picked[1],
                        first_contact_due_at=due,
                        reason="conflict_of_interest",
                    )
                )
            )
        return out
    if isinstance(command, SetContactPreference):
        if actor.kind not in ("customer", "staff"):
            return refuse(message, "only the customer or staff can set the contact preference")
        return [Emit(ContactPreferenceSet(preference=command.preference, set_by=actor.kind))]
    if isinstance(command, RecordContactAttempt):
        within = state.preference is None or state.preference.method == command.method
        return [
            Emit(
                ContactAttempted(
                    attempt=state.attempts + 1,
                    method=command.method,
                    outcome=command.outcome,
                    callback_at=command.callback_at,
                    within_preference=within,
                )
            )
        ]
    if isinstance(command, RecordFacts):
        if not state.reached:
            return refuse(
                message,
                "no contact has reached the customer yet: record a reached "
                "contact attempt before what was learned",
            )
        return [
            Emit(
                FactsLearned(
                    summary=command.summary,
                    hardship_cause=command.hardship_cause,
                    monthly_capacity=command.monthly_capacity,
                    willing_to_repay=command.willing_to_repay,
                    new_facts=command.new_facts,
                    ledger=command.ledger,
                )
            )
        ]
    return []


SPEC = StepSpec(name=STEP, port=1, consumes=CONSUMES, initial=State, evolve=evolve, decide=decide)
