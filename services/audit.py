"""Audit: read the immutable history as an auditor would. Timelines and as-of views are
computed from the event topics alone; `verify` checks every hash link and sequence number on
the topics against each step's own store, and names the topic, partition, offset and case of
anything modified, deleted, reordered, injected or produced again. Nothing here writes to an
event topic."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from kafka import TopicPartition

from events.codec import DecodeError, content_hash, decode
from events.commands import CommandEnvelope
from events.envelope import Envelope
from events.facts import REFERENCE_KEY
from events.identity import submission_id
from events.submission import ComplaintSubmission
from events.topics import COMMANDS, STEP_TOPICS, SUBMITTED, event_topic
from projections import case_state
from services import clients
from services.clients import Record
from services.clients import read_to_end as read
from services.runtime.store import EMIT, StepStore
from services.settings import Settings
from services.steps.registry import NAMES


def case_events(settings: Settings, case_id: str) -> list[tuple[Record, Envelope]]:
    out = []
    for record in read(settings, [t.name for t in STEP_TOPICS.values()]):
        try:
            envelope = decode(Envelope, record.value)
        except DecodeError:
            continue
        if envelope.case_id == case_id:
            out.append((record, envelope))
    seen: set[str] = set()
    unique = []
    for record, envelope in sorted(out, key=lambda pair: case_state.sort_key(pair[1])):
        if str(envelope.event_id) not in seen:
            seen.add(str(envelope.event_id))
            unique.append((record, envelope))
    return unique


def timeline(settings: Settings, case_id: str) -> list[dict[str, Any]]:
    """Every event of a case in order: what, when, which step, who, in response to what."""
    rows = []
    for record, e in case_events(settings, case_id):
        event = e.event
        details = event.model_dump(mode="json", exclude={"type", "schema_version"})
        rows.append(
            {
                "occurred_at": e.occurred_at.isoformat().replace("+00:00", "Z"),
                "step": e.step,
                "sequence": e.sequence,
                "type": event.type,
                "actor": f"{e.actor.kind}:{e.actor.id}",
                "caused_by": str(e.causation_id) if e.causation_id else None,
                "event_id": str(e.event_id),
                "position": f"{record.topic}[{record.partition}]@{record.offset}",
                "details": json.dumps(details, ensure_ascii=False, sort_keys=True)[:300],
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def as_of(settings: Settings, moment: datetime, case_id: str | None = None) -> Any:
    """One case's view, or the metrics over every case, as they stood at `moment`, from the
    history alone (events that occurred at or before it)."""
    from projections import report

    by_case: dict[str, list[Envelope]] = defaultdict(list)
    for record in read(settings, [t.name for t in STEP_TOPICS.values()]):
        try:
            envelope = decode(Envelope, record.value)
        except DecodeError:
            continue
        if envelope.occurred_at <= moment and (case_id is None or envelope.case_id == case_id):
            by_case[envelope.case_id].append(envelope)
    if case_id is not None:
        return case_state.fold(case_id, by_case[case_id]) if by_case.get(case_id) else None
    # As the live views: planning's reference data loads are no case.
    views = [case_state.fold(c, events) for c, events in by_case.items() if c != REFERENCE_KEY]
    return report.compute(views, ["overall", "channel", "category"])


@dataclass
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


# -- the checks shared by `verify` (the topics) and `verify --bundle` (a bundle offline) -----
@dataclass(frozen=True)
class Copy:
    """One event as found: where (a topic position, or a bundle line), its bytes, decoded."""

    where: Finding
    value: bytes
    envelope: Envelope


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
        if original.value == copy.value:
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
        located = replace(copy.where, case_id=e.case_id, step=e.step, event_id=str(e.event_id))
        if e.sequence != expected:
            found.append(
                replace(
                    located,
                    problem=f"sequence {e.sequence} where {expected} was expected (an event is "
                    "missing or was injected)",
                )
            )
        if e.prev_hash != expected_prev:
            found.append(
                replace(
                    located,
                    problem="hash link to the step's previous event for the case is broken "
                    "(that event was modified, deleted or this one injected)",
                )
            )
        if previous is not None and _place(copy.where) < _place(previous.where):
            found.append(replace(located, problem="out of order: it sits before the event it follows"))
        expected_prev, previous = content_hash(copy.value), copy


def _place(where: Finding) -> tuple[int, int]:
    return (where.partition or 0, where.offset or 0)


def verify(
    settings: Settings, check_stores: bool = True, progress: Callable[[int], None] | None = None
) -> Verdict:
    started = time.perf_counter()
    verdict = Verdict()
    found = verdict.findings
    inputs: dict[str, str] = {}  # id of any input (event, command, submission) -> hash of its bytes

    def events() -> Iterator[Copy]:
        """The step topics' events; on the way, the hashes of the submissions and commands."""
        for record in read(
            settings, [SUBMITTED.name, COMMANDS.name, *(t.name for t in STEP_TOPICS.values())], progress
        ):
            if record.topic == SUBMITTED.name:
                with contextlib.suppress(DecodeError):  # a rejected input was never accepted
                    accepted = decode(ComplaintSubmission, record.value)
                    inputs[str(submission_id(accepted))] = content_hash(record.value)
                continue
            if record.topic == COMMANDS.name:
                with contextlib.suppress(DecodeError):
                    inputs[str(decode(CommandEnvelope, record.value).command_id)] = content_hash(record.value)
                continue
            verdict.events += 1
            where = Finding("", record.topic, record.partition, record.offset)
            try:
                e = decode(Envelope, record.value)
            except DecodeError as exc:
                found.append(replace(where, problem=f"not a valid event ({exc.reason})"))
                continue
            if STEP_TOPICS[e.step].name != record.topic:
                found.append(
                    replace(where, problem=f"event of step {e.step} on the wrong topic", case_id=e.case_id)
                )
            yield Copy(where, record.value, e)

    copies = first_copies(events(), found)
    chains: dict[tuple[str, str], list[Copy]] = defaultdict(list)
    for key, copy in copies.items():
        inputs[key] = content_hash(copy.value)
        chains[(copy.envelope.step, copy.envelope.case_id)].append(copy)
    verdict.chains = len(chains)
    for chain in chains.values():
        chain.sort(key=lambda copy: copy.envelope.sequence)
        check_chain(chain, found)
        for copy in chain:
            e = copy.envelope
            located = replace(copy.where, case_id=e.case_id, step=e.step, event_id=str(e.event_id))
            if e.causation_id is not None and e.cause_hash is not None:
                cause = inputs.get(str(e.causation_id))
                if cause is None:
                    found.append(replace(located, problem="the input it names as its cause is on no topic"))
                elif cause != e.cause_hash:
                    found.append(
                        replace(located, problem="hash of its cause does not match (the cause was modified)")
                    )
    if check_stores:
        for step in NAMES:
            try:
                store = StepStore.open(step, settings.data_dir, settings.database_url)
            except Exception as exc:  # noqa: BLE001 - a store that cannot be opened is a finding
                found.append(Finding(f"store cannot be read: {exc}", step=step))
                continue
            recorded: dict[str, bytes] = {}
            published = _published(settings, store, step)
            after = 0
            while after < published:
                batch = [n for n in store.notifications(after, 5000) if n.id <= published]
                if not batch:
                    break
                for note in batch:
                    if note.topic.startswith(EMIT + "|"):
                        e = decode(Envelope, note.state)
                        recorded[str(e.event_id)] = note.state
                after = batch[-1].id
            verdict.stored += len(recorded)
            for event_id, data in recorded.items():
                if event_id not in copies:
                    e = decode(Envelope, data)
                    found.append(
                        Finding(
                            "recorded by the step but missing from its topic (deleted)",
                            step=step,
                            case_id=e.case_id,
                            event_id=event_id,
                        )
                    )
            for event_id, copy in copies.items():
                e, value = copy.envelope, copy.value
                if e.step != step:
                    continue
                if event_id not in recorded:
                    problem = "on the topic but never recorded by its step (forged or injected)"
                elif recorded[event_id] != value:
                    problem = "differs from what its step recorded (modified)"
                else:
                    continue
                found.append(
                    replace(copy.where, problem=problem, case_id=e.case_id, step=step, event_id=event_id)
                )
    verdict.seconds = round(time.perf_counter() - started, 2)
    return verdict


