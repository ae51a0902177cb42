"""Throughput of the whole workflow: N complaints from the three channels driven to closed
cases by a scripted handler and customer that react to events, against the real services.

    python -m bench.pipeline --cases 300        # needs `accord broker start` first

Prints cases/s and events/s from the first submission to the last CaseClosed."""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from events.base import Actor, Money
from events.codec import decode
from events.commands import (
    AcceptPlan,
    ConfirmRedress,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    RecordSatisfaction,
)
from events.envelope import Envelope
from events.facts import LedgerReading
from events.submission import ComplaintSubmission
from events.topics import STEP_TOPICS
from projections.store import ViewStore
from services import broker, clients, processes, publish, topics
from services.privacy import KeyStore
from services.settings import Settings

KINDS = [
    ("Account fee", "Fee charged twice", "40.00"),
    ("Wealth management product", "Return lower than expected", "5000.00"),
    ("Credit card", "Cannot repay my card", "2400.00"),
]


SAMPLE_REFERENCE = Path(__file__).resolve().parent.parent / "deploy" / "reference" / "sample.json"


def ledger(customer_id: str) -> LedgerReading:
    """The bench's own ledger reading for a complaint (its amount split 94/5/1), not a bank's."""
    product, _, amount = KINDS[int(customer_id.rsplit("-", 1)[1]) % 3]
    if product.startswith("Wealth"):
        return LedgerReading(as_of=date.today(), product="WM-SAMPLE-BAL")
    total = Decimal(amount)
    interest, fees = total * Decimal("0.05"), total * Decimal("0.01")
    parts = {"principal": total - interest - fees, "interest": interest, "fees": fees}
    return LedgerReading(
        as_of=date.today(),
        product="BENCH",
        balance=Money(amount=total),
        annual_rate=Decimal("0.05"),
        **{k: Money(amount=v.quantize(Decimal("0.01"))) for k, v in parts.items()},
    )


def submissions(n: int, run: str) -> list[ComplaintSubmission]:
    out = []
    for i in range(n):
        product, subject, amount = KINDS[i % 3]
        body = {
            "submission_id": f"B{run}-{i}",
            "channel": ("hotline", "branch", "app")[i % 3],
            "submitted_at": datetime.now(UTC).isoformat(),
            "customer_id": f"BC{run}-{i}",
            "customer": {"name": "测试客户"},
            "product": product,
            "subject": subject,
            "description": f"benchmark complaint {i}",
            "amount_disputed": {"amount": amount},
        }
        out.append(decode(ComplaintSubmission, json.dumps(body).encode()))
    return out


