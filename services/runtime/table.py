"""The stream that every decision of a step reads (planning's reference data), kept
current in each instance by reading its events from the step's own topic: the stream lives in
the store of whichever partition its key falls on, which may be owned by another instance.
Only what the relay published (committed transactions) is seen, in the order it was decided."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import TopicPartition
from kafka.partitioner.default import murmur2

from events.codec import DecodeError, decode
from events.envelope import Envelope
from events.topics import event_topic
from services import clients
from services.settings import Settings
from services.steps.contract import StepSpec

log = logging.getLogger("accord.table")


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the Java client)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class SharedTable:
    """`current()` is the shared stream's state folded from its events on the step's topic."""

    def __init__(self, spec: StepSpec[Any], settings: Settings) -> None:
        assert spec.shared is not None, f"{spec.name} has no shared stream"
        self.spec = spec
        self.key = spec.shared
        self.settings = settings
        self.state: Any = spec.initial()
        self.events = 0
        self.consumer: Any = None
        self.source: TopicPartition | None = None

    def start(self, wait_s: float = 60.0) -> None:
        """Read the stream's events up to the end of its partition as of now."""
        topic = event_topic(self.spec.name).name
        self.consumer = clients.consumer(
            self.settings,
            client_id=f"accord-{self.spec.name}-table",
            isolation_level="read_committed",
            enable_auto_commit=False,
        )
        parts = clients.partitions(self.consumer, [topic], wait_s, self.spec.name)
        self.source = TopicPartition(topic, partition_of(self.key, len(parts)))
        self.consumer.assign([self.source])
        self.consumer.seek_to_beginning(self.source)
        end = self.consumer.end_offsets([self.source])[self.source]
        deadline = time.monotonic() + wait_s
        while self.consumer.position(self.source) < end and time.monotonic() < deadline:
            self.poll(500)

    def poll(self, timeout_ms: int = 0) -> int:
        """Fold what arrived since the last poll; returns how many of the stream's events."""
        if self.consumer is None:
            return 0
        folded = 0
        key = self.key.encode()
        for records in self.consumer.poll(timeout_ms=timeout_ms, max_records=500).values():
            for record in records:
                if record.key != key:
                    continue
                try:
                    envelope = decode(Envelope, record.value)
                except DecodeError as exc:  # the step's own topic: audit reports it too
                    log.error(
                        "%s: unreadable %s event at offset %d: %s",
                        self.spec.name,
                        self.key,
                        record.offset,
                        exc,
                    )
                    continue
                self.state = self.spec.evolve(self.state, envelope)
                folded += 1
        self.events += folded
        return folded

    def current(self) -> Any:
        return self.state

    def close(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.close(autocommit=False)
