"""Reference data through the real runners and stores (Kafka replaced by the in-process bus):
a wealth case waits for it and says so; once an operator loads it, the case gets its
explanation at the next tick, citing the data set; the case view shows what is awaited."""

from __future__ import annotations

from pathlib import Path

from events.base import Actor
from events.codec import encode
from events.commands import RecordContactAttempt, RecordFacts
from events.facts import REFERENCE_KEY, LedgerReading
from projections import case_state
from services import publish
from tests.bus import Bus
from tests.integration.test_workflow_in_process import case_of, complaint

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "reference" / "sample.json"
OPERATOR = Actor(kind="staff", id="OPS-1")


def _wealth_case_with_facts(bus: Bus) -> str:
    body = complaint(1, product="Wealth management product", subject="Return lower than expected")
    bus.submit(body)
    case = case_of(body)
    handler = next(e for e in bus.events(case) if e.event.type == "CaseAssigned").event.handler_id  # type: ignore[union-attr]
    staff = Actor(kind="staff", id=handler)
    bus.act(case, RecordContactAttempt(method="phone", outcome="reached"), staff)
    reading = LedgerReading(as_of=bus.clock.now().date(), product="WM-SAMPLE-BAL")
    bus.act(case, RecordFacts(summary="expected a fixed return", ledger=reading), staff)
    return case


def test_a_wealth_case_waits_for_reference_data_and_gets_its_explanation_once_it_is_loaded(tmp_path) -> None:
    bus = Bus(tmp_path)
    case = _wealth_case_with_facts(bus)
    assert "PlanProposed" not in bus.types(case)
    request = next(e for e in bus.events(case) if e.event.type == "FactsRequested").event
    assert request.missing == ["reference_data"]  # type: ignore[union-attr]
    view = case_state.fold(case, bus.events(case))
    assert view["status"] == "awaiting_facts" and view["awaiting_facts"][0]["fact"] == "reference_data"

    loaded = publish.reference(SAMPLE, OPERATOR, bus.clock.now())
    bus.publish("negotiation.commands", REFERENCE_KEY.encode(), encode(loaded))
    assert bus.types(REFERENCE_KEY) == ["ReferenceDataLoaded"]
    bus.clock.advance(seconds=10)
    bus.tick()
    plan = next(e for e in bus.events(case) if e.event.type == "PlanProposed").event
    terms = plan.terms  # type: ignore[union-attr]
    assert terms.risk_rating == "R3" and terms.reference.dataset_id == "SAMPLE-REFERENCE"
    assert "SAMPLE" in terms.explanation and len(terms.market_data) == 2
    view = case_state.fold(case, bus.events(case))
    assert view["awaiting_facts"] == [] and view["plan"]["kind"] == "risk_explanation"


def test_the_same_reference_data_loaded_twice_is_refused_the_second_time(tmp_path) -> None:
    bus = Bus(tmp_path)
    for _ in range(2):
        command = publish.reference(SAMPLE, OPERATOR, bus.clock.now())
        bus.publish("negotiation.commands", REFERENCE_KEY.encode(), encode(command))
    assert bus.types(REFERENCE_KEY) == ["ReferenceDataLoaded", "CommandRejected"]
    assert "not newer" in bus.events(REFERENCE_KEY)[1].event.reason  # type: ignore[union-attr]
