"""The one codec: Kafka value bytes and headers to a model and back, for events (Envelope),
commands (CommandEnvelope) and channel submissions, upcasting old schema versions on read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from events import registry
from events.base import RECEIVED_AT, Message
from events.commands import CommandEnvelope
from events.envelope import EVENT_TYPES, Envelope
from events.identity import submission_uuid
from events.submission import ComplaintSubmission
from events.upcasters import UPCASTERS, Upcasters

M = TypeVar("M", bound=Message)
Headers = list[tuple[str, bytes]]
CONTENT_TYPE = b"application/json"


class DecodeError(ValueError):
    """Bytes that are not a valid message. `reason` names the problem and the field; it never
    repeats the offending value, which may be personal data."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def encode(message: Message) -> bytes:
    """The canonical bytes of a message: compact JSON, fields in declaration order."""
    return message.model_dump_json().encode()


def content_hash(data: bytes) -> str:
    """SHA-256 of a message's bytes as they sit on the topic; the unit of hash links."""
    return hashlib.sha256(data).hexdigest()


# -- reading history fast: plain data, no models ----------------------------------------------
# Replaying years of history (a projection rebuild, `accord audit verify`) is bound by decoding:
# building and validating a pydantic envelope costs several times what Kafka takes to deliver
# the record. Events on the step topics were validated and encoded by this codec when their
# step recorded them (and verify compares their bytes with the step's own record), so the
# readers of history parse them as plain JSON data instead.


def envelope_data(data: bytes | None) -> dict[str, Any]:
    """An event's envelope as plain JSON data, exactly what `decode(Envelope, data)` would dump
    (`model_dump(mode="json")`): parsed once, without building models when the event is of its
    type's current version; an older version (or a shape that is not an envelope) goes through
    `decode`, which upcasts it or raises DecodeError."""
    try:
        raw = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        raise DecodeError("not valid JSON") from None
    event = raw.get("event") if isinstance(raw, dict) else None
    if (
        isinstance(event, dict)
        and raw.keys() == _ENVELOPE_FIELDS
        and _CURRENT.get(str(event.get("type"))) == event.get("schema_version")
    ):
        return raw  # type: ignore[no-any-return]
    return decode(Envelope, data).model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class Link:
    """What a hash chain needs of an event (the envelope's own field names, so checks read an
    Envelope or a Link alike): who, which case, where in the step's sequence, and its links."""

    event_id: str
    case_id: str
    step: str
    sequence: int
    prev_hash: str | None
    causation_id: str | None
    cause_hash: str | None


def link(data: bytes | None) -> Link:
    """The chain fields of an event's bytes, without building the envelope; DecodeError when
    they are missing or of the wrong kind (a full `decode` would find more wrong with them)."""
    try:
        raw = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        raise DecodeError("not valid JSON") from None
    if not isinstance(raw, dict):
        raise DecodeError("expected a JSON object for an event")
    fields: dict[str, Any] = {name: raw.get(name) for name in Link.__slots__}
    for name in ("event_id", "case_id", "step"):
        if not isinstance(fields[name], str):
            raise DecodeError(f"invalid event: {name}: field required", name)
    sequence = fields["sequence"]
    if type(sequence) is not int or sequence < 1:
        raise DecodeError("invalid event: sequence: not a positive integer", "sequence")
    for name in ("prev_hash", "causation_id", "cause_hash"):
        if not isinstance(fields[name], str | None):
            raise DecodeError(f"invalid event: {name}: not a string", name)
    return Link(**fields)


