"""Prometheus metrics shared by every step. No case, customer or other unbounded id is ever
a label: only step, topic, event type and outcome."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

CONSUMED = Counter("accord_messages_consumed_total", "Kafka records a step consumed", ["step", "topic"])
EMITTED = Counter("accord_events_emitted_total", "Events a step recorded for publishing", ["step", "type"])
PUBLISHED = Counter("accord_messages_published_total", "Messages the relay published", ["step", "topic"])
REJECTED = Counter("accord_messages_rejected_total", "Inputs that could not be accepted", ["step", "topic"])
DUPLICATES = Counter("accord_duplicates_ignored_total", "Redelivered inputs that had no effect", ["step"])
COMMANDS_REFUSED = Counter(
    "accord_commands_rejected_total", "Commands that did not fit the case", ["step", "command"]
)
ERRORS = Counter("accord_errors_total", "Unexpected errors while processing", ["step"])
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
TIMERS = Gauge("accord_timers_pending", "Streams with a timer set", ["step"])

PORTS = {
    "intake": 0,
    "contact": 1,
    "planning": 2,
    "execution": 3,
    "evaluation": 4,
    "sla": 5,
    "projections": 6,
    "insights": 7,
}


def serve(step: str, base_port: int) -> int | None:
    """Expose /metrics on base_port + the step's offset (see README); None when disabled."""
    if not base_port:
        return None
    port = base_port + PORTS.get(step, 6)
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as exc:  # metrics are for ops; a taken port must not stop the step itself
        logging.getLogger("accord.metrics").warning(
            "%s: no /metrics on port %d (%s); set ACCORD_METRICS_PORT to a free base port", step, port, exc
        )
        return None
    return port


# Business gauges, set by the projection service from the case views.
OPEN_CASES = Gauge(
    "accord_open_cases", "Open cases by status and the step that last acted", ["status", "step"]
)
DEADLINE_WARNINGS = Gauge("accord_deadline_warnings", "Decision-deadline warnings issued, all cases")
DEADLINE_BREACHES = Gauge("accord_deadline_breaches", "Cases whose decision deadline was breached")
CSAT = Gauge("accord_csat_average", "Average CSAT (1-5) by channel", ["channel"])
NPS = Gauge("accord_nps_average_score", "Average NPS answer (0-10) by channel", ["channel"])
SURVEYS = Gauge("accord_satisfaction_answers", "Satisfaction answers recorded by channel", ["channel"])
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
