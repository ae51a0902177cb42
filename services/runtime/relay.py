"""The one relay: publishes what a step recorded (its events, and rejected inputs) from its
store to Kafka, in order, in Kafka transactions. The relay's position is committed inside the
same transaction (as the offset of group `accord-relay-<step>-<store id>`), so a crash at any moment
neither loses nor duplicates a published message."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

from kafka import KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from events.codec import CONTENT_TYPE
from services import clients
from services.runtime.store import EMIT, REJECT, StepStore
from services.settings import Settings

log = logging.getLogger("accord.relay")


def rejection(
    value: bytes | None,
    key: bytes | None,
    reason: str,
    field: str | None,
    source: str,
    partition: int,
    offset: int,
    kind: str = "bad-input",
) -> bytes:
    """The stored form of a rejected input: the original bytes, untouched, and the reason.
    `kind` is bad-input, conflict (an id reused with other content) or step-error (a bug)."""
    return json.dumps(
        {
            "key": base64.b64encode(key).decode() if key is not None else None,
            "value": base64.b64encode(value).decode() if value is not None else None,
            "headers": [
                ["error", reason],
                ["error-field", field or ""],
                ["error-kind", kind],
                ["source-topic", source],
                ["source-partition", str(partition)],
                ["source-offset", str(offset)],
            ],
        }
    ).encode()


class Relay:
    def __init__(
        self,
        step: str,
        store: StepStore,
        settings: Settings,
        anchor_topic: str,
        on_publish: Callable[[str, str], None] = lambda topic, kind: None,
    ) -> None:
        self.step = step
        self.store = store
        self.group = f"accord-relay-{step}-{store.identity()}"
        self.anchor = TopicPartition(anchor_topic, 0)
        self.settings = settings
        self.on_publish = on_publish
        self.producer: KafkaProducer = clients.producer(
            settings,
            transactional_id=f"accord-{step}",
            linger_ms=2,
            max_request_size=4 * 1024 * 1024,
        )
        self.producer.init_transactions()  # fences a previous instance, aborts its open transaction
        self.position = self._committed_position()

    def _committed_position(self) -> int:
        probe = clients.consumer(self.settings, group_id=self.group, enable_auto_commit=False)
        try:
            committed = probe.committed(self.anchor)
        finally:
            probe.close()
        return (committed or 1) - 1

    def backlog(self) -> int:
        return max(0, self.store.last_notification() - self.position)

    def publish(self, limit: int = 1000) -> int:
        """Publish everything recorded since the last run; returns how many messages went out."""
        total = 0
        while True:
            batch = self.store.notifications(self.position, limit)
            if not batch:
                return total
            last = batch[-1].id
            self.producer.begin_transaction()
            sent = 0
            for note in batch:
                kind, topic, type_name, version, key = note.topic.split("|", 4)
                if kind == EMIT:
                    self.producer.send(
                        topic,
                        key=key.encode(),
                        value=note.state,
                        headers=[
                            ("content-type", CONTENT_TYPE),
                            ("type", type_name.encode()),
                            ("schema-version", version.encode()),
                        ],
                    )
                elif kind == REJECT:
                    raw = json.loads(note.state)
                    self.producer.send(
                        topic,
                        key=base64.b64decode(raw["key"]) if raw["key"] is not None else None,
                        value=base64.b64decode(raw["value"]) if raw["value"] is not None else None,
                        headers=[(name, value.encode()) for name, value in raw["headers"]],
                    )
                else:
                    continue
                sent += 1
                self.on_publish(topic, kind)
            self.producer.send_offsets_to_transaction(
                {self.anchor: OffsetAndMetadata(last + 1, "", -1)}, self.group
            )
            self.producer.commit_transaction()
            self.position = last
            total += sent

    def close(self) -> None:
        self.producer.close(timeout=10)