def input_id(model: type[Message], data: bytes | None) -> str | None:
    """The id of a channel's submission or a command, from its bytes (None: not one)."""
    try:
        raw = orjson.loads(data or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    if model is CommandEnvelope:
        value = raw.get("command_id")
        return value if isinstance(value, str) else None
    channel, sid = raw.get("channel"), raw.get("submission_id")
    if not (isinstance(channel, str) and isinstance(sid, str)):
        return None
    return str(submission_uuid(channel, sid))


def headers_for(message: Message) -> Headers:
    """Headers that let tools route and filter without parsing; never personal data."""
    inner = _inner(message)
    return [
        ("content-type", CONTENT_TYPE),
        ("type", _type_name(inner).encode()),
        ("schema-version", str(getattr(inner, "schema_version", 1)).encode()),
    ]


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


def decode(
    model: type[M],
    data: bytes | None,
    upcasters: Upcasters = UPCASTERS,
    received_at: datetime | None = None,
) -> M:
    """Parse and validate `data` as `model`, upcasting older versions. Raises DecodeError and
    nothing else, whatever the bytes. With `received_at`, the dates a submission or command
    carries must also be plausible on that clock (see events.base)."""
    if not data:
        raise DecodeError("empty message: no bytes to decode")
    context = {RECEIVED_AT: received_at} if received_at is not None else None
    try:
        return _validate(model, data, upcasters, context)
    except DecodeError:
        raise
    except RecursionError:
        kind = _KIND.get(model, "message")
        raise DecodeError(f"not valid JSON: nested deeper than a {kind} can be") from None


def _validate(model: type[M], data: bytes, upcasters: Upcasters, context: dict[str, Any] | None) -> M:
    try:
        return model.model_validate_json(data, context=context)
    except ValidationError as first:
        if not upcasters or _unparseable(first):
            raise _decode_error(model, first) from None
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise _decode_error(model, first) from None
        upcast = _upcast(model, raw, upcasters)
        if upcast is raw:
            raise _decode_error(model, first) from None
        try:
            return model.model_validate_json(json.dumps(upcast), context=context)
        except ValidationError as exc:
            raise _decode_error(model, exc) from None


def _unparseable(exc: ValidationError) -> bool:
    """Bytes that are not JSON at all (or nest too deeply for the parser) cannot be upcast."""
    return any(err["type"] == "json_invalid" for err in exc.errors(include_url=False, include_input=False))


def _upcast(model: type[Message], raw: Any, upcasters: Upcasters) -> Any:
    if not isinstance(raw, dict):
        return raw
    field = _INNER_FIELD.get(model)
    if field is None:
        out = upcasters.upcast(model.__name__, raw)
        return raw if out == raw else out
    inner = raw.get(field)
    if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
        return raw
    out = upcasters.upcast(inner["type"], inner)
    return raw if out == inner else {**raw, field: out}


_INNER_FIELD: dict[type[Message], str] = {Envelope: "event", CommandEnvelope: "command"}
_ENVELOPE_FIELDS = Envelope.model_fields.keys()


# Each registered event type's current schema version (older ones are upcast by `decode`).
_CURRENT: dict[str, int] = {}


def _versions() -> None:
    _CURRENT.clear()
    _CURRENT.update({name: m.model_fields["schema_version"].default for name, m in EVENT_TYPES.items()})


registry.on_change(_versions)
_KIND = {Envelope: "event", CommandEnvelope: "command", ComplaintSubmission: "submission"}


def _inner(message: Message) -> Message:
    field = _INNER_FIELD.get(type(message))
    return getattr(message, field) if field else message


def _type_name(message: Message) -> str:
    return str(getattr(message, "type", type(message).__name__))


def _decode_error(model: type[Message], exc: ValidationError) -> DecodeError:
    kind = _KIND.get(model, model.__name__)
    problems: list[str] = []
    first_field: str | None = None
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    # The type tag decides everything else, so a problem with it is reported first.
    errors.sort(key=lambda err: 0 if err["type"].startswith("union_tag") else 1)
    for err in errors[:5]:
        loc = ".".join(str(part) for part in err["loc"])
        if err["type"] == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag", "?")
            text = f"{loc + '.' if loc else ''}type: unknown {kind} type '{tag}'"
        elif err["type"] == "union_tag_not_found":
            text = f"{loc + '.' if loc else ''}type: field required (names the {kind} type)"
        elif err["type"] == "json_invalid":
            text = f"not valid JSON: {err['msg'].removeprefix('Invalid JSON: ')}"
        elif err["type"] == "model_type" and not loc:
            text = f"expected a JSON object for a {kind}"
        elif err["type"] == "missing":
            text = f"{loc}: field required"
        elif err["type"] == "extra_forbidden":
            text = f"{loc}: unknown field"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            text = f"{loc}: {msg}" if loc else msg
        first_field = first_field or (loc or None)
        problems.append(text)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return DecodeError(f"invalid {kind}: " + "; ".join(problems) + more, first_field)
