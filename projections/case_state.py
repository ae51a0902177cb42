"""The case-state projection, as a pure fold: `apply(view, event) -> view` over the events
of every step topic, each an envelope as plain JSON data (`events.codec.envelope_data`; an
Envelope model is taken too). A view is plain JSON data; it uses each event's own time, never
the wall clock, so a rebuild from offset 0 gives the same views years later."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, overload

from events import registry
from events.envelope import Envelope
from events.facts import REFERENCE_KEY

View = dict[str, Any]
Event = dict[str, Any]  # an envelope as JSON data, as `Envelope.model_dump(mode="json")` gives it
TIMELINE_MAX = 200


def data(event: Envelope | Event) -> Event:
    return event.model_dump(mode="json") if isinstance(event, Envelope) else event


def sort_key(event: Envelope | Event) -> str:
    """The canonical order of a case's events across topics: by the time they occurred, then
    step, then the step's own sequence. Views are folds in this order, whatever order the
    partitions happened to be read in."""
    e = data(event)
    at = _iso(e["occurred_at"])[:-1]  # as strftime("%Y-%m-%dT%H:%M:%S.%f") at a fraction of its cost
    if len(at) == 19:
        at += ".000000"
    # The emitter's place in the registry as one character ("0" for intake ... "5" for sla, then
    # on in ASCII order), so keys compare as strings however many emitters there are.
    place = chr(ord("0") + registry.order(e["step"]))
    return f"{at}|{place}|{e['sequence']:08d}|{e['event_id']}"


def concerns_a_case(event: Envelope | Event) -> bool:
    """Every step's events do, but planning's reference data loads (they have no case, see
    `accord audit timeline reference-data`); of the insights findings only RiskScored (a
    surge names a window)."""
    e = data(event)
    if e["case_id"] == REFERENCE_KEY:
        return False
    return e["step"] != "insights" or e["event"]["type"] == "RiskScored"


def new_view(case_id: str) -> View:
    return {
        "case_id": case_id,
        "last_key": "",
        "customer_id": None,
        "status": "unknown",
        "step": None,
        "channel": None,
        "product": None,
        "category": None,
        "complexity": None,
        "priority": None,
        "branch_id": None,
        "handler": None,
        "team": None,
        "opened_at": None,
        "updated_at": None,
        "first_contact_at": None,
        "contact_attempts": 0,
        "repeats": 0,
        "deadline": {
            "due_at": None,
            "status": None,
            "met_at": None,
            "on_time": None,
            "extended": None,
            "warnings": 0,
            "breached": False,
            "policy": None,
        },
        "first_contact_deadline": {"due_at": None, "met_at": None, "breached": False},
        "plan": None,
        "offers": {},
        "accepted": {},
        "rounds": 0,
        "route": None,
        "redress": "0.00",
        "currency": None,
        "survey": None,
        "csat": None,
        "nps": None,
        "comment_given": False,
        "closed_at": None,
        "outcome": None,
        "reopened": 0,
        "escalated": False,
        "timeline": [],
        "events": [],
    }


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# A UTC time as the codec writes it, which is already the form views write: to the second, or
# to the microsecond when there is a fraction; Z for UTC.
_WRITTEN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")


@overload
def _iso(value: str) -> str: ...
@overload
def _iso(value: None) -> None: ...
def _iso(value: str | None) -> str | None:
    """A time as the views write it (ISO 8601, UTC as Z), from its JSON form."""
    if value is None or _WRITTEN.fullmatch(value):
        return value
    return _time(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def apply(view: View | None, event: Envelope | Event) -> View:
    """The view after one event that sorts after every event already folded in (the store
    refolds a case when an earlier one turns up). An event folded in before changes nothing."""
    e = data(event)
    return apply_in_place(copy.deepcopy(view) if view is not None else new_view(e["case_id"]), e)


def apply_in_place(out: View, event: Envelope | Event, key: str | None = None) -> View:
    """`apply` for a view the caller owns (the projector's working copy): no copy made. `key`:
    the event's sort_key, when the caller has it already."""
    envelope = data(event)
    event_id = envelope["event_id"]
    if event_id in out["events"]:
        return out
    out["events"].append(event_id)
    out["last_key"] = max(out["last_key"], key or sort_key(envelope))
    e = envelope["event"]
    kind = e["type"]
    step = envelope["step"]
    at = _iso(envelope["occurred_at"])
    out["updated_at"] = max(filter(None, [out["updated_at"], at]))
    if step != "insights":  # a finding about the case is not a step that acted on it
        out["step"] = step  # the step of the latest event, in canonical order
    out["customer_id"] = out["customer_id"] or envelope["customer_id"]
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(out, e, at)
    if len(out["timeline"]) < TIMELINE_MAX:
        actor = envelope["actor"]
        out["timeline"].append(
            {
                "at": at,
                "step": step,
                "type": kind,
                "actor": f"{actor['kind']}:{actor['id']}",
                "summary": _summary(e),
            }
        )
    return out


def _summary(e: Event) -> str:
    if "missing" in e:
        return "missing=" + ",".join(e["missing"])
    for name in ("reason", "outcome", "route", "plan_id", "handler_id", "category", "deadline"):
        value = e.get(name)
        if isinstance(value, str):
            return f"{name}={value}"
    return ""


def _registered(v: View, e: Event, at: str) -> None:
    v.update(
        status="registered",
        channel=e["channel"],
        product=e["product"],
        branch_id=e["branch_id"],
        opened_at=_iso(e["received_at"]),
    )
    v["deadline"]["policy"] = e["policy"]
    if e["amount_disputed"]:
        v["currency"] = e["amount_disputed"]["currency"]


def _classified(v: View, e: Event, at: str) -> None:
    v.update(category=e["category"], complexity=e["complexity"], priority=e["priority"])


def _assigned(v: View, e: Event, at: str) -> None:
    v.update(handler=e["handler_id"], team=e["team"])
    if v["status"] == "registered":
        v["status"] = "assigned"


def _attempted(v: View, e: Event, at: str) -> None:
    v["contact_attempts"] += 1
    if e["outcome"] == "reached" and v["first_contact_at"] is None:
        v["first_contact_at"] = at
        if v["status"] in ("registered", "assigned"):
            v["status"] = "contacted"


def _plan(v: View, e: Event, at: str) -> None:
    kind = e["terms"]["kind"]
    v["plan"] = {
        "plan_id": e["plan_id"],
        "kind": kind,
        "round": e["round"],
        "status": "proposed",
        "value": str(Decimal(e["value"]["amount"])),
        "policy_version": e["policy_version"],
        "needs_approval": e["needs_approval"],
    }
    v["rounds"] = max(v["rounds"], e["round"])
    v["status"] = "awaiting_approval" if e["needs_approval"] else "planning"
    if "awaiting_facts" in v:
        v["awaiting_facts"] = []


def _facts_requested(v: View, e: Event, at: str) -> None:
    # Present only once planning asked for something, so views of older histories stay as they were.
    reasons = [*e["reasons"], *[""] * len(e["missing"])]
    v["awaiting_facts"] = [
        {"fact": name, "why": why} for name, why in zip(e["missing"], reasons, strict=False)
    ]
    if v["status"] in ("registered", "assigned", "contacted", "reopened", "defaulted", "negotiating"):
        v["status"] = "awaiting_facts"


def _plan_status(status: str, case_status: str | None = None):
    def handle(v: View, e: Event, at: str) -> None:
        if v["plan"] is not None and v["plan"]["plan_id"] == e["plan_id"]:
            v["plan"]["status"] = status
            kind = v["plan"]["kind"]
            if status == "offered":
                v["offers"][kind] = v["offers"].get(kind, 0) + 1
            if status == "accepted":
                v["accepted"][kind] = v["accepted"].get(kind, 0) + 1
        if case_status:
            v["status"] = case_status

    return handle


def _routes(v: View, e: Event, at: str) -> None:
    v["status"] = "routes_offered"


def _route(v: View, e: Event, at: str) -> None:
    v["route"] = e["route"]


def _redress(v: View, e: Event, at: str) -> None:
    v["redress"] = str(Decimal(v["redress"]) + Decimal(e["amount"]["amount"]))
    v["currency"] = e["amount"]["currency"]


def _survey(v: View, e: Event, at: str) -> None:
    v["survey"] = e["survey_id"]
    v["status"] = "awaiting_survey"


def _satisfaction(v: View, e: Event, at: str) -> None:
    v.update(csat=e["csat"], nps=e["nps"], comment_given=bool(e["comment"]))


def _closed(v: View, e: Event, at: str) -> None:
    v.update(status="closed", closed_at=at, outcome=e["outcome"])


def _reopened(v: View, e: Event, at: str) -> None:
    v["reopened"] += 1
    v.update(status="reopened", closed_at=None, outcome=None)


def _escalated(v: View, e: Event, at: str) -> None:
    v["escalated"] = True


def _deadline(field: str):
    def handle(v: View, e: Event, at: str) -> None:
        target = v["deadline"] if e["deadline"] == "decision" else v["first_contact_deadline"]
        kind = e["type"]
        if kind in ("DeadlineStarted", "DeadlineRestarted", "DeadlineExtended", "DeadlineResumed"):
            target["due_at"] = _iso(e["due_at"])
            if e["deadline"] == "decision":
                target["status"] = {"DeadlineExtended": "extended", "DeadlineResumed": "running"}.get(
                    kind, "running"
                )
                if kind == "DeadlineRestarted":
                    target.update(met_at=None, on_time=None, breached=False)
                if kind == "DeadlineExtended":
                    target["extended"] = e["tier"]
        elif kind == "DeadlineWarned" and e["deadline"] == "decision":
            target["warnings"] += 1
            target["status"] = f"warned_{e['percent_used']}"
        elif kind == "DeadlineBreached":
            target["breached"] = True
            if e["deadline"] == "decision":
                target["status"] = "breached"
        elif kind == "DeadlinePaused" and e["deadline"] == "decision":
            target["status"] = "paused"
        elif kind == "DeadlineMet":
            target["met_at"] = _iso(e["met_at"])
            if e["deadline"] == "decision":
                on_time = _time(e["met_at"]) <= _time(e["due_at"]) and not target["breached"]
                target.update(on_time=on_time, status="met" if on_time else "met_late")

    return handle


def _repeat(v: View, e: Event, at: str) -> None:
    v["repeats"] += 1


def _risk(v: View, e: Event, at: str) -> None:
    # Set only when scored, so views of cases never flagged keep their shape.
    v["risk"] = {
        "score": e["score"],
        "threshold": e["threshold"],
        "model_version": e["model_version"],
        "at": at,
    }


_HANDLERS = {
    "ComplaintRegistered": _registered,
    "ComplaintClassified": _classified,
    "RepeatComplaintLinked": _repeat,
    "NewFactsReported": _repeat,
    "CaseAssigned": _assigned,
    "ContactAttempted": _attempted,
    "FactsRequested": _facts_requested,
    "PlanProposed": _plan,
    "PlanRevised": _plan,
    "PlanApproved": _plan_status("approved"),
    "PlanOffered": _plan_status("offered", "offered"),
    "PlanAccepted": _plan_status("accepted", "accepted"),
    "PlanRejected": _plan_status("rejected", "negotiating"),
    "PlanCountered": _plan_status("countered", "negotiating"),
    "RoutesOffered": _routes,
    "RouteChosen": _route,
    "ExecutionStarted": _plan_status("executing", "executing"),
    "PlanDefaulted": _plan_status("defaulted", "defaulted"),
    "PlanCompleted": _plan_status("completed", "completed"),
    "RedressPaid": _redress,
    "SurveySent": _survey,
    "SatisfactionRecorded": _satisfaction,
    "CaseClosed": _closed,
    "CaseReopened": _reopened,
    "CaseEscalated": _escalated,
    "RiskScored": _risk,
    **{
        name: _deadline(name)
        for name in (
            "DeadlineStarted",
            "DeadlineWarned",
            "DeadlineBreached",
            "DeadlineExtended",
            "DeadlinePaused",
            "DeadlineResumed",
            "DeadlineRestarted",
            "DeadlineMet",
        )
    },
}


def overdue(view: View, now_iso: str) -> bool:
    """Open, with a decision due before `now_iso` and not met."""
    d = view["deadline"]
    return (
        view["status"] != "closed"
        and d["met_at"] is None
        and d["due_at"] is not None
        and (d["breached"] or d["due_at"] < now_iso)
    )


def fold(case_id: str, events: Iterable[Envelope | Event]) -> View:
    """A case's view from scratch: its events in canonical order, duplicates once."""
    return fold_keyed(case_id, [(sort_key(e), e) for e in map(data, events)])


def fold_keyed(case_id: str, keyed: list[tuple[str, Event]]) -> View:
    """`fold` of events whose sort keys are known: (sort_key, event) pairs, in any order (sorted
    here, in place, by key only)."""
    keyed.sort(key=itemgetter(0))
    view = new_view(case_id)
    for key, e in keyed:
        apply_in_place(view, e, key)
    return view
