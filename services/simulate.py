"""`accord simulate --cfpb PATH`: replays real US CFPB complaints through the workflow and
checks the reporting against the CSV. Each row becomes a submission on the channel its
"Submitted via" maps to, dated when it was received; a scripted handler and customer then
play the row's recorded outcome (see docs/cfpb.md). Run the services with ACCORD_CLOCK=message
so every decision is dated in the row's own history. CFPB rows carry no balances or amounts:
when planning asks for a ledger reading (FactsRequested), the scripted handler records
SIMULATED_LEDGER, and the run says so."""

from __future__ import annotations

import csv
import json
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from events.base import Actor, Money
from events.codec import DecodeError, decode
from events.commands import (
    AcceptPlan,
    ApprovePlan,
    ConfirmRedress,
    EscalateCase,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    RecordSatisfaction,
)
from events.envelope import Envelope
from events.facts import LedgerReading
from events.submission import ComplaintSubmission
from events.topics import STEP_TOPICS
from projections import report
from projections.store import ViewStore
from services import clients, publish
from services.rules.cfpb import CHANNELS
from services.rules.classification import PRODUCTS
from services.settings import Settings
from services.steps.intake import case_id_for

STAFF, SUPERVISOR, FINANCE = (Actor(kind="staff", id=i) for i in ("CFPB-H1", "CFPB-SUP", "CFPB-FIN"))
# The CFPB data has no balances, rates or amounts. The simulation's stand-in ledger reading,
# recorded only where the plan policy asks for one and announced when a run starts: the
# simulation's own figures, in US dollars, never a bank's.
SIMULATED_LEDGER = {
    "balance": "5000.00",
    "principal": "4500.00",
    "interest": "400.00",
    "fees": "100.00",
    "annual_rate": "0.05",
    "disputed": "35.00",
    "currency": "USD",
}


@dataclass(frozen=True)
class Row:
    complaint_id: str
    received: datetime
    product: str
    channel: str
    response: str
    timely: bool
    disputed: str  # "Yes", "No", "N/A" or ""
    issue: str
    narrative: str

    @property
    def case_id(self) -> str:
        return case_id_for(self.submission())

    def ledger(self, at: datetime) -> LedgerReading:
        """SIMULATED_LEDGER, for this row's product, as read at `at`."""
        figures = {k: v for k, v in SIMULATED_LEDGER.items() if k not in ("currency", "annual_rate")}
        money = {
            k: Money(amount=Decimal(v), currency=SIMULATED_LEDGER["currency"]) for k, v in figures.items()
        }
        product = re.sub(r"[^A-Za-z0-9]+", "-", self.product).strip("-")[:60] or "unknown"
        return LedgerReading(
            as_of=at.date(),
            product=product,
            annual_rate=Decimal(SIMULATED_LEDGER["annual_rate"]),
            **cast(dict[str, Any], money),
        )

    def submission(self) -> ComplaintSubmission:
        body = {
            "submission_id": f"CFPB-{self.complaint_id}",
            "channel": self.channel,
            "submitted_at": self.received.isoformat(),
            "customer_id": f"CFPB-C{self.complaint_id}",
            "product": self.product[:200],
            "subject": (self.issue or "complaint")[:200].replace("\n", " "),
            "description": (self.narrative or self.issue)[:20_000],
            "language": "en",
        }
        return decode(ComplaintSubmission, json.dumps(body).encode())


