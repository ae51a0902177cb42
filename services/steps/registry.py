"""The step registry: one `StepSpec` per negotiation step, registered in canonical order.
Everything that lists steps derives from it: the processes `accord up` starts, their metrics
ports, the CLI's choices, the Prometheus scrape configuration, the docs tables. A new step is an
events module (registered in events/registry.py), a core with its spec, and one `register`."""

from __future__ import annotations

from typing import Any

from events import registry as emitters
from services.steps.contract import StepSpec

# The services beside the steps, with their metrics port offsets (a step's is in its spec).
SERVICE_PORTS = {"projections": 6, "console": 7, "gateway": 8, "insights": 9}

_SPECS: dict[str, StepSpec[Any]] = {}


def register(spec: StepSpec[Any]) -> StepSpec[Any]:
    """Add a step. Its events must be registered first (it emits into the envelope), and its
    metrics port offset must be its own."""
    if spec.name in _SPECS:
        if _SPECS[spec.name] is spec:
            return spec
        raise ValueError(f"step '{spec.name}' is already registered")
    if spec.name not in emitters.steps():
        raise ValueError(f"step '{spec.name}' has no events registered (events/registry.py register)")
    taken = {**{s.name: s.port for s in _SPECS.values()}, **SERVICE_PORTS}
    clash = [name for name, port in taken.items() if port == spec.port]
    if clash:
        raise ValueError(f"step '{spec.name}': metrics port offset {spec.port} is taken by {clash[0]}")
    spec.inputs  # noqa: B018 - fails now, naming the type, if it consumes what nobody emits
    _SPECS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a step added at run time (tests that add a step of their own)."""
    _SPECS.pop(name, None)


def specs() -> tuple[StepSpec[Any], ...]:
    """Every step, in canonical order."""
    order = {name: index for index, name in enumerate(emitters.steps())}
    return tuple(sorted(_SPECS.values(), key=lambda s: order.get(s.name, len(order))))


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in specs())


def load(name: str) -> StepSpec[Any]:
    """The spec of a registered step (KeyError naming the steps if there is none)."""
    return spec(name)


def spec(name: str) -> StepSpec[Any]:
    if name not in _SPECS:
        raise KeyError(f"unknown step '{name}'; the steps are: {', '.join(names())}")
    return _SPECS[name]


def port(name: str) -> int:
    """The metrics port offset of a step or of one of the services beside them."""
    if name in SERVICE_PORTS:
        return SERVICE_PORTS[name]
    return spec(name).port


def _builtin() -> None:
    from services.steps import contact, evaluation, execution, intake, planning, sla

    for module in (intake, contact, planning, execution, evaluation, sla):
        register(module.SPEC)


_builtin()
NAMES = names()  # the built-in steps, in canonical order (the CLI's choices)
