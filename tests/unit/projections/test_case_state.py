"""The case-state fold is deterministic: any arrival order of a case's events, and any
duplicates, give the same view as the canonical order."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import Envelope
from projections import case_state, report
from tests.bus import Bus
from tests.integration.test_workflow_in_process import complaint, drive_to_closed


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[str, list[Envelope], Bus]:
    bus = Bus(tmp_path_factory.mktemp("bus"))
    body = complaint(1, "branch", staff_id="H-004", branch_id="BR-1")
    bus.submit(body)
    case = drive_to_closed(bus, body)
    return case, bus.events(case), bus


def test_a_closed_case_view_has_what_staff_need(history) -> None:
    case, events, _ = history
    view = case_state.fold(case, events)
    assert view["status"] == "closed" and view["channel"] == "branch" and view["handler"] == "H-004"
    assert view["category"] == "fees_and_charges" and view["plan"]["kind"] == "refund"
    assert view["plan"]["status"] == "completed" and view["redress"] == "30.00"
    assert view["csat"] == 4 and view["deadline"]["on_time"] is True
    assert len(view["timeline"]) == len(events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_arrival_order_and_duplicates_fold_to_the_same_view(history, data) -> None:
    case, events, _ = history
    shuffled = data.draw(st.permutations(events))
    extra = data.draw(st.lists(st.sampled_from(events), max_size=5))
    canonical = case_state.fold(case, events)
    assert case_state.fold(case, [*shuffled, *extra]) == canonical


def test_in_order_application_equals_the_fold(history) -> None:
    case, events, _ = history
    view = None
    for envelope in sorted(events, key=case_state.sort_key):
        view = case_state.apply(view, envelope)
    assert view == case_state.fold(case, events)


def test_the_report_counts_and_rates_come_from_the_views(history) -> None:
    case, events, bus = history
    views = [case_state.fold(case, events)]
    figures = report.compute(views, ["overall", "channel", "plan_type"])
    overall = figures["overall"]["all"]
    assert overall["cases"] == 1 and overall["closed"] == 1 and overall["csat_avg"] == 4
    assert overall["on_time_rate"] == 1 and overall["acceptance_by_plan_type"] == {"refund": 1.0}
    assert figures["channel"]["branch"]["redress_total"] == "30.00"
    assert "refund" in report.to_csv(figures) and "<svg" in report.to_html(figures)
