"""Events of the contact step (initial communication), emitted onto `negotiation.contact`:
assignment, the customer's contact preference, contact attempts and what was learned."""

from __future__ import annotations

from typing import Literal

from events.base import ContactMethod, Identifier, Line, Message, Money, Text, UtcDatetime
from events.facts import LedgerReading
from events.submission import ContactPreference


class CaseAssigned(Message):
    """A handler (and their team) became responsible for the case."""

    type: Literal["CaseAssigned"] = "CaseAssigned"
    schema_version: Literal[1] = 1
    handler_id: Identifier
    team: Identifier
    first_contact_due_at: UtcDatetime
    reason: Literal["first_taker", "rota", "reassigned", "conflict_of_interest"]


class ConflictOfInterestDeclared(Message):
    """A staff member declared a stake in the case and may not handle it."""

    type: Literal["ConflictOfInterestDeclared"] = "ConflictOfInterestDeclared"
    schema_version: Literal[1] = 1
    staff_id: Identifier
    reason: Line


class ContactPreferenceSet(Message):
    """The customer (or staff on their behalf) chose how and when to be contacted."""

    type: Literal["ContactPreferenceSet"] = "ContactPreferenceSet"
    schema_version: Literal[1] = 1
    preference: ContactPreference
    set_by: Literal["customer", "staff", "channel"]


class ContactAttempted(Message):
    """Staff tried to reach the customer; the outcome says whether they did."""

    type: Literal["ContactAttempted"] = "ContactAttempted"
    schema_version: Literal[1] = 1
    attempt: int
    method: ContactMethod
    outcome: Literal["reached", "no_answer", "callback_requested", "message_left"]
    callback_at: UtcDatetime | None = None
    within_preference: bool


class FactsLearned(Message):
    """What contact with the customer established (for example the cause of a hardship) and
    the ledger reading staff recorded with it."""

    type: Literal["FactsLearned"] = "FactsLearned"
    schema_version: Literal[1] = 1
    summary: Text
    hardship_cause: Line | None = None
    monthly_capacity: Money | None = None  # what the customer can repay each month
    willing_to_repay: bool | None = None
    new_facts: bool = False
    ledger: LedgerReading | None = None  # the ledger reading staff recorded (masked account)


EVENTS = (
    CaseAssigned,
    ConflictOfInterestDeclared,
    ContactPreferenceSet,
    ContactAttempted,
    FactsLearned,
)
STEP = "contact"
