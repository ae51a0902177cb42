"""The built-in emitters, registered in canonical order: the six negotiation steps, then the
insights service. Importing this module is what fills the registry (events/registry.py)."""

from __future__ import annotations

from events import common, contact, evaluation, execution, insights, intake, planning, sla
from events.registry import register, register_common

for _module in (intake, contact, planning, execution, evaluation, sla):
    register(_module.STEP, _module.EVENTS)
register(insights.STEP, insights.EVENTS, workflow=False)
register_common(common.EVENTS)
