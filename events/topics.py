"""Every Kafka topic Accord uses, declared once: name, what it carries, its key, and its
retention. `accord topics create` creates them; nothing else names a topic by string."""

from __future__ import annotations

from dataclasses import dataclass, field

from events.base import STEPS


@dataclass(frozen=True)
class Topic:
    name: str
    description: str
    key: str
    carries: str  # "submission", "command", "event" or "raw"
    config: dict[str, str] = field(default_factory=dict)


# Event history is the system of record for auditors: nothing is ever deleted by age or size.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

SUBMITTED = Topic(
    "complaints.submitted",
    "Complaints as the channels (hotline, branch, mobile app) publish them, as JSON.",
    key="the channel's submission id",
    carries="submission",
    config=KEEP_FOREVER,
)
REJECTED = Topic(
    "complaints.rejected",
    "Submissions that could not be accepted: the original bytes, unchanged, with the reason "
    "in the `error` header and the source position in `source-*` headers.",
    key="the original key",
    carries="raw",
    config=KEEP_FOREVER,
)
COMMANDS = Topic(
    "negotiation.commands",
    "Staff and customer actions on a case, and the reference data sets operators load "
    "(`LoadReferenceData`, under the key `reference-data`).",
    key="case id (reference data: `reference-data`)",
    carries="command",
    config=KEEP_FOREVER,
)
STEP_TOPICS = {
    step: Topic(
        f"negotiation.{step}",
        f"Immutable events emitted by the {step} step.",
        key="case id",
        carries="event",
        config=KEEP_FOREVER,
    )
    for step in STEPS
}
# The early-warning service's findings (surges, dispute risk); not a workflow step's history.
INSIGHTS = Topic(
    "negotiation.insights",
    "Findings of the insights service: SurgeDetected (keyed by its window) and RiskScored (keyed by "
    "case id). At-least-once: a finding may repeat, always with the same event id and bytes.",
    key="case id (RiskScored) or window id S-<group>-<yyyymmdd> (SurgeDetected)",
    carries="event",
    config=KEEP_FOREVER,
)
# Every topic that carries events, by emitter: the six steps and the insights service.
EVENT_TOPICS = {**STEP_TOPICS, "insights": INSIGHTS}
DEADLETTER = Topic(
    "accord.deadletter",
    "Commands and events that could not be decoded: the original bytes, unchanged, with the "
    "reason in the `error` header and the source position in `source-*` headers.",
    key="the original key",
    carries="raw",
    config=KEEP_FOREVER,
)
ALL = (SUBMITTED, REJECTED, COMMANDS, *STEP_TOPICS.values(), INSIGHTS, DEADLETTER)
_BY_NAME = {topic.name: topic for topic in ALL}


def by_name(name: str) -> Topic:
    """The declared topic of that name (tests may add their own via `declare`)."""
    return _BY_NAME[name]


def event_topic(step: str) -> Topic:
    return STEP_TOPICS[step]  # type: ignore[index]  # a KeyError names an unknown step
