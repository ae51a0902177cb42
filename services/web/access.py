"""Who may do what, decided on the server before anything is sent: handlers act on cases
assigned to them or to their team, supervisors on their team's cases (team `*`: any) and alone
approve plans and extend deadlines; auditors only read. A refused action is never published."""

from __future__ import annotations

from typing import Any

from services.web.accounts import Staff

HANDLER_ACTIONS = (
    "RecordContactAttempt",
    "RecordFacts",
    "DeclareConflict",
    "PauseClock",
    "ResumeClock",
    "ReopenCase",
    "EscalateCase",
    "RecordPayment",
    "IssueLink",
)
SUPERVISOR_ACTIONS = (*HANDLER_ACTIONS, "ApprovePlan", "ExtendDeadline", "ConfirmRedress")
# What a customer may ask through their link (or their channel's front end, via the gateway).
CUSTOMER_ACTIONS = (
    "SetContactPreference",
    "AcceptPlan",
    "RejectPlan",
    "CounterPlan",
    "ChooseRoute",
    "RecordSatisfaction",
    "ReopenCase",
    "EscalateCase",
)


def on_case(staff: Staff, view: dict[str, Any]) -> bool:
    """Whether the case is this person's to work: assigned to them or to their team."""
    if staff.role == "auditor":
        return False
    if staff.role == "supervisor" and staff.team == "*":
        return True
    return view.get("handler") == staff.staff_id or (
        view.get("team") is not None and view.get("team") == staff.team
    )


def may(staff: Staff, action: str, view: dict[str, Any]) -> bool:
    allowed = SUPERVISOR_ACTIONS if staff.role == "supervisor" else HANDLER_ACTIONS
    return staff.role != "auditor" and action in allowed and on_case(staff, view)
