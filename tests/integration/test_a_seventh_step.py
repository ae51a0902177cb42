"""A seventh step, declared in this module alone (its events, its core, its spec), runs through
the in-process bus with the real processors, stores and relays, and everything that lists the
steps picks it up: the envelope, its topic, its inputs, its metrics port, the scrape
configuration, the canonical order and the case view. No other file is edited for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import pytest

from events import registry as emitters
from events.base import Message, UtcDatetime
from events.codec import decode, encode
from events.envelope import Envelope
from events.intake import ComplaintRegistered
from events.topics import ALL, event_topic
from projections import case_state
from services import derived
from services.runtime.metrics import PORTS
from services.steps import registry
from services.steps.contract import Decide, Emit, Evolve, StepSpec
from tests.bus import Bus
from tests.integration.test_workflow_in_process import case_of, complaint


class CourtesyCallScheduled(Message):
    """A courtesy call to the customer, booked the day after a complaint is registered."""

    type: Literal["CourtesyCallScheduled"] = "CourtesyCallScheduled"
    schema_version: Literal[1] = 1
    call_by: UtcDatetime


@dataclass(frozen=True)
class State:
    registered: bool = False
    booked: bool = False


evolve = Evolve[State]()
decide = Decide[State]()


@evolve.on(ComplaintRegistered)
def _registered(state: State, e: ComplaintRegistered, message: Envelope) -> State:
    return replace(state, registered=True)


@evolve.on(CourtesyCallScheduled)
def _booked(state: State, e: CourtesyCallScheduled, message: Envelope) -> State:
    return replace(state, booked=True)


@decide.on(ComplaintRegistered)
def _book_a_call(
    state: State, e: ComplaintRegistered, message: Envelope, now: datetime, rules: object
) -> list[Emit]:
    return [] if state.booked else [Emit(CourtesyCallScheduled(call_by=now + timedelta(days=1)))]


SPEC = StepSpec(
    name="courtesy", port=10, consumes=(ComplaintRegistered,), initial=State, evolve=evolve, decide=decide
)


@pytest.fixture
def seventh() -> Iterator[StepSpec[State]]:
    emitters.register("courtesy", (CourtesyCallScheduled,))
    registry.register(SPEC)
    try:
        yield SPEC
    finally:
        registry.unregister("courtesy")
        emitters.unregister("courtesy")


def test_a_seventh_step_runs_through_the_bus_with_no_other_edit(tmp_path, seventh) -> None:
    assert registry.names()[-1] == "courtesy"
    assert seventh.inputs == ("negotiation.intake",)  # derived: who emits ComplaintRegistered
    assert event_topic("courtesy").name in {topic.name for topic in ALL}
    assert PORTS["courtesy"] == 10 and "courtesy 9410" in derived.scrape_config()
    assert "| courtesy | `negotiation.intake` | CourtesyCallScheduled |" in derived.steps_table()

    bus = Bus(tmp_path)
    body = complaint(1)
    bus.submit(body)
    case = case_of(body)
    [booked] = [e for e in bus.events(case) if e.event.type == "CourtesyCallScheduled"]
    assert booked.step == "courtesy" and booked.sequence == 1 and booked.prev_hash is None
    assert decode(Envelope, encode(booked)) == booked  # the envelope knows its type and step

    view = None
    for envelope in sorted(bus.events(case), key=case_state.sort_key):
        view = case_state.apply(view, envelope)
    assert view is not None
    assert ("courtesy", "CourtesyCallScheduled") in {(t["step"], t["type"]) for t in view["timeline"]}
    # In canonical order after the six steps and the insights service, whatever the topics' order.
    assert case_state.sort_key(booked).split("|")[1] == chr(ord("0") + 7)

    bus.redeliver("negotiation.intake", 0)  # a redelivery has no second effect
    assert [e.event.type for e in bus.events(case)].count("CourtesyCallScheduled") == 1


def test_a_step_is_refused_when_it_would_take_another_services_port(seventh) -> None:
    emitters.register("other", ())
    try:
        with pytest.raises(ValueError, match="port offset 6 is taken by projections"):
            registry.register(replace(seventh, name="other", port=6))
        with pytest.raises(ValueError, match="port offset 10 is taken by courtesy"):
            registry.register(replace(seventh, name="other", port=10))
        assert "other" not in registry.names()
    finally:
        emitters.unregister("other")


def test_an_envelope_from_an_unregistered_step_is_refused_naming_the_field() -> None:
    from events.codec import DecodeError

    data = b'{"step": "courtesy"}'
    with pytest.raises(DecodeError) as refused:
        decode(Envelope, data)
    assert "courtesy" not in refused.value.reason
