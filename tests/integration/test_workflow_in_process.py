"""The whole workflow through the real runners and their real SQLite stores, with Kafka
replaced by an in-process bus: three channels to closed cases, redeliveries, duplicates,
hostile input, and the hash chain. Fast enough to cover many paths."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from events.base import Actor, Money
from events.codec import content_hash, decode, encode
from events.commands import (
    AcceptPlan,
    ConfirmRedress,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    RecordSatisfaction,
)
from events.envelope import Envelope
from events.facts import LedgerReading, mask_account
from events.personal import SealedPersonalData
from events.submission import ComplaintSubmission
from events.topics import REJECTED, SUBMITTED
from services.privacy import KeyStore
from services.steps.intake import case_id_for
from tests.bus import Bus

CUSTOMER_FIELDS = {"name": "张伟", "phone": "+86 138 0000 0000"}


def complaint(n: int, channel: str = "app", **changes: object) -> dict:
    return {
        "submission_id": f"{channel}-{n}",
        "channel": channel,
        "submitted_at": "2026-03-02T08:00:00Z",
        "customer_id": f"CUST-{n}",
        "customer": CUSTOMER_FIELDS,
        "product": "Checking account fee",
        "subject": "Fee charged twice",
        "description": "重复扣费 ✓",
        "amount_disputed": {"amount": "30.00"},
        **changes,
    }


def case_of(body: dict) -> str:
    return case_id_for(decode(ComplaintSubmission, json.dumps(body).encode()))


def reading(balance: str = "6000.00", product: str = "TEST-1") -> LedgerReading:
    """What a handler reads from the ledger: 90% principal, 8% interest, 2% fees of the balance."""
    total = Decimal(balance)
    interest, fees = (
        (total * Decimal("0.08")).quantize(Decimal("0.01")),
        (total * Decimal("0.02")).quantize(Decimal("0.01")),
    )
    return LedgerReading(
        as_of=date(2026, 3, 1),
        product=product,
        account=mask_account("6222 0000 0000 0001"),
        balance=Money(amount=total),
        principal=Money(amount=total - interest - fees),
        interest=Money(amount=interest),
        fees=Money(amount=fees),
        annual_rate=Decimal("0.04"),
    )


def drive_to_closed(bus: Bus, body: dict) -> str:
    case = case_of(body)
    handler = Actor(
        kind="staff", id=next(e for e in bus.events(case) if e.event.type == "CaseAssigned").event.handler_id
    )  # type: ignore[union-attr]
    customer = Actor(kind="customer", id=body["customer_id"])
    bus.act(case, RecordContactAttempt(method="phone", outcome="reached"), handler)
    learned = RecordFacts(summary="learned", monthly_capacity=Money(amount=Decimal("500")), ledger=reading())
    bus.act(case, learned, handler)
    plan = next(e for e in bus.events(case) if e.event.type == "PlanProposed")
    bus.act(case, AcceptPlan(plan_id=plan.event.plan_id), customer)  # type: ignore[union-attr]
    if plan.event.terms.kind == "repayment_restructuring":  # type: ignore[union-attr]
        bus.act(
            case,
            RecordPayment(
                payment_id=f"PAY-{case}",
                amount=plan.event.terms.balance,  # type: ignore[union-attr]
                paid_at=bus.clock.now(),
            ),
            customer,
        )
    paid = [e for e in bus.events(case) if e.event.type == "RedressPaid"]
    if paid:
        bus.act(case, ConfirmRedress(reference=paid[0].event.reference), Actor(kind="staff", id="FIN-1"))  # type: ignore[union-attr]
    survey = next(e for e in bus.events(case) if e.event.type == "SurveySent")
    bus.act(case, RecordSatisfaction(survey_id=survey.event.survey_id, csat=4, nps=8), customer)  # type: ignore[union-attr]
    return case


@pytest.fixture
def bus(tmp_path) -> Bus:
    return Bus(tmp_path)


def test_complaints_from_all_three_channels_reach_a_closed_case_with_satisfaction(bus: Bus) -> None:
    bodies = [
        complaint(1, "hotline"),
        complaint(2, "branch", staff_id="H-004", branch_id="BR-1"),
        complaint(
            3, "app", product="Credit card", subject="Cannot repay", amount_disputed={"amount": "6000.00"}
        ),
    ]
    for body in bodies:
        bus.submit(body)
    for body in bodies:
        case = drive_to_closed(bus, body)
        kinds = bus.types(case)
        assert kinds.count("ComplaintRegistered") == 1
        assert "SatisfactionRecorded" in kinds and kinds[-1] in ("CaseClosed", "DeadlineMet")
        assert "CaseClosed" in kinds


def test_the_same_submission_sent_twice_opens_one_case(bus: Bus) -> None:
    body = complaint(7)
    bus.submit(body)
    bus.submit(body)  # re-sent by the channel: a new offset, the same submission
    assert bus.types(case_of(body)).count("ComplaintRegistered") == 1
    assert len([e for e in bus.log if e.event.type == "ComplaintRegistered"]) == 1


def test_a_redelivered_record_has_no_second_effect(bus: Bus) -> None:
    body = complaint(8)
    bus.submit(body)
    before = len(bus.log)
    bus.redeliver(SUBMITTED.name, 0)  # the same record at the same offset, as after a rebalance
    assert len(bus.log) == before
    bus.redeliver("negotiation.intake", 0)  # and an upstream event delivered twice
    assert len(bus.log) == before


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{broken json", "not valid JSON"),
        (json.dumps(complaint(20, channel="fax")).encode(), "channel"),
        (
            json.dumps({**complaint(21), "amount_disputed": {"amount": "twelve"}}).encode(),
            "amount_disputed.amount",
        ),
        (
            json.dumps({k: v for k, v in complaint(22).items() if k != "subject"}).encode(),
            "subject: field required",
        ),
        (json.dumps(complaint(23, description="x" * 1_000_000)).encode(), "at most 20000 characters"),
        (json.dumps(complaint(24, subject="bell\x07")).encode(), "control characters"),
        (b"", "empty message"),
    ],
)
def test_hostile_submissions_are_rejected_with_the_original_bytes_and_the_valid_ones_go_on(
    bus: Bus, raw: bytes, reason: str
) -> None:
    bus.submit(complaint(30))
    bus.publish(SUBMITTED.name, b"k", raw)
    bus.submit(complaint(31))
    rejected = bus.topics[REJECTED.name]
    assert len(rejected) == 1
    _, value, headers = rejected[0]
    assert value == raw
    error = dict(headers)["error"].decode()
    assert reason in error and "张伟" not in error
    assert dict(headers)["source-topic"] == SUBMITTED.name.encode()
    assert {e.case_id for e in bus.log if e.event.type == "ComplaintRegistered"} == {
        case_of(complaint(30)),
        case_of(complaint(31)),
    }


def test_chinese_text_and_emoji_are_accepted(bus: Bus) -> None:
    body = complaint(40, subject="信用卡年费重复收取 😡", description="客户称：年费被扣两次，要求退款。🙏")
    bus.submit(body)
    registered = next(e for e in bus.events(case_of(body)) if e.event.type == "ComplaintRegistered")
    assert registered.event.description == body["description"]  # type: ignore[union-attr]


def test_each_steps_events_for_a_case_are_hash_linked_and_numbered(bus: Bus) -> None:
    body = complaint(50)
    bus.submit(body)
    case = drive_to_closed(bus, body)
    by_step: dict[str, list[Envelope]] = {}
    for envelope in bus.events(case):
        by_step.setdefault(envelope.step, []).append(envelope)
    for step, chain in by_step.items():
        assert [e.sequence for e in chain] == list(range(1, len(chain) + 1)), step
        assert chain[0].prev_hash is None
        for previous, current in zip(chain, chain[1:], strict=False):
            assert current.prev_hash == content_hash(encode(previous)), step
        assert all(e.cause_hash for e in chain)
        assert all(e.customer_id == body["customer_id"] for e in chain)


def test_personal_data_sent_in_the_clear_is_sealed_on_arrival_and_kept_nowhere_in_plain(bus: Bus) -> None:
    body = complaint(60, description="张伟 was charged twice; call +86 138 0000 0000")
    bus.submit(body)  # a channel that did not seal: the runtime seals before deciding or storing
    registered = next(e for e in bus.events(case_of(body)) if e.event.type == "ComplaintRegistered")
    assert isinstance(registered.personal, SealedPersonalData)
    assert KeyStore(bus.settings).unseal(registered.personal).name == "张伟"
    assert registered.event.description == "XXXX was charged twice; call XXXX"  # type: ignore[union-attr]
    published = [v for topic, items in bus.topics.items() if topic != SUBMITTED.name for _, v, _ in items]
    stores = [path.read_bytes() for path in (bus.settings.data_dir / "steps").glob("*.db*")]
    for blob in published + stores:
        assert "张伟".encode() not in (blob or b"") and b"138 0000" not in (blob or b"")


def test_a_restarted_runner_continues_from_its_store(tmp_path) -> None:
    first = Bus(tmp_path)
    body = complaint(70)
    first.submit(body)
    case = case_of(body)
    # A new process: fresh runners, the same stores; it must remember the case.
    second = Bus(tmp_path)
    second.continue_from(first)
    handler = next(e for e in second.events(case) if e.event.type == "CaseAssigned").event.handler_id  # type: ignore[union-attr]
    second.act(case, RecordContactAttempt(method="sms", outcome="reached"), Actor(kind="staff", id=handler))
    attempts = [e for e in second.events(case) if e.event.type == "ContactAttempted"]
    assert len(attempts) == 1 and attempts[0].sequence == 2  # contact's second event for the case
