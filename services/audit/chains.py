"""The tamper-evidence checks, pure: given copies of events (from the topics or a bundle's
lines), find repeated events, broken sequences and hash links, events out of order, causes whose
hash does not match, and differences from a step's own record. Both `accord audit verify` (the
topics) and `verify --bundle` (a bundle, offline) run them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from events.codec import DecodeError, Link, content_hash, input_id, link
from events.commands import CommandEnvelope
from events.envelope import Envelope
from events.submission import ComplaintSubmission
from events.topics import COMMANDS, STEP_TOPICS, SUBMITTED

if TYPE_CHECKING:  # records are plain data; nothing here reads Kafka
    from services.clients import Record


@dataclass(slots=True)  # one per event read while verifying: kept small
class Finding:
    problem: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None  # a bundle's line number when partition is None
    case_id: str | None = None
    step: str | None = None
    event_id: str | None = None
    original: str | None = None  # where the first copy of a duplicated event sits

    @property
    def position(self) -> str:
        if self.topic and self.partition is not None:
            return f"{self.topic}[{self.partition}]@{self.offset}"
        if self.topic:
            return self.topic + (f" line {self.offset}" if self.offset is not None else "")
        return f"store of {self.step}"

    def __str__(self) -> str:
        return f"{self.position} case {self.case_id or '-'}: {self.problem}"


@dataclass
class Verdict:
    events: int = 0
    chains: int = 0
    stored: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class Copy:
    """One event as found: where (a topic position, or a bundle line), its bytes, what the
    checks read of it (its chain fields: a Link read from the bytes, or the whole Envelope), and
    the SHA-256 of the bytes, which is all the checks compare. Verifying the topics keeps only
    the digest (`value` empty), so a long history is not held in memory twice."""

    where: Finding
    value: bytes
    envelope: Envelope | Link
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            object.__setattr__(self, "digest", content_hash(self.value))


def first_copies(copies: Iterable[Copy], found: list[Finding]) -> dict[str, Copy]:
    """The first copy of every event, by event id, in the order given. Every further copy is a
    finding: a step topic is written only by its relay, in transactions, so even a copy equal
    byte for byte was put there by someone else (an old event produced again)."""
    first: dict[str, Copy] = {}
    for copy in copies:
        key = str(copy.envelope.event_id)
        original = first.get(key)
        if original is None:
            first[key] = copy
            continue
        if original.digest == copy.digest:
            problem = (
                f"a duplicate copy of the event at {original.where.position} (same event id, "
                "same bytes): an old event was produced again onto the topic"
            )
        else:
            problem = "a second, different copy of an event (modified)"
        found.append(
            replace(
                copy.where,
                problem=problem,
                case_id=copy.envelope.case_id,
                step=copy.envelope.step,
                event_id=key,
                original=original.where.position,
            )
        )
    return first


def check_chain(
    chain: list[Copy], found: list[Finding], first_sequence: int = 1, anchor: str | None = None
) -> None:
    """One (step, case) hash chain, its copies sorted by sequence: sequence numbers
    first_sequence, +1, ...; each `prev_hash` the SHA-256 of the previous event's bytes
    (`anchor` for the first); and each after the previous one on its topic (or in the bundle)."""
    expected_prev, previous = anchor, None
    for expected, copy in enumerate(chain, start=first_sequence):
        e = copy.envelope
        if e.sequence != expected:
            found.append(
                _located(
                    copy,
                    f"sequence {e.sequence} where {expected} was expected "
                    "(an event is missing or was injected)",
                )
            )
        if e.prev_hash != expected_prev:
            found.append(
                _located(
                    copy,
                    "hash link to the step's previous event for the case is broken "
                    "(that event was modified, deleted or this one injected)",
                )
            )
        if previous is not None and _place(copy.where) < _place(previous.where):
            found.append(_located(copy, "out of order: it sits before the event it follows"))
        expected_prev, previous = copy.digest, copy


def _located(copy: Copy, problem: str) -> Finding:
    """A finding about this copy, where it sits (made only when there is one)."""
    e = copy.envelope
    return replace(copy.where, problem=problem, case_id=e.case_id, step=e.step, event_id=str(e.event_id))


def _place(where: Finding) -> tuple[int, int]:
    return (where.partition or 0, where.offset or 0)


def check_topics(records: Iterable[Record], verdict: Verdict) -> dict[str, Copy]:
    """Every event read from the topics (submissions and commands among them, for the hashes of
    causes): repeated copies, each (step, case) chain, each cause. Returns the first copy of
    every event, by id; what is wrong is added to the verdict's findings."""
    found = verdict.findings
    inputs: dict[str, str] = {}  # id of any input (event, command, submission) -> hash of its bytes

    def events() -> Iterator[Copy]:
        """The step topics' events; on the way, the hashes of the submissions and commands."""
        # Only the fields the checks need are read from the bytes: a step's events are held to
        # what the step recorded byte for byte (check_recorded), and every hash is of the bytes.
        topic_of = {step: topic.name for step, topic in STEP_TOPICS.items()}
        for record in records:
            if record.topic in (SUBMITTED.name, COMMANDS.name):
                model = ComplaintSubmission if record.topic == SUBMITTED.name else CommandEnvelope
                key = input_id(model, record.value)
                if key is not None:  # bytes that name no input were never accepted as one
                    inputs[key] = content_hash(record.value)
                continue
            verdict.events += 1
            where = Finding("", record.topic, record.partition, record.offset)
            try:
                e = link(record.value)
            except DecodeError as exc:
                found.append(replace(where, problem=f"not a valid event ({exc.reason})"))
                continue
            if topic_of.get(e.step) != record.topic:
                found.append(
                    replace(where, problem=f"event of step {e.step} on the wrong topic", case_id=e.case_id)
                )
            yield Copy(where, b"", e, content_hash(record.value))

    copies = first_copies(events(), found)
    chains: dict[tuple[str, str], list[Copy]] = defaultdict(list)
    for key, copy in copies.items():
        inputs[key] = copy.digest
        chains[(copy.envelope.step, copy.envelope.case_id)].append(copy)
    verdict.chains = len(chains)
    for chain in chains.values():
        chain.sort(key=lambda copy: copy.envelope.sequence)
        check_chain(chain, found)
        check_causes(chain, inputs, found)
    return copies


