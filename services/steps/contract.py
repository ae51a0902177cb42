"""The contract between a step's pure core and the shared runtime: a `StepSpec` per step,
`process`, the one way an input becomes decisions (used by the runtime and by the given/when
tests alike), and `Evolve` / `Decide`, the handler tables a core is written as. A core declares
what it consumes; the topics it reads are derived from who emits what (events/registry.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from events import registry
from events.base import Actor, Message
from events.commands import COMMANDS, CommandEnvelope
from events.envelope import Envelope
from events.personal import PersonalData, SealedPersonalData
from events.submission import ComplaintSubmission
from events.topics import COMMANDS as COMMAND_TOPIC
from events.topics import SUBMITTED, Topic, event_topic, repartition_topic
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
    core's business: the runtime takes it from the inputs (services/runtime/processor.py).

    Each partition number of a step's inputs has its own store and may be owned by a
    different instance of the step: every input of a stream must arrive on one partition
    number. Inputs keyed by case id do; a step whose streams are keyed otherwise (intake: one
    stream per customer) gives `rekey`, the stream's partition key of an input: the runtime
    then runs it in two stages, as Kafka Streams re-partitions. The first forwards each input
    once, under that key, onto an internal topic (events/topics.py `REPARTITION`); the second
    reads those topics, where all of a stream's inputs meet on one partition."""

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
    rekey: Callable[[Input], str | None] | None = None
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
        """The topics it reads: its sources and, if it re-keys them, their internal topics."""
        return (*self.sources, *(topic.name for topic in self.forwards.values()))

    @property
    def forwards(self) -> dict[str, Topic]:
        """For a step that re-keys its inputs: source topic -> the internal topic it goes on."""
        if self.rekey is None:
            return {}
        return {source: repartition_topic(self.name, source) for source in self.sources}

    @property
    def sources(self) -> tuple[str, ...]:
        """The topics its inputs come from: submissions, commands, and the topic of every
        emitter of an event type it consumes (never its own)."""
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


H = TypeVar("H")


class _Table(Generic[H]):
    """Payload type (an event, command or submission class, or `Tick`) -> its handler, as
    cosmic python's EVENT_HANDLERS / COMMAND_HANDLERS and eventsourcing's singledispatch
    mutators. A handler gets the payload itself (typed by its annotation) and the input it
    came in (its `Envelope` or `CommandEnvelope`, for the time, case and actor)."""

    def __init__(self) -> None:
        self._handlers: dict[type, H] = {}

    def on(self, *types: type) -> Callable[[H], H]:
        def register(handler: H) -> H:
            for cls in types:
                if cls in self._handlers:
                    raise ValueError(f"{cls.__name__} has a handler already")
                self._handlers[cls] = handler
            return handler

        return register

    def _find(self, message: Input) -> tuple[H, object] | None:
        payload = message if isinstance(message, Tick) else payload_of(message)
        handler = self._handlers.get(type(payload))
        return None if handler is None else (handler, payload)


class Evolve(_Table[Callable[[S, Any, Any], S]]):
    """A step's `evolve(state, message) -> state`: `@evolve.on(Event)` mutators
    `(state, event, envelope) -> state`; an input with none leaves the state as it was."""

    def __call__(self, state: S, message: Input) -> S:
        found = self._find(message)
        if found is None:
            return state
        handler, payload = found
        return handler(state, payload, message)


class Decide(_Table[Callable[[S, Any, Any, datetime, Rules], list[Emit]]]):
    """A step's `decide(state, message, now, rules) -> [Emit]`: `@decide.on(Type)` handlers
    `(state, payload, message, now, rules) -> [Emit]`; an input with none decides nothing.

    Every command is first checked against the case, the same way in every step: `known(state)`
    false refuses it as an unknown case, `closed(state)` true as a closed one; the command types
    in `unguarded` (planning's reference data, which is no case's) skip the check."""

    def __init__(
        self,
        known: Callable[[S], bool] | None = None,
        closed: Callable[[S], bool] | None = None,
        unguarded: tuple[type[Message], ...] = (),
    ) -> None:
        super().__init__()
        self.known, self.closed, self.unguarded = known, closed, unguarded

    def __call__(self, state: S, message: Input, now: datetime, rules: Rules) -> list[Emit]:
        if isinstance(message, CommandEnvelope) and not isinstance(message.command, self.unguarded):
            if self.known is not None and not self.known(state):
                return refuse(message, f"unknown case {message.case_id}")
            if self.closed is not None and self.closed(state):
                return refuse(message, f"case {message.case_id} is closed")
        found = self._find(message)
        if found is None:
            return []
        handler, payload = found
        return handler(state, payload, message, now, rules)


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
