"""SLA: the 15 / 30 / 60-day clock, warnings and breaches once each, pauses, new facts."""

from __future__ import annotations

from datetime import timedelta

from events.commands import ExtendDeadline, PauseClock, ResumeClock
from events.intake import ComplaintRegistered, NewFactsReported
from events.planning import PlanOffered
from events.sla import DeadlineStarted
from services.steps import sla
from services.steps.contract import Tick
from tests.given import RULES, T0, cmd, env, given, types, when

DAY = timedelta(days=1)


def registered(policy: str = "CN-2020") -> object:
    return env(
        ComplaintRegistered(
            submission_id="S1",
            channel="branch",
            received_at=T0,
            customer_id="CUST-1",
            subject="s",
            description="d",
            policy=policy,
        )
    )


def history(*steps_events: object, policy: str = "CN-2020") -> list:
    """Registration plus the sla step's own reaction to it, plus more."""
    start = when(sla, sla.State(), registered(policy))
    return [registered(policy), *[env(e, step="sla") for e in start], *steps_events]


def run_ticks(past: list, *days: float) -> tuple[list[str], list]:
    """Tick at each day offset, feeding each tick's events back in; all emitted types."""
    emitted: list[str] = []
    for day in days:
        state = given(sla, *past)
        events = when(sla, state, Tick(T0 + day * DAY), now=T0 + day * DAY)
        emitted += types(events)
        past = [*past, *[env(e, step="sla", at=T0 + day * DAY) for e in events]]
    return emitted, past


def test_the_chinese_clock_gives_fifteen_days_for_a_decision() -> None:
    events = when(sla, sla.State(), registered())
    assert isinstance(events[0], DeadlineStarted) and events[0].due_at - T0 == 15 * DAY


def test_the_fca_and_cfpb_tables_are_selectable() -> None:
    fca = when(sla, sla.State(), registered("UK-FCA"))[0]
    cfpb = when(sla, sla.State(), registered("US-CFPB"))[0]
    assert fca.due_at - T0 == 56 * DAY and cfpb.due_at - T0 == 15 * DAY  # type: ignore[attr-defined]


def test_warnings_at_75_and_90_percent_and_the_breach_come_exactly_once_each() -> None:
    emitted, _ = run_ticks(history(), 5, 11.25, 11.3, 12, 13.5, 13.6, 14, 15, 15.5, 20)
    assert emitted == ["DeadlineWarned", "DeadlineWarned", "DeadlineBreached"]


def test_a_tick_that_jumps_past_both_thresholds_emits_each_crossing_once() -> None:
    emitted, _ = run_ticks(history(), 14.5, 14.6)
    assert emitted == ["DeadlineWarned", "DeadlineWarned"]


def test_a_tick_after_the_due_time_only_breaches() -> None:
    emitted, _ = run_ticks(history(), 16, 17)
    assert emitted == ["DeadlineBreached"]  # past the due time, warnings no longer apply


def test_the_next_timer_is_the_next_threshold() -> None:
    state = given(sla, *history())
    assert sla.next_due(state) == T0 + 15 * DAY * 0.75


def test_a_complex_case_extends_to_thirty_days_and_an_especially_complex_one_by_thirty_more() -> None:
    past = history()
    first = when(sla, given(sla, *past), cmd(ExtendDeadline(tier="complex", customer_informed=True)))
    assert first[0].due_at - T0 == 30 * DAY  # type: ignore[attr-defined]
    past += [env(e, step="sla") for e in first]
    second = when(
        sla, given(sla, *past), cmd(ExtendDeadline(tier="especially_complex", customer_informed=True))
    )
    assert second[0].due_at - T0 == 60 * DAY  # type: ignore[attr-defined]
    past += [env(e, step="sla") for e in second]
    third = when(
        sla, given(sla, *past), cmd(ExtendDeadline(tier="especially_complex", customer_informed=True))
    )
    assert types(third) == ["CommandRejected"]


def test_especially_complex_needs_the_complex_extension_first() -> None:
    events = when(
        sla, given(sla, *history()), cmd(ExtendDeadline(tier="especially_complex", customer_informed=True))
    )
    assert types(events) == ["CommandRejected"]