def check_causes(chain: list[Copy], inputs: dict[str, str], found: list[Finding]) -> None:
    """Each event's `cause_hash` against the hash of the input it names (`inputs`: the id of
    any event, command or submission -> the SHA-256 of its bytes)."""
    for copy in chain:
        e = copy.envelope
        if e.causation_id is not None and e.cause_hash is not None:
            cause = inputs.get(str(e.causation_id))
            if cause is None:
                found.append(_located(copy, "the input it names as its cause is on no topic"))
            elif cause != e.cause_hash:
                found.append(_located(copy, "hash of its cause does not match (the cause was modified)"))


def check_recorded(
    step: str, recorded: dict[str, bytes], copies: dict[str, Copy], found: list[Finding]
) -> None:
    """One step's events on the topics (`copies`: the first copy of every event, by id) against
    what the step recorded in its own store, up to what its relay has published (`recorded`)."""
    for event_id, data in recorded.items():
        if event_id not in copies:
            found.append(
                Finding(
                    "recorded by the step but missing from its topic (deleted)",
                    step=step,
                    case_id=link(data).case_id,
                    event_id=event_id,
                )
            )
    for event_id, copy in copies.items():
        e = copy.envelope
        if e.step != step:
            continue
        if event_id not in recorded:
            problem = "on the topic but never recorded by its step (forged or injected)"
        elif content_hash(recorded[event_id]) != copy.digest:
            problem = "differs from what its step recorded (modified)"
        else:
            continue
        found.append(replace(copy.where, problem=problem, case_id=e.case_id, step=step, event_id=event_id))
