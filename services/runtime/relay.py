"""The one relay: publishes what a step recorded (its events, and rejected inputs) from its
store through an outlet, in order, in transactions. On Kafka (`KafkaOutlet`) the relay's position
is committed inside the same transaction (as the offset of group `accord-relay-<step>-<store id>`),
so a crash at any moment neither loses nor duplicates a published message. When Kafka fails under
it (broker gone, producer fenced, a step timed out) it drops the outlet, opens a new one and
carries on from the store. Tests hand it an outlet of their own (tests/bus.py)."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from eventsourcing.persistence import Notification
from kafka import TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from events.codec import CONTENT_TYPE
from services import clients
from services.runtime.store import EMIT, FORWARD, REJECT, StepStore
from services.settings import Settings

log = logging.getLogger("accord.relay")


def transactional_id(step: str, partition: int | None = None) -> str:
    """The relay's transactional id, one per store (per partition number): the producer of a
    partition's new owner fences the previous owner's at once."""
    return f"accord-{step}" if partition is None else f"accord-{step}-p{partition}"


def relay_group(step: str, store_identity: str) -> str:
    """The group whose offset on the step's topic is the relay's position (per store identity;
    with an empty identity, the prefix every store of the step shares)."""
    return f"accord-relay-{step}-{store_identity}"


def stored_record(key: bytes | None, value: bytes | None, headers: list[tuple[str, str]]) -> bytes:
    """The stored form of a record published as it is (a rejected input, a forwarded one)."""
    return json.dumps(
        {
            "key": base64.b64encode(key).decode() if key is not None else None,
            "value": base64.b64encode(value).decode() if value is not None else None,
            "headers": headers,
        }
    ).encode()


def unwrap(data: bytes) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """(key, value, headers) of a stored record."""
    raw = json.loads(data)
    return (
        base64.b64decode(raw["key"]) if raw["key"] is not None else None,
        base64.b64decode(raw["value"]) if raw["value"] is not None else None,
        [(name, value.encode()) for name, value in raw["headers"]],
    )


def forward(value: bytes, key: str, type_name: str, cause_hash: str | None) -> bytes:
    """The stored form of an input re-keyed for a step's second stage: its bytes, its new key,
    and the hash of the bytes it arrived with (the events it causes name that hash, which audit
    checks against the input's topic; a submission sealed on arrival has other bytes now)."""
    headers = [("content-type", CONTENT_TYPE.decode()), ("type", type_name)]
    if cause_hash is not None:
        headers.append(("cause-hash", cause_hash))
    return stored_record(key.encode(), value, headers)


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
    return stored_record(
        key,
        value,
        [
            ("error", reason),
            ("error-field", field or ""),
            ("error-kind", kind),
            ("source-topic", source),
            ("source-partition", str(partition)),
            ("source-offset", str(offset)),
        ],
    )


class Record(NamedTuple):
    """What goes out for one stored item."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    kind: str  # EMIT, FORWARD or REJECT


def outgoing(note: Notification) -> Record | None:
    """The record a stored item becomes (None: an item that is never published)."""
    kind, topic, type_name, version, key = note.topic.split("|", 4)
    if kind == EMIT:
        headers = [
            ("content-type", CONTENT_TYPE),
            ("type", type_name.encode()),
            ("schema-version", version.encode()),
        ]
        return Record(topic, key.encode(), note.state, headers, kind)
    if kind in (REJECT, FORWARD):
        record_key, value, stored_headers = unwrap(note.state)
        return Record(topic, record_key, value, stored_headers, kind)
    return None


class Outlet(Protocol):
    """Where a relay publishes, transactionally: `open` returns the store position the last
    committed transaction recorded; `commit(position)` records the new one with the records."""

    def open(self) -> int: ...
    def begin(self) -> None: ...
    def send(self, record: Record) -> None: ...
    def commit(self, position: int) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class KafkaOutlet:
    """Kafka transactions; the position is the offset of the relay's own group, committed in
    the same transaction as the records (so both happen or neither)."""

    def __init__(self, step: str, store: StepStore, settings: Settings, anchor_topic: str) -> None:
        self.step = step
        self.settings = settings
        self.group = relay_group(step, store.identity())
        self.partition = store.partition
        self.anchor = TopicPartition(anchor_topic, 0)
        self.producer: clients.TransactionalProducer | None = None

    def open(self) -> int:
        """A new producer (its init_transactions fences any previous one and aborts what that
        left open), then the position the last committed transaction recorded."""
        self.producer = clients.TransactionalProducer(
            self.settings,
            transactional_id=transactional_id(self.step, self.partition),
            linger_ms=2,
            max_request_size=4 * 1024 * 1024,
        )
        # Read as committed, not "stable" (read_uncommitted: OffsetFetch without RequireStable).
        # init_transactions above has finished every transaction of this transactional id, so
        # a transactional offset commit still pending now is an orphan, appended after its
        # transaction was aborted (a request that arrived late across a broker restart): it will
        # never complete, and asking for stable offsets would fail until the timeout, again and
        # again — the relay would never publish. Its transaction wrote nothing visible.
        probe = clients.consumer(
            self.settings, group_id=self.group, enable_auto_commit=False, isolation_level="read_uncommitted"
        )
        try:
            committed = probe.committed(self.anchor, timeout_ms=clients.timeout_ms(self.settings))
        finally:
            probe.close(autocommit=False)
        return (committed or 1) - 1

    def begin(self) -> None:
        assert self.producer is not None
        self.producer.begin()

    def send(self, record: Record) -> None:
        assert self.producer is not None
        self.producer.send(record.topic, key=record.key, value=record.value, headers=record.headers)

    def commit(self, position: int) -> None:
        assert self.producer is not None
        self.producer.commit({self.anchor: OffsetAndMetadata(position + 1, "", -1)}, self.group)

    def abort(self) -> None:
        if self.producer is not None:
            self.producer.abort()

    def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.close()


class Relay:
    def __init__(
        self,
        step: str,
        store: StepStore,
        outlet: Callable[[], Outlet],
        on_publish: Callable[[str, str], None] = lambda topic, kind: None,
        on_recover: Callable[[], None] = lambda: None,
    ) -> None:
        self.step = step
        self.store = store
        self.new_outlet = outlet
        self.on_publish = on_publish
        self.on_recover = on_recover
        self.producer: Outlet | None = None
        self.position = 0
        self.failures = 0  # consecutive failed attempts, for the back-off
        self.retry_at = 0.0
        self.on_commit: Callable[[float], None] = lambda seconds: None  # per committed transaction
        try:
            self.connect()
        except clients.UNRECOVERABLE:
            raise
        except KafkaError as exc:  # e.g. a broker still starting: publish() tries again
            self._drop(exc)

    def connect(self) -> None:
        outlet = self.new_outlet()
        try:
            self.position = outlet.open()
        except BaseException:
            with contextlib.suppress(KafkaError):
                outlet.close()
            raise
        self.producer = outlet

    def backlog(self) -> int:
        return max(0, self.store.last_notification() - self.position)

    def publish(self, limit: int = 1000) -> int:
        """Publish everything recorded since the last run; returns how many messages went out.
        A Kafka failure is logged and repaired on a later call (with back-off); only an error
        no new producer can cure is raised."""
        total = 0
        try:
            if self.producer is None:
                if time.monotonic() < self.retry_at:
                    return 0
                self.connect()
                log.info("%s: relay reconnected; publishing from position %d", self.step, self.position)
            while True:
                batch = self.store.notifications(self.position, limit)
                if not batch:
                    self.failures = 0
                    return total
                total += self._transaction(batch)
        except clients.UNRECOVERABLE:
            raise
        except KafkaError as exc:
            self._drop(exc)
            return total

    def _transaction(self, batch: Sequence[Notification]) -> int:
        assert self.producer is not None
        started = time.perf_counter()
        last = batch[-1].id
        self.producer.begin()
        sent: list[tuple[str, str]] = []
        for note in batch:
            record = outgoing(note)
            if record is None:
                continue
            self.producer.send(record)
            sent.append((record.topic, record.kind))
        self.producer.commit(last)
        self.position = last
        self.on_commit(time.perf_counter() - started)
        for topic, kind in sent:
            self.on_publish(topic, kind)
        return len(sent)

    def _drop(self, exc: KafkaError) -> None:
        """Give up this producer after a failure: abort if it still can (a new producer's
        init_transactions aborts the transaction anyway), close it, and try again later."""
        self.failures += 1
        delay = min(15.0, 0.5 * 2 ** min(self.failures, 5))
        self.retry_at = time.monotonic() + delay
        log.warning(
            "%s: relay failed (%s: %s); new producer in %.1fs, then publishing again from the store",
            self.step,
            type(exc).__name__,
            exc,
            delay,
        )
        self.on_recover()
        producer, self.producer = self.producer, None
        if producer is None:
            return
        if not isinstance(exc, KafkaTimeoutError):  # after a timeout the abort would only time out too
            with contextlib.suppress(KafkaError):
                producer.abort()
        try:
            producer.close()
        except KafkaError as close_exc:
            log.warning("%s: closing the old producer failed: %s", self.step, close_exc)

    def close(self) -> None:
        if self.producer is not None:
            self.producer.close()
            self.producer = None