def rows(path: Path, limit: int | None = None) -> list[Row]:
    out = []
    with open(path, encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            out.append(
                Row(
                    complaint_id=record["Complaint ID"],
                    received=datetime.fromisoformat(record["Date received"]).replace(hour=9, tzinfo=UTC),
                    product=record["Product"],
                    channel=CHANNELS.get(record["Submitted via"], "app"),
                    response=record["Company response to consumer"],
                    timely=record["Timely response?"] == "Yes",
                    disputed=record["Consumer disputed?"],
                    issue=record["Issue"],
                    narrative=record["Consumer complaint narrative"],
                )
            )
            if limit and len(out) >= limit:
                break
    return out


def expected(data: list[Row]) -> dict[str, Any]:
    """The figures straight from the CSV, for comparison with the report."""
    disputed = Counter(r.disputed for r in data)
    answered = disputed["Yes"] + disputed["No"]
    return {
        "cases": len(data),
        "by_product": dict(sorted(Counter(r.product for r in data).items())),
        "by_channel": dict(sorted(Counter(r.channel for r in data).items())),
        "on_time_rate": round(sum(r.timely for r in data) / len(data), 4),
        "dispute_rate": round(disputed["Yes"] / answered, 4) if answered else None,
    }


# Plan effectiveness figures the CSV can vouch for, by category (each category gets one plan type).
PLAN_FIGURES = (
    "cases",
    "acceptance_rate",
    "rounds_to_acceptance_avg",
    "repayment_default_rate",
    "reopen_rate",
    "escalation_rate",
    "csat_avg",
    "nps",
    "on_time_rate",
)


def expected_plans(data: list[Row]) -> dict[str, dict[str, Any]]:
    """The plan-effectiveness report by category, straight from the CSV under the mapping of
    docs/cfpb.md: every response but "In progress" is an accepted first offer (a repayment plan
    paid in full), "Consumer disputed?" Yes is CSAT 1, NPS 0 and an escalation, No is CSAT 4, NPS 8."""
    groups: dict[str, list[Row]] = {}
    for r in data:
        groups.setdefault(PRODUCTS.get(r.product.strip().lower(), "other"), []).append(r)
    out = {}
    for category, rows_ in sorted(groups.items()):
        n = len(rows_)
        accepted = sum(1 for r in rows_ if r.response != "In progress")
        yes = sum(1 for r in rows_ if r.disputed == "Yes")
        no = sum(1 for r in rows_ if r.disputed == "No")
        repayment = category in ("credit_and_loan_repayment", "credit_card") and accepted
        out[category] = {
            "cases": n,
            "acceptance_rate": round(accepted / n, 4),
            "rounds_to_acceptance_avg": 1.0 if accepted else None,
            "repayment_default_rate": 0.0 if repayment else None,
            "reopen_rate": 0.0,
            "escalation_rate": round(yes / n, 4),
            "csat_avg": round((yes * 1 + no * 4) / (yes + no), 3) if yes + no else None,
            "nps": round(100 * (0 - yes) / (yes + no), 1) if yes + no else None,
            "on_time_rate": round(sum(r.timely for r in rows_) / n, 4),
        }
    return out


def observed_plans(views: list[dict]) -> dict[str, dict[str, Any]]:
    """`accord report --by plan`, keyed by category (its groups are plan type/category)."""
    out: dict[str, dict[str, Any]] = {}
    for group, f in report.compute(views, ["plan"])["plan"].items():
        category = group.split("/")[-1]
        if category in out:
            raise AssertionError(f"category {category} got more than one plan type")
        out[category] = {name: f[name] for name in PLAN_FIGURES}
    return out


def observed(views: list[dict]) -> dict[str, Any]:
    figures = report.compute(views, ["overall", "product", "channel"])
    overall = figures["overall"].get("all", {"cases": 0, "on_time_rate": None, "dispute_rate": None})
    return {
        "cases": overall["cases"],
        "by_product": {k: v["cases"] for k, v in figures["product"].items()},
        "by_channel": {k: v["cases"] for k, v in figures["channel"].items()},
        "on_time_rate": overall["on_time_rate"],
        "dispute_rate": overall["dispute_rate"],
    }


class Driver:
    """Plays each row's recorded outcome by reacting to the case's events with commands."""

    def __init__(self, settings: Settings, data: list[Row]) -> None:
        self.by_case = {r.case_id: r for r in data}
        self.producer = clients.producer(settings, linger_ms=20)
        self.reader = clients.TopicReader(
            settings, [t.name for t in STEP_TOPICS.values()], client_id="accord-simulate"
        )
        self.done: set[str] = set()
        self.balances: dict[str, Any] = {}
        self.acted: set[tuple[str, str]] = set()

    def act(self, case: str, command: Any, actor: Actor, at: datetime, tag: str) -> None:
        if (case, tag) in self.acted:
            return  # the same event seen twice (a republish) gets one answer
        self.acted.add((case, tag))
        command_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{tag}")
        publish.send(self.producer, publish.command(case, command, actor, at, command_id))

    def react(self, e: Envelope) -> None:
        row = self.by_case.get(e.case_id)
        if row is None:
            return
        case, at = e.case_id, e.occurred_at
        event: Any = e.event  # its type is told by `kind`
        kind = event.type
        customer = Actor(kind="customer", id=f"CFPB-C{row.complaint_id}")
        hour = timedelta(hours=1)
        if kind == "CaseAssigned":
            self.act(
                case,
                RecordContactAttempt(method="phone", outcome="reached"),
                STAFF,
                row.received + hour,
                "contact",
            )
            decided = row.received + (2 * hour if row.timely else timedelta(days=20))
            self.act(
                case, RecordFacts(summary=f"CFPB company response: {row.response}"), STAFF, decided, "facts"
            )
        elif kind == "FactsRequested":
            # The row has no figures: answer with the simulation's stated stand-in reading.
            self.act(
                case,
                RecordFacts(summary="simulated ledger reading", ledger=row.ledger(at)),
                STAFF,
                at,
                "ledger",
            )
        elif kind == "PlanProposed":
            if event.terms.kind == "repayment_restructuring":
                self.balances[case] = event.terms.balance
            if event.needs_approval:
                self.act(case, ApprovePlan(plan_id=event.plan_id), SUPERVISOR, at, "approve")
        elif kind == "PlanOffered":
            if row.response == "In progress":
                self.done.add(case)  # the company had not finished: the offer stays open
            else:
                self.act(case, AcceptPlan(plan_id=event.plan_id), customer, at + hour, "accept")
        elif kind == "ExecutionStarted" and case in self.balances:
            self.act(
                case,
                RecordPayment(
                    payment_id=f"PAY-{row.complaint_id}", amount=self.balances[case], paid_at=at + hour
                ),
                customer,
                at + hour,
                "pay",
            )
        elif kind == "RedressPaid":
            self.act(case, ConfirmRedress(reference=event.reference), FINANCE, at + hour, "confirm")
        elif kind == "SurveySent":
            day = timedelta(days=1)
            if row.disputed == "Yes":
                self.act(
                    case,
                    RecordSatisfaction(survey_id=event.survey_id, csat=1, nps=0),
                    customer,
                    at + day,
                    "survey",
                )
                self.act(
                    case,
                    EscalateCase(to_level="ombudsman", reason="consumer disputed the outcome"),
                    customer,
                    at + day + hour,
                    "escalate",
                )
            elif row.disputed == "No":
                self.act(
                    case,
                    RecordSatisfaction(survey_id=event.survey_id, csat=4, nps=8),
                    customer,
                    at + day,
                    "survey",
                )
            else:
                self.done.add(case)  # no feedback was collected for this row
        elif (kind == "CaseClosed" and row.disputed == "No") or kind == "CaseEscalated":
            self.done.add(case)

    def run(self, timeout_s: float, progress: Callable[[int, int], None]) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.done) < len(self.by_case) and time.monotonic() < deadline:
            for record in self.reader.poll(200, max_records=5000):
                try:
                    self.react(decode(Envelope, record.value))
                except DecodeError:
                    continue
            self.producer.flush()
            progress(len(self.done), len(self.by_case))

    def close(self) -> None:
        self.producer.close()
        self.reader.close()


