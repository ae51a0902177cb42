"""The projection service (`accord run projections`): keeps the case views current from every
step topic, serves the read-only API, and answers Prometheus' scrapes with the business gauges.
It rides out a broker outage: polls return nothing, lag lookups are bounded and measured again."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from projections import api
from projections.projector import Projector
from projections.readers import Readers
from projections.store import ViewStore
from services import clients
from services.runtime import metrics
from services.runtime.health import Liveness
from services.settings import Settings

log = logging.getLogger("accord.projections")


@dataclass(frozen=True)
class Parts:
    """What the service runs on, built by the composition root (services/bootstrap.py): the view
    store the projector writes, the projector, and the readers the API and the gauges share."""

    store: ViewStore
    projector: Projector
    readers: Readers


def run(settings: Settings, stop: threading.Event, parts: Parts, liveness: Liveness | None = None) -> None:
    liveness = liveness or Liveness("projections", settings.liveness_s)
    store, projector, readers = parts.store, parts.projector, parts.readers
    metrics.BUSINESS.read_from(lambda: _figures(readers))
    server = None
    if settings.api_port:
        try:
            server = api.serve(readers, settings.api_port, settings.bind_host)
        except OSError as exc:  # the views still update; only the API is missing
            log.warning("no case API on port %d (%s); set ACCORD_API_PORT", settings.api_port, exc)
    if server:
        log.info("case API on http://127.0.0.1:%d/cases", settings.api_port)
    last = 0.0
    try:
        while not stop.is_set():
            liveness.beat()
            before = projector.applied
            try:
                liveness.progressed(projector.step())
            except clients.UNRECOVERABLE:
                raise
            except KafkaError as exc:  # the broker is away (see Runner.run): poll again later
                metrics.KAFKA_ERRORS.labels("projections", "poll").inc()
                log.warning("projections: poll failed (%s: %s); polling again", type(exc).__name__, exc)
                stop.wait(1.0)
            metrics.PROJECTED.labels("case_state").inc(projector.applied - before)
            if time.monotonic() - last > settings.tick_seconds:
                _report_lag(projector, settings, liveness)
                last = time.monotonic()
    finally:
        if server:
            server.shutdown()
        metrics.BUSINESS.read_from(None)
        readers.close()
        projector.close()
        store.close()


def _figures(readers: Readers) -> dict[str, list[tuple[Any, ...]]]:
    with readers.lend() as store:
        return store.gauges()


def _report_lag(projector: Projector, settings: Settings, liveness: Liveness) -> None:
    """Lag per partition, bounded by ACCORD_KAFKA_TIMEOUT; while Kafka does not answer (the
    lookup raises KafkaTimeoutError), the last measurement stands and the service goes on."""
    try:
        consumer = projector.reader.consumer
        ends = consumer.end_offsets(projector.parts, timeout_ms=clients.timeout_ms(settings))
        lags = {tp: max(0, end - consumer.position(tp, timeout_ms=1000)) for tp, end in ends.items()}
    except KafkaError as exc:
        metrics.KAFKA_ERRORS.labels("projections", "end_offsets").inc()
        log.warning("projections: lag not measured (%s: %s); trying again later", type(exc).__name__, exc)
        return
    for tp, lag in lags.items():
        metrics.LAG.labels("projections", tp.topic, str(tp.partition)).set(lag)
    liveness.waiting(sum(lags.values()))
