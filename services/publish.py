"""How a channel or a person puts something on Kafka: a complaint onto `complaints.submitted`
keyed by its submission id, personal data sealed; a command onto `negotiation.commands` keyed
by its case id; always with the codec's bytes and headers. The CLI, the demo, the simulation
and the benches use it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from events.base import Actor, Message
from events.codec import encode, headers_for
from events.commands import CommandEnvelope
from events.personal import PersonalData, has_personal
from events.submission import ComplaintSubmission
from events.topics import COMMANDS, SUBMITTED
from services.privacy import KeyStore


def command(
    case_id: str, body: Message, actor: Actor, at: datetime | None = None, command_id: uuid.UUID | None = None
) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=command_id or uuid.uuid4(),
        case_id=case_id,
        issued_at=at or datetime.now(UTC),
        actor=actor,
        command=body,  # type: ignore[arg-type]
    )


def send(
    producer: KafkaProducer, message: ComplaintSubmission | CommandEnvelope, keys: KeyStore | None = None
) -> Any:
    """Publish a submission or a command; returns the send future. A submission's personal
    data is sealed with the customer's key first: `complaints.submitted` keeps everything
    forever, so plaintext put there could never be erased."""
    if isinstance(message, ComplaintSubmission):
        if isinstance(message.customer, PersonalData) and has_personal(message.customer):
            if keys is None:
                raise ValueError("a submission with personal data needs the key store to seal it")
            message = keys.seal_submission(message)
        topic, key = SUBMITTED.name, message.submission_id
    else:
        topic, key = COMMANDS.name, message.case_id
    return producer.send(topic, key=key.encode(), value=encode(message), headers=headers_for(message))
