"""Generates the event catalogue from the models: a JSON Schema per message type, an AsyncAPI 3
document of the topics and their messages, and docs/events.md. `accord catalogue write`
refreshes them; a test fails when the committed files differ from what the models say."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from events import commands
from events.base import Message
from events.commands import CommandEnvelope
from events.envelope import EMITTERS, EVENT_TYPES, Envelope
from events.submission import ComplaintSubmission
from events.topics import (
    ALL,
    COMMANDS,
    DEADLETTER,
    EVENT_TOPICS,
    INTAKE_CLOSURES,
    INTAKE_SUBMISSIONS,
    REJECTED,
    SUBMITTED,
)

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path(__file__).resolve().parent / "catalogue"
DOC = ROOT / "docs" / "events.md"
REF = "#/components/schemas/{model}"
COMMAND_TYPES: dict[str, type[Message]] = {cls.__name__: cls for cls in commands.COMMANDS}


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split()) if doc and cls.__doc__ is not None and "__doc__" in cls.__dict__ else ""


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def json_schemas() -> dict[str, dict[str, Any]]:
    """One standalone JSON Schema (draft 2020-12) per top-level message and per event/command."""
    out: dict[str, dict[str, Any]] = {}
    for cls in _models():
        schema = cls.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:accord:schema:{cls.__name__}"
        out[cls.__name__] = schema
    return out


def _models() -> list[type[Message]]:
    return [Envelope, CommandEnvelope, ComplaintSubmission, *EVENT_TYPES.values(), *COMMAND_TYPES.values()]


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for cls in _models():
        schema = cls.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[cls.__name__] = schema
    return dict(sorted(schemas.items()))


def _message(name: str, cls: type, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": _summary(cls) or name,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "const": name},
                "schema-version": {"type": "string"},
                "content-type": {"type": "string", "const": "application/json"},
            },
        },
        "payload": payload,
        "bindings": {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}},
    }


def asyncapi() -> dict[str, Any]:
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(topic_name: str, description: str, names: list[str], action: str, op: str) -> None:
        cid = topic_name.replace(".", "_")
        channels[cid] = {
            "address": topic_name,
            "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        }
        operations[op] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{n}"} for n in names],
        }

    messages["ComplaintSubmission"] = _message(
        "ComplaintSubmission",
        ComplaintSubmission,
        SUBMITTED.key,
        {"$ref": REF.format(model="ComplaintSubmission")},
    )
    channel(SUBMITTED.name, SUBMITTED.description, ["ComplaintSubmission"], "receive", "receiveComplaints")
    messages["RejectedMessage"] = {
        "name": "RejectedMessage",
        "title": "RejectedMessage",
        "summary": "The original bytes of a message that could not be accepted, with the reason.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "properties": {
                "error": {"type": "string", "description": "why it was rejected (no personal data)"},
                "error-field": {"type": "string"},
                "source-topic": {"type": "string"},
                "source-partition": {"type": "string"},
                "source-offset": {"type": "string"},
            },
        },
        "payload": {"type": "string", "description": "the original value, unchanged"},
    }
    channel(REJECTED.name, REJECTED.description, ["RejectedMessage"], "send", "sendRejectedSubmissions")
    channel(DEADLETTER.name, DEADLETTER.description, ["RejectedMessage"], "send", "sendDeadLetters")
    for name, cls in COMMAND_TYPES.items():
        messages[name] = _message(
            name,
            cls,
            COMMANDS.key,
            {
                "allOf": [
                    {"$ref": REF.format(model="CommandEnvelope")},
                    {"properties": {"command": {"$ref": REF.format(model=name)}}},
                ]
            },
        )
    channel(COMMANDS.name, COMMANDS.description, list(COMMAND_TYPES), "receive", "receiveCommands")
    for name, cls in EVENT_TYPES.items():
        messages[name] = _message(
            name,
            cls,
            "case id",
            {
                "allOf": [
                    {"$ref": REF.format(model="Envelope")},
                    {"properties": {"event": {"$ref": REF.format(model=name)}}},
                ]
            },
        )
    for step, topic in EVENT_TOPICS.items():
        names = [n for n in EVENT_TYPES if step in EMITTERS[n]]
        channel(topic.name, topic.description, names, "send", f"emit{step.capitalize()}Events")
    # Intake's internal re-partition topics: what it reads, re-keyed by customer (not for others).
    channel(
        INTAKE_SUBMISSIONS.name,
        INTAKE_SUBMISSIONS.description,
        ["ComplaintSubmission"],
        "send",
        "repartitionSubmissions",
    )
    channel(
        INTAKE_CLOSURES.name,
        INTAKE_CLOSURES.description,
        ["CaseClosed", "CaseReopened"],
        "send",
        "repartitionClosures",
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Accord",
            "version": "0.1.0",
            "description": "Event-sourced complaint negotiation for banks. Every event is "
            "keyed by its case id; event topics keep everything.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the embedded single-node broker",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _components()},
    }


def _fields(cls: type[Message]) -> str:
    names = [n for n in cls.model_fields if n not in ("type", "schema_version")]
    return ", ".join(f"`{n}`" for n in names) or "—"


def markdown() -> str:
    lines = [
        "# Event catalogue",
        "",
        "Generated from the models in `events/` by `accord catalogue write`; do not edit by hand.",
        "Machine-readable: `events/catalogue/asyncapi.json` (AsyncAPI 3) and one JSON Schema per",
        "type in `events/catalogue/schemas/`.",
        "",
        "Every event travels in the one envelope (`events/envelope.py`): "
        + _fields(Envelope)
        + ". Personal data (names, phone, e-mail, id and account numbers) "
        "lives only in `personal` (a submission's `customer`), never in an event's own fields, and "
        "is stored only sealed with the customer's own key (`form: sealed`, see docs/privacy.md).",
        "",
        "## Topics",
        "",
        "| topic | key | carries |",
        "|---|---|---|",
    ]
    lines += [f"| `{t.name}` | {t.key} | {t.description} |" for t in ALL]
    lines += [
        "",
        "## Submission (`complaints.submitted`)",
        "",
        f"`ComplaintSubmission` v1: {_fields(ComplaintSubmission)}.",
        "",
        "## Commands (`negotiation.commands`)",
        "",
        f"Envelope `CommandEnvelope`: {_fields(CommandEnvelope)}.",
        "",
        "| command | fields | what it asks |",
        "|---|---|---|",
    ]
    lines += [f"| `{n}` | {_fields(c)} | {_summary(c)} |" for n, c in COMMAND_TYPES.items()]
    for step, topic in EVENT_TOPICS.items():
        lines += ["", f"## `{topic.name}`", "", "| event | v | fields | meaning |", "|---|---|---|---|"]
        for name, cls in EVENT_TYPES.items():
            if step in EMITTERS[name]:
                version = cls.model_fields["schema_version"].default
                lines.append(f"| `{name}` | {version} | {_fields(cls)} | {_summary(cls)} |")
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    """Every generated file with its content."""
    files = {CATALOGUE / "asyncapi.json": _dump(asyncapi()), DOC: markdown()}
    for name, schema in json_schemas().items():
        files[CATALOGUE / "schemas" / f"{name}.json"] = _dump(schema)
    return files


def write() -> list[Path]:
    changed = []
    files = rendered()
    for stale in (CATALOGUE / "schemas").glob("*.json"):
        if stale not in files:
            stale.unlink()
            changed.append(stale)
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    return changed


def stale() -> list[Path]:
    """Generated files that are missing, differ from the models, or should not exist."""
    files = rendered()
    out = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    out += [p for p in (CATALOGUE / "schemas").glob("*.json") if p not in files]
    return out
