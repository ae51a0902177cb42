"""A case as a person reads it: the projection's view plus what its stored events say — the
complaint's words, the contact preference, the plan's full terms and schedule, the timeline in
plain words, and which commands were answered or refused. Read-only; nothing here decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.codec import DecodeError, decode
from events.envelope import Envelope
from projections.store import ViewStore
from services.web import i18n

OPEN_PLAN = ("PlanProposed", "PlanRevised")


@dataclass
class CaseFile:
    view: dict[str, Any]
    complaint: dict[str, Any] = field(default_factory=dict)
    preference: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None  # the latest proposed or revised plan, with its terms
    timeline: list[dict[str, Any]] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)  # command ids some event was caused by
    refused: dict[str, str] = field(default_factory=dict)  # command id -> reason
    survey_id: str | None = None
    routes: list[str] = field(default_factory=list)
    version: str = ""

    @property
    def case_id(self) -> str:
        return str(self.view["case_id"])

    @property
    def is_open(self) -> bool:
        return self.view["status"] != "closed"


def load(store: ViewStore, case_id: str, lang: str = "en") -> CaseFile | None:
    view = store.get(case_id)
    if view is None:
        return None
    out = CaseFile(view=view, version=f"{view.get('last_key', '')}|{len(view.get('events', []))}")
    for _, raw in store.events(case_id):
        try:
            envelope = decode(Envelope, raw.encode())
        except DecodeError:  # stored by the projector, so valid; a newer type we cannot read yet
            continue
        event = envelope.event
        kind = event.type
        fields = event.model_dump(mode="json")
        if envelope.causation_id is not None:
            out.answered.add(str(envelope.causation_id))
        if kind == "ComplaintRegistered":
            out.complaint = fields
            out.preference = out.preference or fields.get("preferred_contact")
        elif kind == "ContactPreferenceSet":
            out.preference = fields["preference"]
        elif kind in OPEN_PLAN:
            out.plan = fields
        elif kind == "CommandRejected":
            out.refused[str(fields["command_id"])] = fields["reason"]
        elif kind == "SurveySent":
            out.survey_id = fields.get("survey_id")
        elif kind == "RoutesOffered":
            out.routes = list(fields.get("routes", []))
        out.timeline.append(
            {
                "at": envelope.occurred_at,
                "type": kind,
                "step": envelope.step,
                "actor": f"{envelope.actor.kind}:{envelope.actor.id}",
                "words": i18n.event_words(lang, kind, _flat(fields)),
            }
        )
    return out


def _flat(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for key in ("due_at",):
        if isinstance(out.get(key), str):
            out[key] = out[key][:16].replace("T", " ")
    if isinstance(out.get("preference"), dict):
        out["method"] = out["preference"].get("method")
    return out


def time_left(view: dict[str, Any], now: datetime | None = None) -> float | None:
    """Seconds until the decision is due (negative when overdue); None without a clock."""
    due = view["deadline"].get("due_at")
    if not due or view["deadline"].get("met_at"):
        return None
    at = datetime.fromisoformat(due.replace("Z", "+00:00"))
    return (at - (now or datetime.now(UTC))).total_seconds()


def clock_mark(view: dict[str, Any], left: float | None) -> str:
    """'breached', 'warned', 'paused' or '' — what the queue marks a row with."""
    d = view["deadline"]
    if d.get("breached") or (left is not None and left < 0):
        return "breached"
    if d.get("status") == "paused":
        return "paused"
    if d.get("warnings"):
        return "warned"
    return ""


def human_left(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    s = abs(int(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{sign}{days}d {hours}h" if days else f"{sign}{hours}h {rest // 60}m"