def _published(settings: Settings, store: StepStore, step: str) -> int:
    """How far the step's relay has published (read, never written): items after it are
    recorded but legitimately not on the topic yet."""
    meta = store.stream("meta|store")
    if not meta:
        return 0
    group = f"accord-relay-{step}-{meta[0][1].data.decode()}"
    probe = clients.audit_consumer(settings, group_id=group, client_id="accord-audit")
    try:
        committed = probe.committed(TopicPartition(event_topic(step).name, 0))
    finally:
        probe.close()
    return (committed or 1) - 1


# -- export for a regulator ------------------------------------------------------------------
def export(settings: Settings, start: datetime, end: datetime, path: str) -> dict[str, Any]:
    """Write a bundle (a zip) of every event that occurred in [start, end): the events as they
    sit on the topics, the head and anchor of each (step, case) hash chain, and the checksum of
    the case views folded from these events, with a manifest of SHA-256 sums."""
    import zipfile

    picked: list[tuple[bytes, Envelope]] = []
    seen: set[str] = set()
    for record in read(settings, [t.name for t in STEP_TOPICS.values()]):
        try:
            e = decode(Envelope, record.value)
        except DecodeError:
            continue
        if start <= e.occurred_at < end and str(e.event_id) not in seen:
            seen.add(str(e.event_id))
            picked.append((record.value, e))
    picked.sort(key=lambda pair: (pair[1].step, pair[1].case_id, pair[1].sequence))
    events = b"".join(raw + b"\n" for raw, _ in picked)
    chains: dict[str, dict[str, Any]] = {}
    for raw, e in picked:
        key = f"{e.step}|{e.case_id}"
        chain = chains.setdefault(key, {"first_sequence": e.sequence, "anchor_prev_hash": e.prev_hash})
        chain.update(head_sequence=e.sequence, head_hash=content_hash(raw))
    files = {
        "events.jsonl": events,
        "chains.json": json.dumps(chains, indent=1, sort_keys=True).encode(),
        "projections.json": json.dumps(_views_checksum([e for _, e in picked])).encode(),
    }
    manifest = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "events": len(picked),
        "chains": len(chains),
        "sha256": {name: content_hash(data) for name, data in files.items()},
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(name, data)
        bundle.writestr("manifest.json", json.dumps(manifest, indent=1))
    return manifest


