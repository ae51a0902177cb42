"""Audit: read the immutable history as an auditor would, as the read-only principal. Timelines
and as-of views are computed from the event topics alone; `verify` checks every hash link and
sequence number on the topics against each step's own store, and names the topic, partition,
offset and case of anything modified, deleted, reordered, injected or produced again. The
reading is here; the checks are pure (`chains.py`), the regulator's bundle is `bundle.py`, a
timeline's rows `rows.py`. Nothing here writes to an event topic."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from kafka import TopicPartition

from events.codec import DecodeError, decode, link
from events.envelope import Envelope
from events.facts import REFERENCE_KEY
from events.topics import COMMANDS, STEP_TOPICS, SUBMITTED, event_topic
from projections import case_state
from services import clients
from services.audit import bundle
from services.audit.chains import (
    Copy,
    Finding,
    Verdict,
    check_chain,
    check_recorded,
    check_topics,
    first_copies,
)
from services.audit.rows import timeline_rows, to_csv
from services.clients import Record
from services.clients import read_to_end as read
from services.runtime.relay import relay_group
from services.runtime.store import EMIT, StepStore
from services.settings import Settings
from services.steps.registry import NAMES

__all__ = [
    "Copy",
    "Finding",
    "Verdict",
    "as_of",
    "case_events",
    "check_chain",
    "export",
    "first_copies",
    "read",
    "timeline",
    "to_csv",
    "verify",
    "verify_bundle",
]


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
    return timeline_rows(case_events(settings, case_id))


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


def verify(
    settings: Settings, check_stores: bool = True, progress: Callable[[int], None] | None = None
) -> Verdict:
    """Every event on the step topics checked (chains.check_topics), and against each step's
    own store unless `check_stores` is False."""
    started = time.perf_counter()
    verdict = Verdict()
    found = verdict.findings
    topics = [SUBMITTED.name, COMMANDS.name, *(t.name for t in STEP_TOPICS.values())]
    # How far each relay had published is read before the topics: whatever it had committed
    # is on the topics when they are read, even while the services go on publishing.
    stores: list[tuple[str, StepStore, int]] = []
    with ThreadPoolExecutor(8) as pool:
        if check_stores:
            # A store per partition number, opened side by side; how far each one's relay has
            # published is then asked of Kafka in one request for all of them.
            opened: list[tuple[str, StepStore]] = []
            for step, found_stores in zip(
                NAMES, pool.map(lambda s: _stores(settings, s), NAMES), strict=True
            ):
                if isinstance(found_stores, Exception):  # a store that cannot be opened is a finding
                    found.append(Finding(f"store cannot be read: {found_stores}", step=step))
                else:
                    opened.extend((step, store) for store in found_stores)
            published = _published(settings, opened)
            stores = [
                (step, store, position) for (step, store), position in zip(opened, published, strict=True)
            ]
        # The stores are read while the topics are (SQLite and the network wait outside the GIL).
        reading = [(step, pool.submit(_recorded, store, published)) for step, store, published in stores]
        copies = check_topics(read(settings, topics, progress), verdict)
        recorded: dict[str, dict[str, bytes]] = {}  # per step, across its stores (one per partition)
        for step, future in reading:
            recorded.setdefault(step, {}).update(future.result())
    for step, events in recorded.items():
        verdict.stored += len(events)
        check_recorded(step, events, copies, found)
    verdict.seconds = round(time.perf_counter() - started, 2)
    return verdict


def _stores(settings: Settings, step: str) -> list[StepStore] | Exception:
    """The step's stores (one per partition number); or why they cannot be read."""
    try:
        return [
            StepStore.open(step, settings.data_dir, settings.database_url, number)
            for number in StepStore.existing(step, settings.data_dir, settings.database_url)
        ]
    except Exception as exc:  # noqa: BLE001 - reported as a finding by the caller
        return exc


def _recorded(store: StepStore, published: int) -> dict[str, bytes]:
    """The events a step recorded, by id, up to what its relay has published."""
    recorded: dict[str, bytes] = {}
    after = 0
    while after < published:
        batch = [n for n in store.notifications(after, 5000) if n.id <= published]
        if not batch:
            break
        for note in batch:
            if note.topic.startswith(EMIT + "|"):
                recorded[link(note.state).event_id] = note.state
        after = batch[-1].id
    return recorded


def _published(settings: Settings, stores: list[tuple[str, StepStore]]) -> list[int]:
    """How far each store's relay has published (read, never written): items after it are
    recorded but legitimately not on the topic yet. One OffsetFetch for every relay's group."""
    wanted: dict[str, list[TopicPartition]] = {}
    groups: list[str | None] = []
    for step, store in stores:
        meta = store.stream("meta|store")
        group = relay_group(step, meta[0][1].data.decode()) if meta else None
        groups.append(group)
        if group is not None:
            wanted[group] = [TopicPartition(event_topic(step).name, 0)]
    committed = clients.audit_committed(settings, wanted) if wanted else {}
    out = []
    for group in groups:
        offsets = committed.get(group, {}) if group is not None else {}
        out.append(next(iter(offsets.values()), 1) - 1)
    return out


# -- export for a regulator ------------------------------------------------------------------
def export(settings: Settings, start: datetime, end: datetime, path: str) -> dict[str, Any]:
    """Write a bundle (a zip) of every event that occurred in [start, end): the events as they
    sit on the topics, the head and anchor of each (step, case) hash chain, and the checksum of
    the case views folded from these events, with a manifest of SHA-256 sums."""
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
    return bundle.write(path, picked, start, end)


def verify_bundle(path: str) -> Verdict:
    """Check a bundle offline: file sums, every hash link and sequence inside it, the chain
    heads, and the view checksum recomputed from its events."""
    started = time.perf_counter()
    verdict = bundle.verify(path)
    verdict.seconds = round(time.perf_counter() - started, 2)
    return verdict
