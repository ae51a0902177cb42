"""Given / when / then over events, for the steps' pure cores: no broker, no store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from events.base import Actor, Message
from events.commands import CommandEnvelope
from events.envelope import Envelope
from services.rules.model import Rules
from services.settings import Settings
from services.steps.contract import StepSpec, process

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = Settings.from_env({}).rules()
STAFF = Actor(kind="staff", id="H-001")
CUSTOMER = Actor(kind="customer", id="CUST-1")


def env(
    event: Message, case: str = "C1", step: str = "intake", at: datetime = T0, customer: str = "CUST-1"
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        case_id=case,
        occurred_at=at,
        step=step,
        sequence=1,
        correlation_id=uuid.uuid4(),
        actor=Actor(kind="system", id=step),
        customer_id=customer,
        event=event,
    )  # type: ignore[arg-type]


def cmd(command: Message, case: str = "C1", actor: Actor = STAFF, at: datetime = T0) -> CommandEnvelope:
    return CommandEnvelope(command_id=uuid.uuid4(), case_id=case, issued_at=at, actor=actor, command=command)  # type: ignore[arg-type]


def given(step: Any, *messages: Any) -> Any:
    """The state after these past messages (inputs and the step's own events alike). `step` is
    a step's core module (its SPEC is used) or a StepSpec."""
    spec = _spec(step)
    state = spec.initial()
    for message in messages:
        state = spec.evolve(
            state,
            message
            if not isinstance(message, Message) or isinstance(message, Envelope | CommandEnvelope)
            else env(message, step=spec.name),
        )
    return state


def when(step: Any, state: Any, message: Any, now: datetime = T0, rules: Rules = RULES) -> list[Message]:
    """The events the step emits for `message`, through the runtime's own `process` (which
    folds the input in first)."""
    return [emit.event for emit in process(_spec(step), state, message, now, rules)[1]]


def _spec(step: Any) -> StepSpec[Any]:
    return step if isinstance(step, StepSpec) else step.SPEC


def types(events: list[Message]) -> list[str]:
    return [type(e).__name__ for e in events]
