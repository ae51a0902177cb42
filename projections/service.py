"""The projection service (`accord run projections`): keeps the case views current from every
step topic, serves the read-only API, and sets the business gauges for Prometheus."""

from __future__ import annotations

import logging
import threading
import time

from projections import api
from projections.projector import Projector
from projections.store import ViewStore
from services.runtime import metrics
from services.settings import Settings

log = logging.getLogger("accord.projections")


def update_gauges(store: ViewStore) -> None:
    g = store.gauges()
    metrics.OPEN_CASES.clear()
    for status, step, count in g["by_status_step"]:
        metrics.OPEN_CASES.labels(status or "unknown", step or "unknown").set(count)
    warnings, breaches = g["deadlines"][0] if g["deadlines"] else (0, 0)
    metrics.DEADLINE_WARNINGS.set(warnings or 0)
    metrics.DEADLINE_BREACHES.set(breaches or 0)
    for channel, csat, csat_n, nps, _ in g["satisfaction"]:
        metrics.CSAT.labels(channel or "unknown").set(csat or 0)
        metrics.NPS.labels(channel or "unknown").set(nps or 0)
        metrics.SURVEYS.labels(channel or "unknown").set(csat_n or 0)


def run(settings: Settings, stop: threading.Event) -> None:
    store = ViewStore.open(settings.data_dir, settings.database_url)
    projector = Projector(settings, store)
    server = None
    if settings.api_port:
        try:
            server = api.serve(settings, settings.api_port)
        except OSError as exc:  # the views still update; only the API is missing
            log.warning("no case API on port %d (%s); set ACCORD_API_PORT", settings.api_port, exc)
    if server:
        log.info("case API on http://127.0.0.1:%d/cases", settings.api_port)
    last = 0.0
    try:
        while not stop.is_set():
            before = projector.applied
            projector.step()
            metrics.PROJECTED.labels("case_state").inc(projector.applied - before)
            if time.monotonic() - last > settings.tick_seconds:
                update_gauges(store)
                for tp, end in projector.end_offsets().items():
                    metrics.LAG.labels("projections", tp.topic, str(tp.partition)).set(
                        max(0, end - projector.consumer.position(tp))
                    )
                last = time.monotonic()
    finally:
        if server:
            server.shutdown()
        projector.close()
        store.close()
