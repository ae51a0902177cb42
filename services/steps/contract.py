"""The contract between a step's pure core and the shared runtime. A step module provides
STEP, INPUTS, interested, route, initial, evolve, decide and (if it keeps timers) next_due; a
step whose every decision also reads one shared stream (planning: the reference data) names
it in SHARED and provides `with_shared(state, shared_state) -> state`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from events.base import Actor, Message
from events.commands import CommandEnvelope
from events.envelope import Envelope
from events.personal import PersonalData, SealedPersonalData
from events.submission import ComplaintSubmission
from services.rules.model import Rules


@dataclass(frozen=True)
class Tick:
    """The clock moved: the runtime asks a stream whose timer is due what should happen now."""

    now: datetime


Input = ComplaintSubmission | CommandEnvelope | Envelope | Tick


@dataclass(frozen=True)
class Emit:
    """An event a decision wants emitted; the runtime wraps it in the envelope."""

    event: Message
    case_id: str | None = None  # default: the input's case
    personal: PersonalData | SealedPersonalData | None = None  # the runtime seals plain data
    actor: Actor | None = None  # default: the command's actor, else the step itself


class Step(Protocol):
    STEP: str
    INPUTS: tuple[str, ...]

    def interested(self, message: Input) -> bool: ...
    def route(self, message: Input) -> str | None: ...
    def initial(self) -> Any: ...
    def evolve(self, state: Any, message: Input) -> Any: ...
    def decide(self, state: Any, message: Input, now: datetime, rules: Rules) -> list[Emit]: ...


def case_of(message: Input) -> str | None:
    if isinstance(message, Envelope | CommandEnvelope):
        return message.case_id
    return None


def event_of(message: Input) -> Message | None:
    return message.event if isinstance(message, Envelope) else None


def command_of(message: Input) -> Message | None:
    return message.command if isinstance(message, CommandEnvelope) else None


def refuse(message: Input, reason: str) -> list[Emit]:
    """A command that does not fit the case: say why, change nothing else."""
    from events.common import CommandRejected

    assert isinstance(message, CommandEnvelope)
    return [
        Emit(
            CommandRejected(
                command_id=message.command_id,
                command_type=message.command.type,
                reason=reason[:200],
            )
        )
    ]
