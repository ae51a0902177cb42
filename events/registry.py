"""Who emits events, declared once: the negotiation steps in their canonical order, then the
insights service, each with the event types it may emit. The envelope's `step` and `event`
fields, the event topics, the canonical order of a case's events and the catalogue are all
derived from this list; a new step registers here (`register`) and needs no other edit in
`events/`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from events.base import Message


@dataclass(frozen=True)
class Emitter:
    name: str
    events: tuple[type[Message], ...]
    workflow: bool = True  # a negotiation step (False: the insights service's findings)


_EMITTERS: dict[str, Emitter] = {}
_COMMON: list[type[Message]] = []  # types every workflow step may emit (CommandRejected)
_LISTENERS: list[Callable[[], None]] = []
_ORDER: dict[str, int] = {}  # name -> place, kept with the registry (sort keys ask per event)


def register(name: str, events: Iterable[type[Message]], *, workflow: bool = True) -> Emitter:
    """Declare an emitter and its event types. Registering the same declaration again is a
    no-op; a different one under a taken name, or an event type name already taken by another
    emitter, is refused."""
    emitter = Emitter(name, tuple(events), workflow)
    known = _EMITTERS.get(name)
    if known is not None:
        if known == emitter:
            return known
        raise ValueError(f"emitter '{name}' is already registered with other event types")
    taken = {cls.__name__: owner.name for owner in _EMITTERS.values() for cls in owner.events}
    taken.update({cls.__name__: "every step" for cls in _COMMON})
    for cls in emitter.events:
        if cls.__name__ in taken:
            raise ValueError(f"event type {cls.__name__} is already emitted by {taken[cls.__name__]}")
    _EMITTERS[name] = emitter
    _changed()
    return emitter


def unregister(name: str) -> None:
    """Remove an emitter added at run time (tests that add a step of their own)."""
    if _EMITTERS.pop(name, None) is not None:
        _changed()


def register_common(events: Iterable[type[Message]]) -> None:
    """Event types any workflow step may emit."""
    for cls in events:
        if cls not in _COMMON:
            _COMMON.append(cls)
    _changed()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` now and whenever an emitter is registered (models and topic tables
    that are derived from the registry rebuild themselves this way)."""
    _LISTENERS.append(listener)
    listener()


def _changed() -> None:
    _ORDER.clear()
    _ORDER.update({name: index for index, name in enumerate(_EMITTERS)})
    for listener in _LISTENERS:
        listener()


def emitters() -> tuple[Emitter, ...]:
    """Every emitter in canonical order: the order registered (the six steps, then insights,
    then any step added later), so an emitter's place never changes when another is added."""
    return tuple(_EMITTERS.values())


def steps() -> tuple[str, ...]:
    """The negotiation steps, in canonical order."""
    return tuple(e.name for e in emitters() if e.workflow)


def names() -> tuple[str, ...]:
    """Every emitter's name: the steps, then the insights service."""
    return tuple(e.name for e in emitters())


def order(name: str) -> int:
    """An emitter's place in the canonical order (ties between events at the same moment are
    broken by it). An unknown name is an error, never a silent default."""
    if name in _ORDER:
        return _ORDER[name]
    raise KeyError(f"unknown emitter '{name}'; the emitters are: {', '.join(names())}")


def event_types() -> dict[str, type[Message]]:
    """Every event type by name."""
    types = {cls.__name__: cls for emitter in emitters() for cls in emitter.events}
    types.update({cls.__name__: cls for cls in _COMMON})
    return types


def emitters_of(type_name: str) -> tuple[str, ...]:
    """Which emitters may emit this type (a common type: every step)."""
    if any(cls.__name__ == type_name for cls in _COMMON):
        return steps()
    return tuple(e.name for e in emitters() if any(cls.__name__ == type_name for cls in e.events))


def _known_step(value: str) -> str:
    if value not in _EMITTERS:
        raise ValueError(f"unknown step; the emitters are: {', '.join(names())}")
    return value


# An emitter's name, checked against the registry when a message is validated; its JSON schema
# lists the names registered when the schema is made.
StepName = Annotated[str, AfterValidator(_known_step), Field(json_schema_extra=lambda s: _enum(s, names()))]


def _workflow_step(value: str) -> str:
    if value not in steps():
        raise ValueError(f"unknown step; the steps are: {', '.join(steps())}")
    return value


WorkflowStep = Annotated[
    str, AfterValidator(_workflow_step), Field(json_schema_extra=lambda s: _enum(s, steps()))
]


def _enum(schema: dict[str, Any], values: tuple[str, ...]) -> None:
    schema["enum"] = list(values)
