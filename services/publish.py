"""How a channel or a person puts something on Kafka: a complaint onto `complaints.submitted`
keyed by its submission id, personal data sealed; a command onto `negotiation.commands` keyed
by its case id (a reference data set: by `reference-data`); always with the codec's bytes and
headers. The CLI, the demo, the simulation and the benches use it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from events.base import Actor, Message
from events.codec import decode, encode, headers_for
from events.commands import CommandEnvelope
from events.facts import REFERENCE_KEY
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


def reference(path: Path, actor: Actor, at: datetime | None = None) -> CommandEnvelope:
    """A reference data file (the fields of `LoadReferenceData`, as JSON) as the command that
    loads it; raises DecodeError naming what is wrong."""
    body = {
        "command_id": str(uuid.uuid4()),
        "case_id": REFERENCE_KEY,
        "issued_at": (at or datetime.now(UTC)).isoformat(),
        "actor": actor.model_dump(mode="json"),
        "command": {"type": "LoadReferenceData", **json.loads(path.read_text(encoding="utf-8"))},
    }
    return decode(CommandEnvelope, json.dumps(body).encode())


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
