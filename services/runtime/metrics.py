"""Prometheus metrics shared by every step, served on /metrics next to the service's /health.
No case, customer or other unbounded id is ever a label: only step, topic, event type and outcome."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

from services.steps import registry

if TYPE_CHECKING:
    from services.runtime.health import Liveness

log = logging.getLogger("accord.metrics")

CONSUMED = Counter("accord_messages_consumed_total", "Kafka records a step consumed", ["step", "topic"])
EMITTED = Counter("accord_events_emitted_total", "Events a step recorded for publishing", ["step", "type"])
PUBLISHED = Counter("accord_messages_published_total", "Messages the relay published", ["step", "topic"])
TRANSACTIONS = Histogram(
    "accord_relay_transaction_seconds",
    "Time from a relay's begin_transaction to its commit (_count: the transactions committed)",
    ["step"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
REJECTED = Counter("accord_messages_rejected_total", "Inputs that could not be accepted", ["step", "topic"])
DUPLICATES = Counter("accord_duplicates_ignored_total", "Redelivered inputs that had no effect", ["step"])
COMMANDS_REFUSED = Counter(
    "accord_commands_rejected_total", "Commands that did not fit the case", ["step", "command"]
)
ERRORS = Counter(
    "accord_errors_total", "Failures of the store or the broker that ended a step's loop", ["step"]
)
STEP_ERRORS = Counter(
    "accord_step_errors_total",
    "Inputs a step's own code failed on (a bug, not bad input): rejected with the reason",
    ["step", "topic"],
)
LATENCY = Histogram(
    "accord_processing_seconds",
    "Time to decide and record one input",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
BACKLOG = Gauge("accord_relay_backlog", "Recorded messages not yet published", ["step"])
LAG = Gauge(
    "accord_consumer_lag", "Records behind the end of each input partition", ["step", "topic", "partition"]
)
PLAINTEXT = Counter(
    "accord_plaintext_submissions_total",
    "Submissions a channel published with personal data in the clear (sealed on arrival)",
    ["channel"],
)
WRITE_CONFLICTS = Counter(
    "accord_write_conflicts_total",
    "Inputs decided again because another writer had moved their stream on (a partition's previous owner)",
    ["step"],
)
OWNED = Gauge("accord_partitions_owned", "Input partition numbers this step instance owns", ["step"])
TIMERS = Gauge("accord_timers_pending", "Streams with a timer set", ["step"])
RECOVERIES = Counter(
    "accord_kafka_recoveries_total",
    "Times a service dropped a failed Kafka client and built a new one",
    ["step", "client"],
)
KAFKA_ERRORS = Counter(
    "accord_kafka_errors_total", "Kafka calls that failed or timed out (and were retried)", ["step", "call"]
)
PROGRESSING = Gauge(
    "accord_progressing", "1 while the service makes progress or has nothing to do (see /health)", ["step"]
)


class _Ports(Mapping[str, int]):
    """Metrics port offsets from ACCORD_METRICS_PORT, by service: each step's from its spec,
    the services beside them fixed (services/steps/registry.py). An unknown name is an error."""

    def __getitem__(self, name: str) -> int:
        return registry.port(name)

    def __iter__(self) -> Iterator[str]:
        return iter((*registry.names(), *registry.SERVICE_PORTS))

    def __len__(self) -> int:
        return len(registry.names()) + len(registry.SERVICE_PORTS)


PORTS: Mapping[str, int] = _Ports()


class _Handler(MetricsHandler):
    liveness: Liveness | None = None

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/health":
            return super().do_GET()
        healthy, details = self.liveness.report() if self.liveness else (True, {"progressing": True})
        body = json.dumps(details).encode()
        self.send_response(200 if healthy else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # probes every few seconds would drown the service's own log


def serve(step: str, base_port: int, liveness: Liveness | None = None, host: str = "127.0.0.1") -> int | None:
    """Expose /metrics and /health on base_port + the step's offset (see README); None when
    disabled. /health answers 200 or 503 from `liveness` (JSON either way)."""
    if not base_port:
        return None
    port = base_port + PORTS[step]
    handler = type("Handler", (_Handler,), {"liveness": liveness})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:  # metrics are for ops; a taken port must not stop the step itself
        logging.getLogger("accord.metrics").warning(
            "%s: no /metrics on port %d (%s); set ACCORD_METRICS_PORT to a free base port", step, port, exc
        )
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    if liveness is not None:
        PROGRESSING.labels(step).set_function(lambda: 1.0 if liveness.report()[0] else 0.0)
    return port


# Business gauges: computed from the case views whenever Prometheus scrapes the projection
# service, which hands its aggregate query to BUSINESS (read_from); elsewhere, nothing to read.
Figures = dict[str, list[tuple[Any, ...]]]


class BusinessGauges(Collector):
    """Open cases by status and step, deadline warnings and breaches, CSAT, NPS and answers by
    channel, from `source()` (the view store's `gauges()`) at scrape time, never polled. A source
    that fails leaves the families empty for that scrape; /metrics still answers."""

    def __init__(self) -> None:
        self.source: Callable[[], Figures] | None = None

    def read_from(self, source: Callable[[], Figures] | None) -> None:
        self.source = source

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        open_cases, warnings, breaches, csat, nps, surveys = families
        figures: Figures = {"by_status_step": [], "deadlines": [], "satisfaction": []}
        if self.source is not None:
            try:
                figures = self.source()
            except Exception as exc:  # noqa: BLE001 - a scrape must not fail with the store
                log.warning("business gauges not read (%s: %s)", type(exc).__name__, exc)
                return [open_cases, csat, nps, surveys]
        for status, step, count in figures["by_status_step"]:
            open_cases.add_metric([status or "unknown", step or "unknown"], count)
        warned, breached = figures["deadlines"][0] if figures["deadlines"] else (0, 0)
        warnings.add_metric([], warned or 0)
        breaches.add_metric([], breached or 0)
        for channel, average_csat, answers, average_nps, _ in figures["satisfaction"]:
            csat.add_metric([channel or "unknown"], average_csat or 0)
            nps.add_metric([channel or "unknown"], average_nps or 0)
            surveys.add_metric([channel or "unknown"], answers or 0)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "accord_open_cases",
                "Open cases by status and the step that last acted",
                labels=["status", "step"],
            ),
            GaugeMetricFamily("accord_deadline_warnings", "Decision-deadline warnings issued, all cases"),
            GaugeMetricFamily("accord_deadline_breaches", "Cases whose decision deadline was breached"),
            GaugeMetricFamily("accord_csat_average", "Average CSAT (1-5) by channel", labels=["channel"]),
            GaugeMetricFamily(
                "accord_nps_average_score", "Average NPS answer (0-10) by channel", labels=["channel"]
            ),
            GaugeMetricFamily(
                "accord_satisfaction_answers", "Satisfaction answers recorded by channel", labels=["channel"]
            ),
        ]


BUSINESS = BusinessGauges()
REGISTRY.register(BUSINESS)
PROJECTED = Counter("accord_events_projected_total", "Events folded into the case views", ["projection"])

# Early warning, set by the insights service.
FINDINGS = Counter("accord_insights_findings_total", "Findings the insights service sent", ["type"])
SURGE_RATIO = Gauge(
    "accord_surge_ratio",
    "Complaints in the latest updated day window over the count the surge rule requires (1 or more: "
    "a surge), by category",
    ["category"],
)
SURGE_WINDOW = Gauge(
    "accord_surge_window_complaints", "Complaints in the latest updated day window, by category", ["category"]
)
