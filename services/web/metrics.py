"""Metrics of the web services; labels are bounded (outcome, action type, channel), never a
staff id, case id or customer."""

from __future__ import annotations

from prometheus_client import Counter

SIGNINS = Counter("accord_console_signins_total", "Console sign-in attempts", ["outcome"])
REFUSED = Counter(
    "accord_web_requests_refused_total",
    "Requests the console, customer page or gateway refused (csrf, forbidden, token, key, rate, size)",
    ["service", "reason"],
)
SENT = Counter(
    "accord_web_commands_sent_total", "Commands people sent through the web", ["service", "command"]
)
SUBMITTED = Counter("accord_gateway_submissions_total", "Complaints accepted by the gateway", ["channel"])
