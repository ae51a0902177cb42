"""The one envelope every event travels in: identity, case, time, emitting step, causality,
the step's own sequence number, hash links for tamper evidence, and personal data apart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union
from uuid import UUID

from pydantic import Field

from events import common, contact, evaluation, execution, insights, intake, planning, sla
from events.base import Actor, CaseId, Identifier, Message, Sha256, Step, UtcDatetime
from events.personal import AnyPersonal

STEP_MODULES = {
    "intake": intake,
    "contact": contact,
    "planning": planning,
    "execution": execution,
    "evaluation": evaluation,
    "sla": sla,
}
# Not a workflow step: the early-warning service's findings travel in the same envelope.
FINDING_MODULES = {"insights": insights}
EVENT_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for module in (*STEP_MODULES.values(), *FINDING_MODULES.values(), common)
    for cls in module.EVENTS
}
# Which steps may emit each type (CommandRejected: every step).
EMITTERS: dict[str, tuple[str, ...]] = {
    name: tuple(step for step, module in {**STEP_MODULES, **FINDING_MODULES}.items() if cls in module.EVENTS)
    or tuple(STEP_MODULES)
    for name, cls in EVENT_TYPES.items()
}

if TYPE_CHECKING:

    class AnyEvent(Message):
        """What the type checker knows of any event: the union is built at run time."""

        type: str
        schema_version: int

else:
    AnyEvent = Annotated[Union[tuple(EVENT_TYPES.values())], Field(discriminator="type")]  # noqa: UP007


class Envelope(Message):
    """An event with its metadata. `sequence` counts the events this step emitted for this
    case (1, 2, ...); `prev_hash` is the hash of the step's previous event for the case and
    `cause_hash` that of the event which caused it (None for the first / for commands)."""

    event_id: UUID
    case_id: CaseId
    occurred_at: UtcDatetime
    step: Step
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
