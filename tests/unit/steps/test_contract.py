"""The handler tables every core is written as: one handler per type, and one guard that
refuses a command on a case the step does not know, or on a closed one, in the same words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from events.base import Money
from events.commands import ApprovePlan, ExtendDeadline, RecordPayment, ReopenCase, TakeCase
from events.common import CommandRejected
from events.evaluation import CaseClosed
from events.intake import ComplaintRegistered
from services.steps import contact, evaluation, execution, planning, sla
from services.steps.contract import Evolve
from tests.given import T0, cmd, env, given, when

COMMANDS = {
    contact: TakeCase(team="T1"),
    planning: ApprovePlan(plan_id="P1"),
    execution: RecordPayment(
        payment_id="PAY-1", amount=Money(amount=Decimal("1"), currency="CNY"), paid_at=T0
    ),
    evaluation: ReopenCase(reason="r"),
    sla: ExtendDeadline(tier="complex", customer_informed=True),
}


@pytest.mark.parametrize("core", list(COMMANDS), ids=lambda core: core.STEP)
def test_a_command_on_a_case_the_step_does_not_know_is_refused_in_the_same_words(core) -> None:
    [refused] = when(core, given(core), cmd(COMMANDS[core], case="C9"))
    assert isinstance(refused, CommandRejected) and refused.reason == "unknown case C9"


def test_a_command_on_a_closed_case_is_refused_in_the_same_words() -> None:
    registered = env(
        ComplaintRegistered(
            submission_id="S1",
            channel="app",
            received_at=T0,
            customer_id="CUST-1",
            subject="s",
            description="d",
            policy="CN-2020",
        )
    )
    closed = env(CaseClosed(outcome="resolved", reopen_until=T0), step="evaluation")
    for core in (contact, planning, sla):
        [refused] = when(core, given(core, registered, closed), cmd(COMMANDS[core]))
        assert refused.reason == "case C1 is closed", core.STEP


def test_a_type_has_one_handler_in_a_table() -> None:
    table: Evolve[object] = Evolve()
    table.on(CaseClosed)(lambda state, e, message: state)
    with pytest.raises(ValueError, match="CaseClosed has a handler already"):
        table.on(CaseClosed)(lambda state, e, message: state)
