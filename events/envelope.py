"""The one envelope every event travels in: identity, case, time, emitting step, causality,
the step's own sequence number, hash links for tamper evidence, and personal data apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union
from uuid import UUID

from pydantic import Field
from pydantic.fields import FieldInfo

from events import emitters as _builtin  # noqa: F401 - fills the registry with the built-in emitters
from events import registry
from events.base import Actor, CaseId, Identifier, Message, Sha256, UtcDatetime
from events.personal import AnyPersonal
from events.registry import StepName

# Derived from the registry (events/registry.py) and kept current by it: every event type by
# name, and which emitters may emit each (CommandRejected: every step).
EVENT_TYPES: dict[str, type[Message]] = {}
EMITTERS: dict[str, tuple[str, ...]] = {}

if TYPE_CHECKING:

    class AnyEvent(Message):
        """What the type checker knows of any event: the union is built at run time."""

        type: str
        schema_version: int

else:
    AnyEvent = Message  # until the registry fills it in (_rebuild, below)


class Envelope(Message):
    """An event with its metadata. `sequence` counts the events this step emitted for this
    case (1, 2, ...); `prev_hash` is the hash of the step's previous event for the case and
    `cause_hash` that of the event which caused it (None for the first / for commands)."""

    event_id: UUID
    case_id: CaseId
    occurred_at: UtcDatetime
    step: StepName
    sequence: Annotated[int, Field(ge=1)]
    correlation_id: UUID
    causation_id: UUID | None = None
    actor: Actor
    customer_id: Identifier | None = None  # pseudonymous; also names the customer's data key
    prev_hash: Sha256 | None = None
    cause_hash: Sha256 | None = None
    personal: AnyPersonal | None = None
    event: AnyEvent

    @property
    def type(self) -> str:
        return self.event.type


def _event_union() -> object:
    types = tuple(registry.event_types().values())
    return Annotated[Union[types], Field(discriminator="type")]  # noqa: UP007


def _rebuild() -> None:
    """Follow the registry: the event union accepts every registered type."""
    EVENT_TYPES.clear()
    EVENT_TYPES.update(registry.event_types())
    EMITTERS.clear()
    EMITTERS.update({name: registry.emitters_of(name) for name in EVENT_TYPES})
    Envelope.model_fields["event"] = FieldInfo.from_annotation(_event_union())  # type: ignore[arg-type]
    Envelope.model_rebuild(force=True)


registry.on_change(_rebuild)
