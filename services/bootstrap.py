"""The composition root: the one place that builds a step's runtime from its parts (the step's
spec, its store, the key store that seals personal data, the relay and its outlet, the clock),
and the projection service from its own (view store, projector, readers).
The `accord run` processes, the in-process test bus (tests/bus.py) and the benchmarks all build
through here, so tests run the real wiring with test parts (a manual clock, a memory outlet)."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from events.topics import event_topic
from projections import service
from projections.projector import Projector
from projections.readers import Readers
from projections.store import ViewStore
from services.privacy import KeyStore
from services.runtime.clock import Clock, SystemClock
from services.runtime.health import Liveness
from services.runtime.loop import Runner, Unit
from services.runtime.processor import Processor, Sealer
from services.runtime.relay import KafkaOutlet, Outlet, Relay
from services.runtime.store import StepStore
from services.runtime.table import SharedTable
from services.settings import Settings
from services.steps import registry
from services.steps.contract import StepSpec

log = logging.getLogger("accord.bootstrap")

# Fault injection for the crash tests: SIGKILL the process right after the Nth recorded input,
# before the relay has published it. Never set in production.
KILL_AFTER = "ACCORD_FAULT_KILL_AFTER_RECORDS"


def _kill_after(count: int) -> Callable[[int], None]:
    """Counts the inputs recorded by every processor of this process."""
    total = 0

    def check(recorded: int) -> None:
        nonlocal total
        total += 1
        if count and total >= count:
            log.warning("fault injection: SIGKILL after %d recorded inputs", total)
            os.kill(os.getpid(), signal.SIGKILL)

    return check


def processor(
    step: str | StepSpec[Any],
    settings: Settings,
    *,
    clock: Clock | None = None,
    sealer: Sealer | None = None,
    store: StepStore | None = None,
    cache_size: int = 5000,
    on_recorded: Callable[[int], None] | None = None,
) -> Processor:
    """A step's processor over its store (its single store, opened from the settings, unless
    given: the Kafka runtime gives each partition number's)."""
    spec = registry.spec(step) if isinstance(step, str) else step
    return Processor(
        spec,
        store or StepStore.open(spec.name, settings.data_dir, settings.database_url),
        rules=settings.rules(),
        sealer=sealer or KeyStore(settings),
        clock=clock or SystemClock(),
        clock_mode=settings.clock,
        cache_size=cache_size,
        on_recorded=on_recorded or _kill_after(int(os.environ.get(KILL_AFTER, "0") or 0)),
    )


def relay(processor: Processor, outlet: Callable[[], Outlet], **callbacks: Callable[..., None]) -> Relay:
    """The relay that publishes what this processor records, through `outlet`."""
    return Relay(processor.name, processor.store, outlet, **callbacks)


def kafka_outlet(processor: Processor, settings: Settings) -> Callable[[], Outlet]:
    def new() -> Outlet:
        return KafkaOutlet(processor.name, processor.store, settings, event_topic(processor.name).name)

    return new


def projection_service(settings: Settings) -> service.Parts:
    """The projection service's parts: its view store, the projector over it, and the readers
    (opened once per process) the case API and the business gauges share."""
    store = ViewStore.open(settings.data_dir, settings.database_url)
    readers = Readers.of(settings.data_dir, settings.database_url)
    return service.Parts(store, Projector(settings, store), readers)


def step_runner(step: str, settings: Settings, liveness: Liveness | None = None) -> Runner:
    """A step instance as a process: the consumer loop, which builds a processor over its store
    and a relay to Kafka for each partition number the group gives it."""
    spec = registry.spec(step)
    if None in StepStore.existing(spec.name, settings.data_dir, settings.database_url):
        # A store from before the scale-out runtime holds every partition's streams and
        # positions: the per-partition stores would start empty and decide everything again.
        raise RuntimeError(
            f"{spec.name}: {settings.data_dir / 'steps'} (or the database) holds this step's single "
            "store from before stores were kept per partition; this version cannot take it over "
            "yet (no migration exists). Run this version on a new data directory and a new broker, "
            "or keep the previous version for this installation."
        )
    sealer = KeyStore(settings)
    killer = _kill_after(int(os.environ.get(KILL_AFTER, "0") or 0))
    cache = max(500, 5000 // settings.partitions)  # cached streams per store

    def open_store(number: int) -> StepStore:
        return StepStore.open(spec.name, settings.data_dir, settings.database_url, number)

    def unit(number: int, store: StepStore) -> Unit:
        built = processor(spec, settings, sealer=sealer, store=store, cache_size=cache, on_recorded=killer)
        outlet = kafka_outlet(built, settings)
        return Unit(
            number,
            built,
            lambda on_publish, on_recover: relay(built, outlet, on_publish=on_publish, on_recover=on_recover),
        )

    table = SharedTable(spec, settings) if spec.shared is not None else None
    return Runner(spec, settings, open_store, unit, liveness, table)
