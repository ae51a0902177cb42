"""What the runtime needs to know of any input, whatever the step: how a record of a topic
decodes, its identity for dedupe, its content for conflict checks, its time, case and cause."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple, cast

from events.base import Message
from events.codec import content_hash, decode, encode
from events.commands import CommandEnvelope
from events.envelope import Envelope
from events.identity import submission_id
from events.submission import ComplaintSubmission
from events.topics import by_name
from services.steps.contract import Input

MODELS: dict[str, type[Message]] = {
    "submission": ComplaintSubmission,
    "command": CommandEnvelope,
    "event": Envelope,
}


class Origin(NamedTuple):
    """Where a Kafka record came from, and its bytes as they arrived."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    cause_hash: str | None = None  # forwarded by a first stage: the hash of the bytes as they arrived


def decode_input(topic: str, data: bytes | None, received_at: datetime | None = None) -> Input:
    """The submission, command or event a record of this topic carries (DecodeError if not).
    A new submission or command (`received_at` given) must carry plausible dates on that clock;
    events are the steps' own records and stored inputs were checked when they arrived."""
    kind = by_name(topic).carries
    return cast(Input, decode(MODELS[kind], data, received_at=received_at if kind != "event" else None))


def content_of(message: Input) -> str | None:
    """What a redelivery must repeat exactly: the canonical content of a submission or a
    command (the same id with other content is a conflict). Events are told apart by id
    alone: a rebuilt store republishes an event under its id with a new `occurred_at`."""
    if isinstance(message, ComplaintSubmission | CommandEnvelope):
        return content_hash(encode(message))
    return None


def identity_of(message: Input, raw: bytes) -> tuple[str, uuid.UUID, str | None]:
    """(dedupe id, correlation id, hash of the input's bytes) of an input."""
    if isinstance(message, Envelope):
        return str(message.event_id), message.correlation_id, content_hash(raw)
    if isinstance(message, CommandEnvelope):
        return str(message.command_id), message.command_id, content_hash(raw)
    if isinstance(message, ComplaintSubmission):
        sid = submission_id(message)
        return str(sid), sid, content_hash(raw)
    raise TypeError(message)


def claim_key(identity: str) -> str:
    """The store stream that holds the content hash of a submission id's first body."""
    return f"meta|claim|{identity}"


def type_of(message: Input | Message) -> str:
    if isinstance(message, Envelope):
        return message.event.type
    if isinstance(message, CommandEnvelope):
        return str(message.command.type)
    return type(message).__name__


def time_of(message: Input) -> datetime | None:
    if isinstance(message, Envelope):
        return message.occurred_at
    if isinstance(message, CommandEnvelope):
        return message.issued_at
    if isinstance(message, ComplaintSubmission):
        return message.submitted_at
    return None


def customer_of(message: Input) -> str | None:
    """The customer an input is about, where it says (commands do not)."""
    if isinstance(message, Envelope | ComplaintSubmission):
        return message.customer_id
    return None


def causation_of(message: Input) -> uuid.UUID | None:
    if isinstance(message, Envelope):
        return message.event_id
    if isinstance(message, CommandEnvelope):
        return message.command_id
    if isinstance(message, ComplaintSubmission):
        return submission_id(message)
    return None
