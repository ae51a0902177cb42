"""The six negotiation steps. Each module is a pure core with the same names: STEP, INPUTS,
interested, route, initial, evolve, decide (and next_due when it keeps timers)."""

from __future__ import annotations

from types import ModuleType


def load(name: str) -> ModuleType:
    from services.steps import contact, evaluation, execution, intake, planning, sla

    steps = {
        "intake": intake,
        "contact": contact,
        "planning": planning,
        "execution": execution,
        "evaluation": evaluation,
        "sla": sla,
    }
    if name not in steps:
        raise KeyError(f"unknown step '{name}'; the steps are: {', '.join(steps)}")
    return steps[name]


NAMES = ("intake", "contact", "planning", "execution", "evaluation", "sla")
