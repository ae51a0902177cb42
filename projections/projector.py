"""Keeps a view store up to date from every step topic and the insights findings about cases:
read a batch, fold each event into its case's view, write the changed views and the next
offsets in one transaction. The projection service (`accord run projections`) and
`accord projections rebuild` both use it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import TopicPartition

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.topics import EVENT_TOPICS
from projections import case_state
from projections.store import ViewStore
from services import clients
from services.clients import Record
from services.settings import Settings

log = logging.getLogger("accord.projections")


class Projector:
    def __init__(
        self, settings: Settings, store: ViewStore, client_id: str = "accord-projections", audit: bool = False
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
            max_poll_records=2000,
        )
        self.parts = self.reader.parts
        self.applied = 0
        self.undecodable = 0
        self.refolds = 0

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
        arrived: dict[str, list[Envelope]] = {}
        count = 0
        for record in batch:
            count += 1
            positions[(record.topic, record.partition)] = record.offset + 1
            try:
                envelope = decode(Envelope, record.value)
            except DecodeError as exc:
                self.undecodable += 1
                log.warning(
                    "skipped undecodable %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc.reason,
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

    def close(self) -> None:
        self.reader.close()