def run(settings: Settings, n: int, timeout_s: float) -> dict[str, float]:
    run_id = uuid.uuid4().hex[:6]
    producer = clients.producer(settings, linger_ms=10)
    reader = clients.consumer(settings, client_id="bench-driver")
    parts = [
        TopicPartition(t.name, p)
        for t in STEP_TOPICS.values()
        for p in sorted(reader.partitions_for_topic(t.name) or [])
    ]
    reader.assign(parts)
    for tp, end in reader.end_offsets(parts).items():
        reader.seek(tp, end)
    staff, finance = Actor(kind="staff", id="H-001"), Actor(kind="staff", id="FIN-1")

    def act(case: str, body: object, actor: Actor) -> None:
        publish.send(producer, publish.command(case, body, actor))  # type: ignore[arg-type]

    subs = submissions(n, run_id)
    customers: dict[str, Actor] = {}
    balances: dict[str, Money] = {}
    closed: set[str] = set()
    events = 0
    started = time.perf_counter()
    keys = KeyStore(settings)
    # The wealth complaints' explanations cite the sample reference data (refused if loaded before).
    publish.send(producer, publish.reference(SAMPLE_REFERENCE, staff))
    for sub in subs:
        publish.send(producer, sub, keys)  # a channel seals each customer's name
    producer.flush()
    deadline = time.monotonic() + timeout_s
    while len(closed) < n and time.monotonic() < deadline:
        for records in reader.poll(timeout_ms=100, max_records=2000).values():
            for record in records:
                e = decode(Envelope, record.value)
                if not (e.customer_id or "").startswith(f"BC{run_id}"):
                    continue
                events += 1
                case, event = e.case_id, e.event
                kind = event.type  # type: ignore[union-attr]
                if kind == "ComplaintRegistered":
                    customers[case] = Actor(kind="customer", id=e.customer_id or "x")
                elif kind == "CaseAssigned":
                    act(case, RecordContactAttempt(method="phone", outcome="reached"), staff)
                    act(
                        case,
                        RecordFacts(
                            summary="learned",
                            monthly_capacity=Money(amount=Decimal("200")),
                            ledger=ledger(e.customer_id or ""),
                        ),
                        staff,
                    )
                elif kind == "PlanProposed" and event.terms.kind == "repayment_restructuring":  # type: ignore[union-attr]
                    balances[case] = event.terms.balance  # type: ignore[union-attr]
                elif kind == "PlanOffered":
                    act(case, AcceptPlan(plan_id=event.plan_id), customers[case])  # type: ignore[union-attr]
                elif kind == "ExecutionStarted" and case in balances:
                    act(
                        case,
                        RecordPayment(
                            payment_id=f"P{case}", amount=balances[case], paid_at=datetime.now(UTC)
                        ),
                        customers[case],
                    )
                elif kind == "RedressPaid":
                    act(case, ConfirmRedress(reference=event.reference), finance)  # type: ignore[union-attr]
                elif kind == "SurveySent":
                    act(case, RecordSatisfaction(survey_id=event.survey_id, csat=5), customers[case])  # type: ignore[union-attr]
                elif kind == "CaseClosed":
                    closed.add(case)
        producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    reader.close()
    keys.close()
    return {
        "cases": n,
        "closed": len(closed),
        "seconds": round(elapsed, 2),
        "cases_per_second": round(len(closed) / elapsed, 1),
        "events": events,
        "events_per_second": round(events / elapsed, 1),
    }


def latency(settings: Settings, rate: float, seconds: float) -> dict[str, Any]:
    """Submit at a fixed rate, as a channel does (each customer's name sealed with their key);
    time from each submission to its case appearing in the views."""
    run = uuid.uuid4().hex[:6]
    subs = submissions(max(1, int(rate * seconds)), f"L{run}")
    from services.steps.intake import case_id_for

    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        store = ViewStore.open(settings.data_dir, settings.database_url)
        wanted = {case_id_for(s) for s in subs}
        while not done.is_set() and len(seen) < len(wanted):
            now = time.time()
            for (case_id,) in store._read(f"SELECT case_id FROM {store.cases} WHERE opened_at >= '2000'"):
                if case_id in wanted and case_id not in seen:
                    seen[case_id] = now
            time.sleep(0.01)
        store.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    producer = clients.producer(settings, linger_ms=0)
    keys = KeyStore(settings)
    started = time.time()
    for i, sub in enumerate(subs):
        target = started + i / rate
        pause = target - time.time()
        if pause > 0:
            time.sleep(pause)
        sent[case_id_for(sub)] = time.time()
        publish.send(producer, sub, keys)
        producer.flush()
    watcher.join(timeout=120)
    done.set()
    producer.close()
    keys.close()
    lat = sorted((seen[c] - sent[c]) * 1000 for c in seen)
    return {
        "rate_per_second": round(rate, 1),
        "cases": len(subs),
        "appeared": len(lat),
        "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)], 1) if lat else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    settings = Settings.from_env()
    broker.start(settings)
    topics.create(settings)
    local = settings.model_copy(update={"data_dir": Path(tempfile.mkdtemp(prefix="accord-bench-"))})
    processes.up(local)
    try:
        result = run(local, args.cases, args.timeout)
    finally:
        processes.down(local)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
