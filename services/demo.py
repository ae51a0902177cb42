"""`make demo`: three complaints, one per channel, driven through every step to a closed case
by the real services on the real broker, narrating what each step decides. The two worked
cases of the source document are the first two. The figures the offers state come from the
ledger readings the demo's handlers record (DEMO_LEDGER, this demo's own data) and from the
sample reference data set `deploy/reference/sample.json`, which is labelled as a sample."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from events.base import Actor, Money
from events.codec import decode
from events.commands import (
    AcceptPlan,
    ConfirmRedress,
    CounterPlan,
    RecordContactAttempt,
    RecordFacts,
    RecordPayment,
    RecordSatisfaction,
)
from events.facts import REFERENCE_KEY, LedgerReading, mask_account
from events.plans import CounterOffer
from events.submission import ComplaintSubmission
from events.topics import REJECTED, SUBMITTED
from services import audit, broker, clients, privacy, processes, publish, topics
from services.settings import Settings
from services.steps.intake import case_id_for
from services.watch import Watcher

RUN = uuid.uuid4().hex[:6]
SAMPLE_REFERENCE = Path(__file__).resolve().parent.parent / "deploy" / "reference" / "sample.json"


def _cny(amount: str) -> Money:
    return Money(amount=Decimal(amount))


# What the demo's handlers read from the (demo) ledger; a real handler reads the bank's own.
DEMO_LEDGER = {
    "loan": LedgerReading(
        as_of=date.today(),
        product="LOAN-BUSINESS",
        account=mask_account("6222 0210 0000 0101"),
        balance=_cny("240000.00"),
        principal=_cny("228000.00"),
        interest=_cny("9600.00"),
        fees=_cny("2400.00"),
        overdue=_cny("36000.00"),
        annual_rate=Decimal("0.0435"),
    ),
    "wealth": LedgerReading(as_of=date.today(), product="WM-SAMPLE-BAL"),
    "fee": LedgerReading(
        as_of=date.today(),
        product="DEBIT-CARD",
        account=mask_account("6222 0210 0000 0303"),
        disputed=_cny("200.00"),
    ),
}
COMPLAINTS = [
    {
        "submission_id": f"HL-{RUN}-1",
        "channel": "hotline",
        "customer_id": f"ENT-{RUN}",
        "customer": {"name": "华盛贸易有限公司", "phone": "+86 21 5555 0101"},
        "product": "Business loan",
        "subject": "Missed loan repayments after a market swing",
        "description": "市场波动导致流动资金紧张，无法按原计划偿还贷款，希望调整还款安排。",
        "amount_disputed": {"amount": "240000.00"},
    },
    {
        "submission_id": f"APP-{RUN}-2",
        "channel": "app",
        "customer_id": f"CUST-{RUN}",
        "customer": {"name": "陈静", "email": "chen.jing@example.cn"},
        "product": "Wealth management product",
        "subject": "Return lower than expected",
        "description": "理财产品收益低于预期，希望了解原因。",
        "amount_disputed": {"amount": "8000.00"},
    },
    {
        "submission_id": f"BR-{RUN}-3",
        "channel": "branch",
        "customer_id": f"CUST-{RUN}-B",
        "branch_id": "BR-SH-007",
        "staff_id": "H-002",
        "product": "Debit card",
        "subject": "Annual fee charged twice",
        "description": "年费被重复扣收两次。",
        "amount_disputed": {"amount": "200.00"},
    },
]


def run(settings: Settings, say: Callable[[str], None]) -> int:
    say("== Accord demo: three complaints, one per channel, through every step ==")
    broker.start(settings, log=say)
    topics.create(settings)
    for step, pid in processes.up(settings).items():
        say(f"  step {step:11} running (pid {pid})")
    watcher = Watcher(settings)
    producer = clients.producer(settings)
    keys = privacy.KeyStore(settings)
    staff, supervisor = Actor(kind="staff", id="H-001"), Actor(kind="staff", id="SUP-01")
    try:
        submitted = []
        for raw in COMPLAINTS:
            body = {**raw, "submitted_at": datetime.now(UTC).isoformat()}
            submission = decode(ComplaintSubmission, json.dumps(body).encode())
            publish.send(producer, submission, keys)
            submitted.append(submission)
            say(f"\n[{submission.channel}] {submission.subject}")
        producer.send(SUBMITTED.name, key=b"broken", value=b'{"channel": "fax", "subject": 42')
        publish.send(producer, submitted[2], keys)  # the branch re-sends the same complaint
        producer.flush()
        say("\n(also sent: one broken submission, and the branch's complaint a second time)")

        def act(case: str, body: object, actor: Actor) -> None:
            publish.send(producer, publish.command(case, body, actor)).get(timeout=30)  # type: ignore[arg-type]

        operator = Actor(kind="staff", id="OPS-01")
        publish.send(producer, publish.reference(SAMPLE_REFERENCE, operator)).get(timeout=30)

        def show(case: str, *types: str) -> Any:
            event = watcher.wait(case, *types, timeout_s=60).event
            fields = {
                k: v
                for k, v in event.model_dump(mode="json").items()
                if k
                not in (
                    "type",
                    "schema_version",
                    "terms",
                    "rationale",
                    "reasons",
                    "description",
                    "instalments",
                    "market",
                    "products",
                )
            }
            say(f"   {event.type:22} {json.dumps(fields, ensure_ascii=False)[:150]}")
            return event

        say(f"\n-- reference data: {SAMPLE_REFERENCE.name} (a labelled SAMPLE, not market data)")
        show(REFERENCE_KEY, "ReferenceDataLoaded", "CommandRejected")  # rejected: loaded by an earlier run
        cases = [case_id_for(s) for s in submitted]
        for case, submission in zip(cases, submitted, strict=True):
            say(f"\n-- case {case} ({submission.channel}: {submission.subject})")
            show(case, "ComplaintRegistered")
            show(case, "ComplaintClassified")
            show(case, "DeadlineStarted")
            assigned = show(case, "CaseAssigned")
            handler = Actor(kind="staff", id=assigned.handler_id)
            act(case, RecordContactAttempt(method="phone", outcome="reached"), handler)
            show(case, "ContactAttempted")
            show(case, "DeadlineMet")
        # 1. The credit dispute: hardship learned, restructured repayment, a counter, agreement.
        credit, wealth, fee = cases
        credit_handler = Actor(kind="staff", id=watcher.latest(credit, "CaseAssigned").event.handler_id)  # type: ignore[union-attr]
        act(
            credit,
            RecordFacts(
                summary="Working capital short after a market swing; orders recovering",
                hardship_cause="market swing",
                monthly_capacity=Money(amount=Decimal("12000")),
                willing_to_repay=True,
            ),
            credit_handler,
        )
        say(f"\n-- {credit}: the credit dispute (worked case 1)")
        asked = show(credit, "FactsRequested")
        say(f"   planning proposes nothing yet: it waits for {', '.join(asked.missing)}")
        act(credit, RecordFacts(summary="Loan ledger read", ledger=DEMO_LEDGER["loan"]), credit_handler)
        plan = show(credit, "PlanProposed")
        terms = plan.terms
        say(
            f"   offer: {terms.term_months} monthly instalments of {terms.instalments[0].amount.amount} "
            f"{terms.balance.currency}, fees/interest {terms.fees_and_interest}"
        )
        say(
            f"   balance {terms.balance.amount} as the ledger showed it on {terms.balance_as_of}: principal "
            f"{terms.principal.amount}, interest {terms.interest.amount}, fees {terms.fees.amount}"
        )
        show(credit, "PlanOffered")
        customer = Actor(kind="customer", id=submitted[0].customer_id)
        act(
            credit,
            CounterPlan(
                plan_id=plan.plan_id,
                counter=CounterOffer(
                    summary="We can pay 10,000 a month", amount=Money(amount=Decimal("10000"))
                ),
            ),
            customer,
        )
        show(credit, "PlanCountered")
        revised = show(credit, "PlanRevised")
        say(f"   revised: {revised.terms.term_months} months")
        act(credit, AcceptPlan(plan_id=revised.plan_id), customer)
        show(credit, "PlanAccepted")
        show(credit, "ExecutionStarted")
        act(
            credit,
            RecordPayment(
                payment_id=f"PAY-{RUN}",
                amount=revised.terms.balance,
                paid_at=datetime.now(UTC),
            ),
            staff,
        )
        show(credit, "MilestoneReached")
        show(credit, "PlanCompleted")
        # 2. The wealth-management dispute: explanation with market data; the customer keeps it.
        say(f"\n-- {wealth}: the wealth-management dispute (worked case 2)")
        act(
            wealth,
            RecordFacts(summary="Customer expected a fixed return", ledger=DEMO_LEDGER["wealth"]),
            Actor(kind="staff", id=cast(Any, watcher.latest(wealth, "CaseAssigned")).event.handler_id),
        )
        explained = show(wealth, "PlanProposed")
        risk = explained.terms
        say(
            f"   {risk.product_name}: {risk.risk_rating}, {len(risk.market_data)} market figures, from "
            f"{risk.reference.dataset_id} version {risk.reference.version} as of {risk.reference.as_of}"
        )
        act(
            wealth, AcceptPlan(plan_id=explained.plan_id), Actor(kind="customer", id=submitted[1].customer_id)
        )
        show(wealth, "PlanAccepted")
        show(wealth, "PlanCompleted")
        # 3. The fee charged twice: a refund, executed and confirmed.
        say(f"\n-- {fee}: the fee charged twice")
        act(
            fee,
            RecordFacts(summary="Duplicate annual fee confirmed in the ledger", ledger=DEMO_LEDGER["fee"]),
            Actor(kind="staff", id="H-002"),
        )
        refund = show(fee, "PlanProposed")
        act(fee, AcceptPlan(plan_id=refund.plan_id), Actor(kind="customer", id=submitted[2].customer_id))
        paid = show(fee, "RedressPaid")
        act(fee, ConfirmRedress(reference=paid.reference), supervisor)
        show(fee, "PlanCompleted")
        say("\n-- effect evaluation")
        for case, submission, score in zip(cases, submitted, (5, 4, 5), strict=True):
            survey = show(case, "SurveySent")
            act(
                case,
                RecordSatisfaction(
                    survey_id=survey.survey_id,
                    csat=score,
                    nps=score * 2,
                    comment="Thank you",
                ),
                Actor(kind="customer", id=submission.customer_id),
            )
            show(case, "SatisfactionRecorded")
            show(case, "CaseClosed")
        time.sleep(1)
        watcher.poll()
        opened = watcher.types(fee).count("ComplaintRegistered")
        say(f"\nre-sent branch complaint: {opened} case opened (not two)")
        say(f"broken submission: see `{REJECTED.name}` (reason in the 'error' header)")
        say("\n-- erasure: the wealth-product customer asks to be forgotten")
        wealth_customer = submitted[1].customer_id
        held = privacy.held(settings, wealth_customer)
        say(f"  before: {len(held)} case(s) hold their personal data, sealed with their own key")
        done = keys.forget(wealth_customer, reason="demo: erasure request")
        after = privacy.held(settings, wealth_customer)
        erased = sum(1 for row in after if row["personal"] is None)
        say(f"  forgot {wealth_customer}: {done.keys} key destroyed; {erased} case(s) now read 'erased'")
        verdict = audit.verify(settings)
        say(
            f"  accord audit verify: {verdict.events} events, "
            + ("history intact" if verdict.ok else f"{len(verdict.findings)} PROBLEM(S)")
        )
        say("\nAll three cases closed with satisfaction recorded. The services keep running:")
        say(f"  accord case show {credit}                    # the case as staff see it, with its timeline")
        say(f"  accord audit timeline {credit}               # what happened, when, by whom, why")
        say(f"  accord privacy show {submitted[0].customer_id:<24}   # personal data held (or erased)")
        say("  accord cases / accord report --html report.html     # all cases / the figures")
        say(f"  curl 127.0.0.1:{settings.api_port}/cases                       # the read-only API")
        say("  accord act CASE COMMAND field=value --actor kind:id   # act on a case")
        say("  accord down                                           # stop the steps and the broker")
        return 0
    finally:
        producer.close()
        watcher.close()
