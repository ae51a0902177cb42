"""The contract between a step's pure core and the shared runtime: a `StepSpec` per step, and
`process`, the one way an input becomes decisions (used by the runtime and by the given/when
tests alike). A core declares what it consumes; the topics it reads are derived from who
emits what (events/registry.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from events import registry
from events.base import Actor, Message
from events.commands import COMMANDS, CommandEnvelope
from events.envelope import Envelope
from events.personal import PersonalData, SealedPersonalData
from events.submission import ComplaintSubmission
from events.topics import COMMANDS as COMMAND_TOPIC
from events.topics import SUBMITTED, event_topic
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


S = TypeVar("S")


def case_of(message: Input) -> str | None:
    if isinstance(message, Envelope | CommandEnvelope):
        return message.case_id
    return None


@dataclass(frozen=True)
class StepSpec(Generic[S]):
    """Everything the runtime needs to run a step, and everything derived from it.

    `consumes` lists the submission, command and event types the step takes in; its input
    topics follow from it (events/registry.py knows who emits what). A step with timers gives
    `next_due`; a step whose every decision also reads one shared stream (planning: the
    reference data) names it in `shared` and gives `with_shared(state, shared_state) -> state`.
    `port` is the offset of its metrics port. The customer a case's events are for is not the
    core's business: the runtime takes it from the inputs (services/runtime/processor.py)."""

    name: str
    port: int
    consumes: tuple[type[Message], ...]
    initial: Callable[[], S]
    evolve: Callable[[S, Input], S]
    decide: Callable[[S, Input, datetime, Rules], list[Emit]]
    route: Callable[[Input], str | None] = case_of
    next_due: Callable[[S], datetime | None] | None = None
    shared: str | None = None
    with_shared: Callable[[S, S], S] | None = None
    _types: frozenset[type[Message]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_types", frozenset(self.consumes))
        if (self.shared is None) != (self.with_shared is None):
            raise ValueError(f"step {self.name}: `shared` and `with_shared` go together")

    def interested(self, message: Input) -> bool:
        """Whether the step takes this input in: its payload is of a type it consumes."""
        if isinstance(message, Tick):
            return self.next_due is not None
        return type(payload_of(message)) in self._types

    @property
    def inputs(self) -> tuple[str, ...]:
        """The topics it reads: submissions, commands, and the topic of every emitter of an
        event type it consumes (never its own)."""
        topics: list[str] = []
        for cls in self.consumes:
            if cls is ComplaintSubmission:
                names = [SUBMITTED.name]
            elif cls in COMMANDS:
                names = [COMMAND_TOPIC.name]
            else:
                emitters = registry.emitters_of(cls.__name__)
                if not emitters:
                    raise ValueError(f"step {self.name} consumes {cls.__name__}, which no emitter emits")
                names = [event_topic(e).name for e in emitters if e != self.name]
            topics.extend(name for name in names if name not in topics)
        return tuple(topics)


def process(
    spec: StepSpec[S], state: S, message: Input, now: datetime, rules: Rules, shared: S | None = None
) -> tuple[S, list[Emit]]:
    """One input through a step's core: fold it into the state (a tick changes nothing), let
    the core decide with the shared stream's state if it reads one, and return the new state
    with what it decided. The runtime and the given/when tests both go through here."""
    folded = state if isinstance(message, Tick) else spec.evolve(state, message)
    seen = folded
    if spec.with_shared is not None and shared is not None:
        seen = spec.with_shared(folded, shared)
    return folded, spec.decide(seen, message, now, rules)


def payload_of(message: Input) -> Message | None:
    """What an input carries: the event, the command, or the submission itself."""
    if isinstance(message, Envelope):
        return message.event
    if isinstance(message, CommandEnvelope):
        return message.command
    if isinstance(message, ComplaintSubmission):
        return message
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