def _batches(items: list[Row], size: int) -> Iterator[list[Row]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def simulate(
    settings: Settings,
    path: Path,
    limit: int | None = None,
    timeout_s: float = 1800,
    log: Callable[[str], None] = print,
) -> bool:
    data = rows(path, limit)
    log(f"replaying {len(data)} CFPB complaints from {path}")
    log(
        "the CSV has no balances or amounts: where planning asks for a ledger reading the scripted "
        f"handler records the simulation's stand-in {SIMULATED_LEDGER} (see docs/cfpb.md)"
    )
    started = time.monotonic()
    driver = Driver(settings, data)
    try:
        producer = clients.producer(settings, linger_ms=20)
        for batch in _batches(data, 500):
            for row in batch:
                sub = row.submission()
                publish.send(producer, sub)
            producer.flush()
        producer.close()

        shown = [-1, 0.0]

        def progress(done: int, total: int) -> None:
            if done != shown[0] and (time.monotonic() - shown[1] > 1 or done == total):
                sys.stderr.write(f"\r  {done}/{total} complaints played to their recorded outcome")
                sys.stderr.flush()
                shown[:] = [done, time.monotonic()]

        driver.run(timeout_s, progress)
        sys.stderr.write("\n")
    finally:
        driver.close()
    played = time.monotonic() - started
    rate = len(driver.done) / played
    log(f"played {len(driver.done)}/{len(data)} in {played:.0f}s ({rate:.1f} complaints/s)")
    cases = {r.case_id for r in data}
    views = _settled_views(settings, cases, data)
    want = {**expected(data), "plans": expected_plans(data)}
    got = {**observed(views), "plans": observed_plans(views)}
    return compare(want, got, log)


def _settled_views(
    settings: Settings, cases: set[str], data: list[Row], timeout_s: float = 300
) -> list[dict]:
    """The views of the replayed cases once the projection has folded their last events."""
    needs_answer = {r.case_id for r in data if r.disputed in ("Yes", "No") and r.response != "In progress"}
    deadline = time.monotonic() + timeout_s
    while True:
        store = ViewStore.open(settings.data_dir, settings.database_url)
        try:
            views = [v for v in store.all() if v["case_id"] in cases]
        finally:
            store.close()
        decided = sum(1 for v in views if v["deadline"]["on_time"] is not None)
        answered = sum(1 for v in views if v["case_id"] in needs_answer and v["csat"] is not None)
        escalations_pending = any(v["csat"] == 1 and not v["escalated"] for v in views)
        if (
            len(views) == len(cases)
            and decided == len(cases)
            and answered == len(needs_answer)
            and not escalations_pending
        ) or time.monotonic() > deadline:
            return views
        time.sleep(1)


def compare(want: dict[str, Any], got: dict[str, Any], log: Callable[[str], None]) -> bool:
    ok = True
    log(f"{'figure':40} {'from the CSV':>14} {'from the report':>16}")
    for name in ("cases", "on_time_rate", "dispute_rate"):
        same = want[name] == got[name]
        ok &= same
        log(f"{name:40} {want[name]!s:>14} {got[name]!s:>16}  {'ok' if same else 'DIFFERENT'}")
    for group in ("by_channel", "by_product"):
        for key in sorted(set(want[group]) | set(got[group])):
            a, b = want[group].get(key, 0), got[group].get(key, 0)
            ok &= a == b
            log(f"{(group[3:] + ': ' + key)[:40]:40} {a!s:>14} {b!s:>16}  {'ok' if a == b else 'DIFFERENT'}")
    for category in sorted(set(want.get("plans", {})) | set(got.get("plans", {}))):
        mine, theirs = want["plans"].get(category, {}), got["plans"].get(category, {})
        for name in PLAN_FIGURES:
            a, b = mine.get(name), theirs.get(name)
            ok &= a == b
            label = f"plan {category[:18]}: {name}"[:40]
            log(f"{label:40} {a!s:>14} {b!s:>16}  {'ok' if a == b else 'DIFFERENT'}")
    log("all figures match" if ok else "SOME FIGURES DIFFER")
    return ok
