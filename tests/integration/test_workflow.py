"""The workflow on the real broker, each step its own process (`accord run <step>`), as in
production: three channels to closed cases, hostile input, duplicates, and crashes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from kafka import TopicPartition

from events.base import Actor, Money
from events.codec import DecodeError, decode, encode, header
from events.commands import (
    AcceptPlan,
    ConfirmRedress,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    RecordSatisfaction,
)
from events.envelope import Envelope
from events.submission import ComplaintSubmission
from events.topics import REJECTED, STEP_TOPICS, SUBMITTED
from services import clients, processes, publish
from services.settings import Settings
from services.steps.intake import case_id_for
from tests.integration.test_workflow_in_process import reading

RUN = uuid.uuid4().hex[:6]


def complaint(n: str, channel: str, **changes: object) -> ComplaintSubmission:
    body = {
        "submission_id": f"{channel}-{RUN}-{n}",
        "channel": channel,
        "submitted_at": datetime.now(UTC).isoformat(),
        "customer_id": f"C-{RUN}-{n}",
        "customer": {"name": "刘洋", "phone": "+86 139 0000 2222"},
        "product": "Account fee",
        "subject": "Fee charged twice",
        "description": "重复扣费",
        "amount_disputed": {"amount": "50.00"},
        **changes,
    }
    return decode(ComplaintSubmission, json.dumps(body).encode())


def submit(live_producer, submission: ComplaintSubmission) -> str:
    publish.send(live_producer, submission, live_producer.keys).get(timeout=30)
    return case_id_for(submission)


def act(live_producer, case: str, body: object, actor: Actor) -> None:
    publish.send(live_producer, publish.command(case, body, actor)).get(timeout=30)  # type: ignore[arg-type]


def test_complaints_from_all_three_channels_reach_a_closed_case_with_satisfaction(
    live_producer, watcher
) -> None:
    subs = [
        complaint("h", "hotline"),
        complaint("b", "branch", staff_id="H-009", branch_id="BR-9"),
        complaint(
            "a",
            "app",
            product="Credit card",
            subject="Cannot repay my card",
            amount_disputed={"amount": "3000.00"},
        ),
    ]
    cases = [submit(live_producer, s) for s in subs]
    for case, sub in zip(cases, subs, strict=True):
        handler = Actor(kind="staff", id=watcher.wait(case, "CaseAssigned").event.handler_id)  # type: ignore[union-attr]
        customer = Actor(kind="customer", id=sub.customer_id)
        act(live_producer, case, RecordContactAttempt(method="phone", outcome="reached"), handler)
        watcher.wait(case, "ContactAttempted")
        act(
            live_producer,
            case,
            RecordFacts(
                summary="learned", monthly_capacity=Money(amount=Decimal("300")), ledger=reading("3000.00")
            ),
            handler,
        )
        plan = watcher.wait(case, "PlanOffered")
        proposed = watcher.wait(case, "PlanProposed").event
        act(live_producer, case, AcceptPlan(plan_id=plan.event.plan_id), customer)  # type: ignore[union-attr]
        started = watcher.wait(case, "ExecutionStarted").event
        if started.plan_kind == "repayment_restructuring":  # type: ignore[union-attr]
            act(
                live_producer,
                case,
                RecordPayment(
                    payment_id=f"P-{case}",
                    amount=proposed.terms.balance,  # type: ignore[union-attr]
                    paid_at=datetime.now(UTC),
                ),
                customer,
            )
        else:
            paid = watcher.wait(case, "RedressPaid").event
            act(
                live_producer, case, ConfirmRedress(reference=paid.reference), Actor(kind="staff", id="FIN-1")
            )  # type: ignore[union-attr]
        survey = watcher.wait(case, "SurveySent").event
        act(live_producer, case, RecordSatisfaction(survey_id=survey.survey_id, csat=5, nps=9), customer)  # type: ignore[union-attr]
        watcher.wait(case, "CaseClosed")
        assert watcher.latest(case, "SatisfactionRecorded").event.csat == 5  # type: ignore[union-attr]
        assert watcher.types(case).count("ComplaintRegistered") == 1


def test_hostile_submissions_are_rejected_and_the_valid_ones_around_them_are_unaffected(
    running, live_producer, watcher
) -> None:
    good_before, good_after = complaint("g1", "app"), complaint("g2", "branch")
    hostile = [
        b"{not json at all",
        json.dumps({"channel": "app", "subject": 42}).encode(),
        encode(complaint("x", "app")).replace(b'"app"', b'"fax"', 1),
        json.dumps(
            {**json.loads(encode(complaint("big", "app"))), "description": "长" * 330_000}, ensure_ascii=False
        ).encode(),  # a 1 MB description
        encode(complaint("ctl", "app")).replace("重复扣费".encode(), b"\\u0000\\u001b[31m"),
        b"\x00\xff\xfe binary",
    ]
    submit(live_producer, good_before)
    for i, raw in enumerate(hostile):
        live_producer.send(SUBMITTED.name, key=f"hostile-{RUN}-{i}".encode(), value=raw)
    live_producer.flush()
    submit(live_producer, good_after)
    for sub in (good_before, good_after):
        watcher.wait(case_id_for(sub), "ComplaintClassified")

    reader = clients.consumer(running)
    parts = [TopicPartition(REJECTED.name, p) for p in reader.partitions_for_topic(REJECTED.name)]
    reader.assign(parts)
    reader.seek_to_beginning(*parts)
    found: dict[bytes, tuple[bytes, str]] = {}
    deadline = time.monotonic() + 30
    while len(found) < len(hostile) and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=500).values():
            for r in records:
                if r.key and r.key.startswith(f"hostile-{RUN}".encode()):
                    found[r.key] = (r.value, header(r.headers, "error") or "")
    reader.close()
    assert len(found) == len(hostile)
    for i, raw in enumerate(hostile):
        value, error = found[f"hostile-{RUN}-{i}".encode()]
        assert value == raw and error.startswith("invalid submission") and "刘洋" not in error


def test_the_same_submission_sent_twice_opens_one_case(live_producer, watcher) -> None:
    sub = complaint("twice", "hotline")
    submit(live_producer, sub)
    submit(live_producer, sub)
    case = case_id_for(sub)
    watcher.wait(case, "CaseAssigned")
    time.sleep(2)
    watcher.poll()
    assert watcher.types(case).count("ComplaintRegistered") == 1


def _all_events(settings: Settings) -> list[Envelope]:
    """Every record of every step topic, from offset 0 to the end, duplicates included."""
    reader = clients.consumer(settings)
    parts = [
        TopicPartition(t.name, p) for t in STEP_TOPICS.values() for p in reader.partitions_for_topic(t.name)
    ]
    reader.assign(parts)
    reader.seek_to_beginning(*parts)
    ends = reader.end_offsets(parts)
    out: list[Envelope] = []
    deadline = time.monotonic() + 60
    while any(reader.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=500).values():
            for r in records:
                with contextlib.suppress(DecodeError):  # junk forged by the audit tests is no event
                    out.append(decode(Envelope, r.value))
    reader.close()
    return out


def test_a_step_killed_between_recording_and_publishing_loses_and_duplicates_nothing(
    running, live_producer, watcher
) -> None:
    # intake dies (SIGKILL, injected) right after recording its 10th input, before publishing;
    # contact is killed from outside in the middle of the stream.
    processes.stop(running, "intake")
    processes.start(running, "intake", env={"ACCORD_FAULT_KILL_AFTER_RECORDS": "10"})
    subs = [complaint(f"crash{n}", ("hotline", "branch", "app")[n % 3]) for n in range(40)]
    for sub in subs[:20]:
        submit(live_producer, sub)
    deadline = time.monotonic() + 60
    while processes.running(running, "intake") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes.running(running, "intake") is None, "the fault injection did not kill intake"
    contact_pid = processes.running(running, "contact")
    assert contact_pid
    for sub in subs[20:]:
        submit(live_producer, sub)
    os.kill(contact_pid, signal.SIGKILL)
    time.sleep(0.5)
    processes.start(running, "intake")
    processes.start(running, "contact")

    cases = [case_id_for(s) for s in subs]
    for case in cases:
        watcher.wait(case, "CaseAssigned", timeout_s=90)
        watcher.wait(case, "DeadlineStarted", timeout_s=90)
    time.sleep(3)  # let anything duplicated arrive before counting

    events = [e for e in _all_events(running) if e.case_id in set(cases)]
    ids = Counter(e.event_id for e in events)
    assert [i for i, n in ids.items() if n > 1] == [], "an event was published twice"
    per_case = Counter((e.case_id, e.event.type) for e in events)  # type: ignore[union-attr]
    for case in cases:
        assert per_case[(case, "ComplaintRegistered")] == 1
        assert per_case[(case, "ComplaintClassified")] == 1
        assert per_case[(case, "CaseAssigned")] == 1
        assert per_case[(case, "DeadlineStarted")] == 2  # decision and first contact
    chains: dict[tuple[str, str], list[int]] = {}
    for e in events:
        chains.setdefault((e.step, e.case_id), []).append(e.sequence)
    assert all(sorted(seq) == list(range(1, len(seq) + 1)) for seq in chains.values())