def _views_checksum(envelopes: list[Envelope]) -> dict[str, Any]:
    import hashlib

    from projections.store import canonical

    by_case: dict[str, list[Envelope]] = defaultdict(list)
    for e in envelopes:
        by_case[e.case_id].append(e)
    digest = hashlib.sha256()
    for case_id in sorted(by_case):
        digest.update(
            case_id.encode() + b"\0" + canonical(case_state.fold(case_id, by_case[case_id])).encode() + b"\n"
        )
    return {"cases": len(by_case), "checksum": digest.hexdigest()}


def verify_bundle(path: str) -> Verdict:
    """Check a bundle offline: file sums, every hash link and sequence inside it, the chain
    heads, and the view checksum recomputed from its events."""
    import zipfile

    started = time.perf_counter()
    verdict = Verdict()
    found = verdict.findings
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
        files = {name: bundle.read(name) for name in ("events.jsonl", "chains.json", "projections.json")}
    for name, data in files.items():
        if content_hash(data) != manifest["sha256"].get(name):
            found.append(Finding(f"{name} does not match its SHA-256 in the manifest", topic=name))
    chains_meta = json.loads(files["chains.json"])

    def events() -> Iterator[Copy]:
        for line_no, raw in enumerate(files["events.jsonl"].splitlines(), start=1):
            where = Finding("", "events.jsonl", offset=line_no)
            try:
                e = decode(Envelope, raw)
            except DecodeError as exc:
                found.append(replace(where, problem=f"not a valid event ({exc.reason})"))
                continue
            verdict.events += 1
            yield Copy(where, raw, e)

    copies = first_copies(events(), found)
    chains: dict[str, list[Copy]] = defaultdict(list)
    for copy in copies.values():
        chains[f"{copy.envelope.step}|{copy.envelope.case_id}"].append(copy)
    verdict.chains = len(chains)
    for key, chain in chains.items():
        step, case_id = key.split("|", 1)
        meta = chains_meta.get(key)
        if meta is None:
            found.append(Finding("chain missing from chains.json", case_id=case_id, step=step))
            continue
        chain.sort(key=lambda copy: copy.envelope.sequence)
        check_chain(chain, found, meta["first_sequence"], meta["anchor_prev_hash"])
        head = chain[-1]
        if (head.envelope.sequence, content_hash(head.value)) != (meta["head_sequence"], meta["head_hash"]):
            found.append(Finding("chain head differs from chains.json", case_id=case_id, step=step))
    envelopes = [copy.envelope for copy in copies.values()]
    if _views_checksum(envelopes) != json.loads(files["projections.json"]):
        found.append(
            Finding(
                "the case views folded from the events do not match projections.json",
                topic="projections.json",
            )
        )
    verdict.seconds = round(time.perf_counter() - started, 2)
    return verdict
