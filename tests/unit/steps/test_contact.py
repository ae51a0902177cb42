"""Contact: who is responsible, conflicts of interest, preferences, attempts and facts."""

from __future__ import annotations

from events.base import Actor
from events.commands import DeclareConflict, RecordContactAttempt, RecordFacts, SetContactPreference, TakeCase
from events.common import CommandRejected
from events.contact import CaseAssigned
from events.evaluation import CaseClosed
from events.intake import ComplaintRegistered
from events.submission import ContactPreference
from services.steps import contact
from tests.given import CUSTOMER, T0, cmd, env, given, types, when

REGISTERED = env(
    ComplaintRegistered(
        submission_id="S1",
        channel="app",
        received_at=T0,
        customer_id="CUST-1",
        subject="s",
        description="d",
        preferred_contact=ContactPreference(method="sms"),
        policy="CN-2020",
    )
)


def _after(*events: object) -> object:
    return given(contact, REGISTERED, *[env(e, step="contact") for e in events])


def test_a_registered_case_is_assigned_with_a_first_contact_deadline_and_the_customers_preference() -> None:
    events = when(contact, contact.State(), REGISTERED)
    assert types(events) == ["CaseAssigned", "ContactPreferenceSet"]
    assigned = events[0]
    assert isinstance(assigned, CaseAssigned) and assigned.reason == "rota"
    assert (assigned.first_contact_due_at - T0).total_seconds() == 24 * 3600


def test_whoever_takes_the_case_first_stays_responsible() -> None:
    state = _after(
        CaseAssigned(handler_id="H-001", team="retail", first_contact_due_at=T0, reason="first_taker")
    )
    events = when(contact, state, cmd(TakeCase(team="cards"), actor=Actor(kind="staff", id="H-003")))
    assert isinstance(events[0], CommandRejected) and "already taken by H-001" in events[0].reason


def test_staff_with_a_conflict_of_interest_are_never_assigned() -> None:
    state = _after(CaseAssigned(handler_id="H-001", team="retail", first_contact_due_at=T0, reason="rota"))
    events = when(contact, state, cmd(DeclareConflict(staff_id="H-001", reason="relative of the customer")))
    assert types(events) == ["ConflictOfInterestDeclared", "CaseAssigned"]
    assert events[1].handler_id != "H-001"  # type: ignore[attr-defined]
    state = _after(
        CaseAssigned(handler_id="H-002", team="retail", first_contact_due_at=T0, reason="rota"), *events[:1]
    )
    refused = when(contact, state, cmd(TakeCase(team="retail"), actor=Actor(kind="staff", id="H-001")))
    assert types(refused) == ["CommandRejected"]


def test_the_customer_can_change_their_contact_preference_and_attempts_respect_it() -> None:
    state = _after()
    changed = when(
        contact,
        state,
        cmd(SetContactPreference(preference=ContactPreference(method="email")), actor=CUSTOMER),
    )
    assert changed[0].set_by == "customer"  # type: ignore[attr-defined]
    state = _after(*changed)
    attempt = when(contact, state, cmd(RecordContactAttempt(method="phone", outcome="no_answer")))
    assert attempt[0].within_preference is False and attempt[0].attempt == 1  # type: ignore[attr-defined]


def test_what_was_learned_is_recorded_only_after_the_customer_was_reached() -> None:
    refused = when(contact, _after(), cmd(RecordFacts(summary="cash flow")))
    assert types(refused) == ["CommandRejected"]
    reached = when(contact, _after(), cmd(RecordContactAttempt(method="sms", outcome="reached")))
    state = _after(*reached)
    assert types(when(contact, state, cmd(RecordFacts(summary="cash flow", hardship_cause="market")))) == [
        "FactsLearned"
    ]


def test_acting_on_a_closed_case_is_rejected() -> None:
    state = given(contact, REGISTERED, env(CaseClosed(outcome="resolved"), step="evaluation"))
    events = when(contact, state, cmd(RecordContactAttempt(method="sms", outcome="reached")))
    assert isinstance(events[0], CommandRejected) and "closed" in events[0].reason


def test_the_ledger_reading_recorded_with_the_facts_travels_on_with_its_account_masked() -> None:
    from tests.unit.steps.test_planning import ledger

    reached = when(contact, _after(), cmd(RecordContactAttempt(method="sms", outcome="reached")))
    reading = ledger("5000.00")
    learned = when(contact, _after(*reached), cmd(RecordFacts(summary="cash flow", ledger=reading)))
    assert types(learned) == ["FactsLearned"] and learned[0].ledger == reading  # type: ignore[attr-defined]
    assert learned[0].ledger.account == "****4567"  # type: ignore[attr-defined]