def test_paused_time_for_outside_appraisal_does_not_count() -> None:
    past = history()
    paused = when(sla, given(sla, *past), cmd(PauseClock(reason="outside_appraisal")), now=T0 + 2 * DAY)
    past += [env(e, step="sla", at=T0 + 2 * DAY) for e in paused]
    assert sla.next_due(given(sla, *past)) is None  # no timer while paused
    resumed = when(sla, given(sla, *past), cmd(ResumeClock()), now=T0 + 7 * DAY)
    assert resumed[0].paused_seconds == 5 * 86400 and resumed[0].due_at - T0 == 20 * DAY  # type: ignore[attr-defined]
    past += [env(e, step="sla", at=T0 + 7 * DAY) for e in resumed]
    emitted, _ = run_ticks(past, 15.5, 19.9, 20.1)
    assert emitted == ["DeadlineWarned", "DeadlineWarned", "DeadlineBreached"]


def test_waiting_on_the_customer_counts_unless_configured_otherwise() -> None:
    refused = when(sla, given(sla, *history()), cmd(PauseClock(reason="awaiting_customer")))
    assert types(refused) == ["CommandRejected"]
    lenient = RULES.model_copy(update={"awaiting_customer_counts": False})
    allowed = when(sla, given(sla, *history()), cmd(PauseClock(reason="awaiting_customer")), rules=lenient)
    assert types(allowed) == ["DeadlinePaused"]


def test_new_facts_restart_the_clock() -> None:
    later = T0 + 10 * DAY
    events = when(
        sla,
        given(sla, *history()),
        env(NewFactsReported(submission_id="S2", channel="app", received_at=later, summary="new facts")),
    )
    assert types(events) == ["DeadlineRestarted"] and events[0].due_at == later + 15 * DAY  # type: ignore[attr-defined]


def test_an_offer_in_time_meets_the_deadline_and_stops_the_clock() -> None:
    past = history()
    met = when(
        sla, given(sla, *past), env(PlanOffered(plan_id="C1-P1", round=1), step="planning"), now=T0 + 3 * DAY
    )
    assert types(met) == ["DeadlineMet"]
    past += [env(e, step="sla") for e in met]
    emitted, _ = run_ticks(past, 20)
    assert emitted == []


def test_a_decision_seen_before_the_registration_meets_the_deadline_when_the_clock_starts() -> None:
    """The step reads several topics in no fixed order; the offer may come first."""
    offered = env(PlanOffered(plan_id="C1-P1", round=1), step="planning", at=T0 + 2 * DAY)
    state = given(sla, offered)
    events = when(sla, state, registered())
    assert types(events) == ["DeadlineStarted", "DeadlineMet"]
    assert events[1].met_at == T0 + 2 * DAY  # type: ignore[attr-defined]


def test_new_facts_recorded_by_staff_restart_the_decision_clock_from_that_day() -> None:
    from datetime import UTC, datetime

    from events.contact import FactsLearned
    from events.sla import DeadlineRestarted

    received = datetime(2026, 1, 30, 9, 0, tzinfo=UTC)
    reg = env(
        ComplaintRegistered(
            submission_id="S1",
            channel="branch",
            received_at=received,
            customer_id="CUST-1",
            subject="s",
            description="d",
            policy="CN-2020",
        ),
        at=received,
    )
    start = when(sla, sla.State(), reg, now=received)
    assert start[0].due_at == datetime(2026, 2, 14, 9, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    state = given(sla, reg, *[env(e, step="sla", at=received) for e in start])
    recorded = datetime(2026, 2, 9, 15, 0, tzinfo=UTC)
    learned = env(
        FactsLearned(summary="a second charge appeared", new_facts=True), step="contact", at=recorded
    )
    (restart,) = when(sla, state, learned, now=recorded)
    assert isinstance(restart, DeadlineRestarted) and restart.deadline == "decision"
    assert restart.started_at == recorded and restart.due_at == datetime(2026, 2, 24, 15, 0, tzinfo=UTC)
    after = given(
        sla, reg, *[env(e, step="sla", at=received) for e in start], env(restart, step="sla", at=recorded)
    )
    assert sla.next_due(after) > datetime(2026, 2, 14, 9, 0, tzinfo=UTC)  # type: ignore[operator]
    # Facts that are not new leave the clock alone.
    same = env(FactsLearned(summary="the customer confirmed the dates"), step="contact", at=recorded)
    assert when(sla, state, same, now=recorded) == []
