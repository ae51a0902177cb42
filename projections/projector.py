"""Keeps a view store up to date from every step topic and the insights findings about cases:
read a batch, fold each event into its case's view, write the changed views and the next
offsets in one transaction. The projection service (`accord run projections`) and
`accord projections rebuild` both use it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import TopicPartition

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.topics import EVENT_TOPICS
from projections import case_state
from projections.store import ViewStore
from services import clients
from services.settings import Settings

log = logging.getLogger("accord.projections")


class Projector:
    def __init__(
        self, settings: Settings, store: ViewStore, client_id: str = "accord-projections", audit: bool = False
    ) -> None:
        self.store = store
        # A rebuild is an audit (`accord audit replay`): it reads as the read-only principal.
        make = clients.audit_consumer if audit else clients.consumer
        self.consumer = make(settings, client_id=client_id, max_poll_records=2000)
        self.parts = self._partitions()
        self.consumer.assign(self.parts)
        stored = store.positions()
        for tp in self.parts:
            if (tp.topic, tp.partition) in stored:
                self.consumer.seek(tp, stored[(tp.topic, tp.partition)])
            else:
                self.consumer.seek_to_beginning(tp)
        self.applied = 0
        self.undecodable = 0
        self.refolds = 0

    def _partitions(self, timeout_s: float = 60) -> list[TopicPartition]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = {t.name: self.consumer.partitions_for_topic(t.name) for t in EVENT_TOPICS.values()}
            if all(found.values()):
                return [TopicPartition(t, p) for t, parts in found.items() for p in sorted(parts)]
            if time.monotonic() > deadline:
                raise RuntimeError("the step topics do not exist; run `accord topics create`")
            time.sleep(0.5)

    def step(self, timeout_ms: int = 200, limit: dict[TopicPartition, int] | None = None) -> int:
        """Fold one polled batch; returns the number of records consumed."""
        batch = self.consumer.poll(timeout_ms=timeout_ms)
        if not batch:
            return 0
        views: dict[str, case_state.View] = {}
        positions: dict[tuple[str, int], int] = {}
        new_events: list[tuple[str, str, str]] = []
        arrived: dict[str, list[Envelope]] = {}
        count = 0
        for tp, records in batch.items():
            stop = limit.get(tp) if limit else None
            for record in records:
                if stop is not None and record.offset >= stop:
                    self.consumer.seek(tp, stop)
                    break
                count += 1
                positions[(tp.topic, tp.partition)] = record.offset + 1
                try:
                    envelope = decode(Envelope, record.value)
                except DecodeError as exc:
                    self.undecodable += 1
                    log.warning(
                        "skipped undecodable %s[%d]@%d: %s", tp.topic, tp.partition, record.offset, exc.reason
                    )
                    continue
                if not case_state.concerns_a_case(envelope):
                    continue
                arrived.setdefault(envelope.case_id, []).append(envelope)
                new_events.append((envelope.case_id, case_state.sort_key(envelope), record.value.decode()))
        for case_id, envelopes in arrived.items():
            envelopes.sort(key=case_state.sort_key)
            view = self.store.get(case_id)
            if view is not None and case_state.sort_key(envelopes[0]) < view["last_key"]:
                # An event that sorts before ones already folded: refold the case once, in order.
                stored = [decode(Envelope, data.encode()) for data in self.store.events(case_id)]
                views[case_id] = case_state.fold(case_id, stored + envelopes)
                self.refolds += 1
            else:
                view = view or case_state.new_view(case_id)
                for envelope in envelopes:
                    case_state.apply_in_place(view, envelope)
                views[case_id] = view
            self.applied += len(envelopes)
        self.store.save(views, positions, new_events)
        return count

    def end_offsets(self) -> dict[TopicPartition, int]:
        return self.consumer.end_offsets(self.parts)

    def catch_up(
        self,
        until: dict[TopicPartition, int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Fold until every partition reaches `until` (default: the current end offsets)."""
        targets = until or self.end_offsets()
        start = {tp: self.consumer.position(tp) for tp in self.parts}
        total = sum(max(0, targets.get(tp, 0) - start[tp]) for tp in self.parts)
        done = 0
        while any(self.consumer.position(tp) < targets.get(tp, 0) for tp in self.parts):
            done += self.step(timeout_ms=500, limit=targets)
            if progress:
                progress(min(done, total), total)
        return done

    def close(self) -> None:
        self.consumer.close()
