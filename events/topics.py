"""Every Kafka topic Accord uses, declared once: name, what it carries, its key, and its
retention. `accord topics create` creates them; nothing else names a topic by string."""

from __future__ import annotations

from dataclasses import dataclass, field

from events import emitters as _builtin  # noqa: F401 - fills the registry with the built-in emitters
from events import registry


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
    key="the channel's submission id (required: a submission keyed otherwise is rejected)",
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
# Derived from the registry (events/registry.py) and kept current by it: one topic per step.
STEP_TOPICS: dict[str, Topic] = {}
# The early-warning service's findings (surges, dispute risk); not a workflow step's history.
INSIGHTS = Topic(
    "negotiation.insights",
    "Findings of the insights service: SurgeDetected (keyed by its window) and RiskScored (keyed by "
    "case id). At-least-once: a finding may repeat, always with the same event id and bytes.",
    key="case id (RiskScored) or window id S-<group>-<yyyymmdd> (SurgeDetected)",
    carries="event",
    config=KEEP_FOREVER,
)
# Every topic that carries events, by emitter: the steps and the insights service.
EVENT_TOPICS: dict[str, Topic] = {}
DEADLETTER = Topic(
    "accord.deadletter",
    "Commands and events that could not be decoded: the original bytes, unchanged, with the "
    "reason in the `error` header and the source position in `source-*` headers.",
    key="the original key",
    carries="raw",
    config=KEEP_FOREVER,
)
# Intake's internal re-partition topics, as Kafka Streams re-partitions: a customer's
# submissions (keyed by submission id) and its cases' closures (keyed by case id) arrive on any
# partition, so intake's first stage forwards them keyed by customer id, and its second stage
# finds all of a customer's complaints on one partition (services/steps/intake.py).
INTAKE_SUBMISSIONS = Topic(
    "accord.intake.submissions",
    "Intake's internal re-partition: each accepted submission once (its id claimed, personal "
    "data sealed), re-keyed by customer id so that a customer's complaints meet in one place.",
    key="customer id",
    carries="submission",
    config=KEEP_FOREVER,
)
INTAKE_CLOSURES = Topic(
    "accord.intake.closures",
    "Intake's internal re-partition: CaseClosed and CaseReopened from negotiation.evaluation, "
    "unchanged, re-keyed by customer id.",
    key="customer id",
    carries="event",
    config=KEEP_FOREVER,
)
# (step, the topic it reads) -> the internal topic its first stage forwards it on.
REPARTITION: dict[tuple[str, str], Topic] = {
    ("intake", SUBMITTED.name): INTAKE_SUBMISSIONS,
    ("intake", "negotiation.evaluation"): INTAKE_CLOSURES,
}
# Every topic, in a fixed order (kept current by the registry, as the tables above).
ALL: list[Topic] = []
_BY_NAME: dict[str, Topic] = {}


def _step_topic(step: str) -> Topic:
    return Topic(
        f"negotiation.{step}",
        f"Immutable events emitted by the {step} step.",
        key="case id",
        carries="event",
        config=KEEP_FOREVER,
    )


def _rebuild() -> None:
    STEP_TOPICS.clear()
    STEP_TOPICS.update({step: _step_topic(step) for step in registry.steps()})
    EVENT_TOPICS.clear()
    EVENT_TOPICS.update({**STEP_TOPICS, "insights": INSIGHTS})
    ALL[:] = [
        SUBMITTED,
        REJECTED,
        COMMANDS,
        *STEP_TOPICS.values(),
        INSIGHTS,
        DEADLETTER,
        *REPARTITION.values(),
    ]
    _BY_NAME.update({topic.name: topic for topic in ALL})


def by_name(name: str) -> Topic:
    """The declared topic of that name (tests may add their own via `declare`)."""
    return _BY_NAME[name]


def rejection_topic(input_topic: str) -> Topic:
    """Where an input that cannot be accepted goes: a submission (also as intake re-keyed it)
    to `complaints.rejected`, a command or an event to `accord.deadletter`."""
    return REJECTED if by_name(input_topic).carries == "submission" else DEADLETTER


def repartition_topic(step: str, source: str) -> Topic:
    """The internal topic on which a step that re-keys its inputs forwards those of `source`."""
    try:
        return REPARTITION[(step, source)]
    except KeyError:
        raise KeyError(f"no re-partition topic is declared for step {step}'s input {source}") from None


def event_topic(step: str) -> Topic:
    if step not in EVENT_TOPICS:
        raise KeyError(f"unknown step '{step}'; the steps are: {', '.join(STEP_TOPICS)}")
    return EVENT_TOPICS[step]


registry.on_change(_rebuild)
