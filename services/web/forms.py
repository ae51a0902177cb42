"""Forms drawn from the command models themselves, and form data turned back into a command
body: a field added to a command (say, RecordFacts' ledger figures) appears in the console
without editing a template. Validation is the codec's, so errors name the field, never the value."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from events import commands
from events.base import Actor
from events.codec import decode
from events.commands import CommandEnvelope

SKIP = ("type", "schema_version")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text, textarea, money, decimal, bool, choice, number, datetime, date
    required: bool
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.name.replace(".", " · ").replace("_", " ").capitalize()


def _kind(spec: dict[str, Any], defs: dict[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    options = [s for s in spec.get("anyOf", [spec]) if s.get("type") != "null"]
    if sorted(o.get("type", "") for o in options) == ["number", "string"]:
        return "decimal", ()  # pydantic's Decimal: sent as its string, never through a float
    if len(options) != 1:
        return None
    s = options[0]
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return ("money", ()) if name == "Money" else ("model", (name,))
    if "enum" in s:
        return "choice", tuple(s["enum"])
    if s.get("type") == "boolean":
        return "bool", ()
    if s.get("type") in ("integer", "number"):
        return "number", ()
    if s.get("type") == "string":
        if s.get("format") == "date-time":
            return "datetime", ()
        if s.get("format") == "date":
            return "date", ()
        return ("textarea" if s.get("maxLength", 0) > 200 else "text"), ()
    return None


def fields_of(model: type, omit: tuple[str, ...] = ()) -> list[Field]:
    """The fields a person fills in for a command. A nested model (say, a balance's make-up)
    becomes its fields named `parent.child`; lists are left to dedicated forms."""
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    defs = schema.get("$defs", {})
    return _walk(schema, defs, "", True, omit, depth=0)


def _walk(
    schema: dict[str, Any],
    defs: dict[str, Any],
    prefix: str,
    required_here: bool,
    omit: tuple[str, ...],
    depth: int,
) -> list[Field]:
    required = set(schema.get("required", []))
    out: list[Field] = []
    for name, spec in schema.get("properties", {}).items():
        if name in SKIP or name in omit:
            continue
        found = _kind(spec, defs)
        if found is None:
            continue
        kind, extra = found
        if kind == "model":
            if depth < 2 and extra[0] in defs:
                out += _walk(
                    defs[extra[0]],
                    defs,
                    f"{prefix}{name}.",
                    required_here and name in required,
                    (),
                    depth + 1,
                )
            continue
        out.append(Field(prefix + name, kind, required_here and name in required, extra))
    return out


def body_from_form(model: type, form: dict[str, str], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of a command from a form's strings; empty optional fields are left out."""
    body: dict[str, Any] = {"type": model.__name__}
    for f in fields_of(model):
        raw = (form.get(f.name) or "").strip()
        value: Any
        if f.kind == "bool":
            if raw not in ("true", "on", "yes", "false", "no"):
                continue
            value = raw in ("true", "on", "yes")
        elif not raw:
            continue
        elif f.kind == "money":
            value = {"amount": raw}
        elif f.kind == "number":
            value = int(raw) if raw.lstrip("-").isdigit() else raw
        elif f.kind == "datetime":
            # a browser's datetime-local has no zone and may lack seconds: the form says UTC
            value = (
                raw if ("+" in raw[10:] or raw.endswith("Z")) else raw + (":00Z" if len(raw) == 16 else "Z")
            )
        else:
            value = raw
        *parents, leaf = f.name.split(".")
        target = body
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    body.update(fixed or {})
    return body


def envelope(case_id: str, body: dict[str, Any], actor: Actor) -> CommandEnvelope:
    """A command envelope through the codec, as `accord act` builds it; DecodeError names what
    is wrong."""
    raw = {
        "command_id": str(uuid.uuid4()),
        "case_id": case_id,
        "issued_at": datetime.now(UTC).isoformat(),
        "actor": actor.model_dump(mode="json"),
        "command": body,
    }
    now = datetime.now(UTC)
    return decode(CommandEnvelope, json.dumps(raw).encode(), received_at=now)


BY_NAME: dict[str, type] = {c.__name__: c for c in commands.COMMANDS}
