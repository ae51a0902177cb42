"""Keeps a view store up to date from every step topic and the insights findings about cases:
read a batch, fold each event into its case's view, write the changed views and the next
offsets in one transaction. The projection service (`accord run projections`) follows the
topics with it; `accord projections rebuild` replays them with it in one pass (`replay`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from operator import itemgetter

from kafka import TopicPartition

from events.codec import DecodeError, envelope_data
from events.topics import EVENT_TOPICS
from projections import case_state
from projections.case_state import Event
from projections.store import ViewStore
from services import clients
from services.clients import Record
from services.settings import Settings

log = logging.getLogger("accord.projections")

Keyed = tuple[str, Event]  # an event with its sort key, computed once


class Projector:
    def __init__(
        self,
        settings: Settings,
        store: ViewStore,
        client_id: str = "accord-projections",
        audit: bool = False,
    ) -> None:
        self.store = store
        # A rebuild is an audit (`accord audit replay`): it reads as the read-only principal.
        # The step topics may be being created as the service starts: wait for them a while.
        self.reader = clients.TopicReader(
            settings,
            [t.name for t in EVENT_TOPICS.values()],
            start=store.positions(),
            audit=audit,
            wait_s=60,
            client_id=client_id,
            max_poll_records=2000 if not audit else 10000,
            **({"fetch_max_bytes": 64 * 1024 * 1024} if audit else {}),
        )
        self.parts = self.reader.parts
        self.applied = 0
        self.undecodable = 0
        self.refolds = 0
        self.folded: set[str] = set()  # the cases a replay folded

    def _event(self, record: Record) -> Event | None:
        """The record's event as plain data, decoded once; None if it is no case's event."""
        try:
            event = envelope_data(record.value)
        except DecodeError as exc:
            self.undecodable += 1
            log.warning(
                "skipped undecodable %s[%d]@%d: %s", record.topic, record.partition, record.offset, exc.reason
            )
            return None
        return event if case_state.concerns_a_case(event) else None

    def _take(
        self,
        batch: list[Record],
        by_case: dict[str, list[Keyed]],
        positions: dict[tuple[str, int], int],
        events: list[tuple[str, str, str]] | None,
    ) -> None:
        """Each record's next offset, and its event decoded once and keyed, by case (and, unless
        `events` is None, as the store keeps it for refolds)."""
        for record in batch:
            positions[(record.topic, record.partition)] = record.offset + 1
            event = self._event(record)
            if event is None:
                continue
            key = case_state.sort_key(event)
            by_case.setdefault(event["case_id"], []).append((key, event))
            if events is not None:
                events.append((event["case_id"], key, record.value.decode()))

    def step(self, timeout_ms: int = 200) -> int:
        """Fold one polled batch; returns the number of records consumed."""
        return self.fold(self.reader.poll(timeout_ms))

    def fold(self, batch: list[Record]) -> int:
        """Fold these records into their cases' views and save them with the next offsets."""
        if not batch:
            return 0
        views: dict[str, case_state.View] = {}
        positions: dict[tuple[str, int], int] = {}
        new_events: list[tuple[str, str, str]] = []
        arrived: dict[str, list[Keyed]] = {}
        self._take(batch, arrived, positions, new_events)
        for case_id, keyed in arrived.items():
            keyed.sort(key=itemgetter(0))
            view = self.store.get(case_id)
            if view is not None and keyed[0][0] < view["last_key"]:
                # An event that sorts before ones already folded: refold the case once, in order.
                stored = [(key, envelope_data(data.encode())) for key, data in self.store.events(case_id)]
                views[case_id] = case_state.fold_keyed(case_id, stored + keyed)
                self.refolds += 1
            else:
                view = view or case_state.new_view(case_id)
                for key, event in keyed:
                    case_state.apply_in_place(view, event, key)
                views[case_id] = view
            self.applied += len(keyed)
        self.store.save(views, positions, new_events)
        return len(batch)

    def catch_up(
        self,
        until: dict[TopicPartition, int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Fold until every partition reaches `until` (default: the current end offsets)."""
        done = 0
        for batch in self.reader.batches(until, progress):
            done += self.fold(batch)
        return done

    def replay(
        self,
        until: dict[TopicPartition, int],
        progress: Callable[[int], None] | None = None,
        keep_events: bool = False,
        together: bool = False,
    ) -> int:
        """A rebuild into an empty store, in one pass: every record up to `until` read and
        decoded once, grouped by case, each case sorted and folded once, the views (and, with
        `keep_events`, the events a later refold needs) written in bulk. The topics are read
        one partition number at a time: a case's events all sit on one partition number (every
        event topic has the same partitions and is keyed by case id), so only that share of the
        history is held in memory. Returns the number of records read."""
        counts = {len(p) for p in self._numbers().values()}
        groups = self._numbers() if len(counts) == 1 and not together else {0: list(self.parts)}
        done = 0
        for parts in groups.values():
            self.reader.consumer.pause(*self.parts)
            self.reader.consumer.resume(*parts)
            by_case: dict[str, list[Keyed]] = {}
            positions: dict[tuple[str, int], int] = {}
            events: list[tuple[str, str, str]] = []
            limits = {tp: until.get(tp, 0) for tp in parts}
            hear = (lambda n, base=done: progress(base + n)) if progress else None
            for batch in self.reader.batches(limits, hear):
                done += len(batch)
                self._take(batch, by_case, positions, events if keep_events else None)
            if not self.folded.isdisjoint(by_case):  # not keyed as the relays key: read it all at once
                return self._again(until, progress, keep_events)
            self.folded.update(by_case)
            views = {case_id: case_state.fold_keyed(case_id, keyed) for case_id, keyed in by_case.items()}
            self.applied += sum(len(keyed) for keyed in by_case.values())
            self.store.save(views, positions, events)
        self.reader.consumer.resume(*self.parts)
        return done

    def _again(
        self, until: dict[TopicPartition, int], progress: Callable[[int], None] | None, keep_events: bool
    ) -> int:
        log.warning("a case's events on several partition numbers: replaying all partitions together")
        self.reader.consumer.resume(*self.parts)
        self.reader.consumer.seek_to_beginning(*self.parts)
        self.store.drop()
        self.store = ViewStore(self.store.conn, self.store.dialect, self.store.prefix)
        self.applied = self.undecodable = 0
        self.folded.clear()
        return self.replay(until, progress, keep_events, together=True)

    def _numbers(self) -> dict[int, list[TopicPartition]]:
        numbers: dict[int, list[TopicPartition]] = {}
        for tp in self.parts:
            numbers.setdefault(tp.partition, []).append(tp)
        return numbers

    def close(self) -> None:
        self.reader.close()
