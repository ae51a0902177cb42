"""Kafka client factories with Accord's defaults, so every process talks to Kafka the same
way: idempotent producers that wait for all replicas, read_committed consumers, one admin, and
no call that blocks longer than ACCORD_KAFKA_TIMEOUT. Audit gets consumers only, as its own
read-only principal when one is configured. And the one way to read topics without a group:
TopicReader, and read_to_end on it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    AuthorizationError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    SaslAuthenticationFailedError,
    UnsupportedVersionError,
)

from services.settings import Settings


def connection(settings: Settings, *, audit: bool = False) -> dict[str, Any]:
    """Where and as whom to connect: the running service's own principal (ACCORD_SERVICE with
    ACCORD_KAFKA_CREDENTIALS) or KAFKA_SASL_USERNAME's, or (audit=True) the audit principal when
    one is configured, else the services' settings."""
    if audit and settings.audit_principal:
        bootstrap = settings.audit_bootstrap_servers or settings.bootstrap_servers
        protocol, username, password = (
            settings.audit_protocol,
            settings.audit_kafka_username,
            settings.audit_kafka_password,
        )
    else:
        bootstrap = settings.bootstrap_servers
        protocol = settings.security_protocol
        # A service's own principal (accord-<service>) when its credentials are configured.
        username, password = settings.kafka_principal()
    options: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    if protocol.endswith("SSL") and settings.ssl_cafile:
        options["ssl_cafile"] = str(settings.ssl_cafile)
    return options


# Kafka errors that waiting or a new client cannot cure: a service exits non-zero and says why.
# Every other KafkaError (broker gone, timeouts, a fenced producer) is ridden out.
UNRECOVERABLE = (
    SaslAuthenticationFailedError,
    AuthorizationError,
    UnsupportedVersionError,
    MessageSizeTooLargeError,
)


def timeout_ms(settings: Settings) -> int:
    return int(settings.kafka_timeout_s * 1000)


def bounded(settings: Settings) -> dict[str, Any]:
    """Finding the broker and any one request give up after ACCORD_KAFKA_TIMEOUT."""
    return {"request_timeout_ms": timeout_ms(settings), "bootstrap_timeout_ms": timeout_ms(settings)}


def producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    # Deliberately no `audit` switch: the audit principal never gets a producer.
    options: dict[str, Any] = {
        **connection(settings),
        **bounded(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
        "client_id": "accord",
        "max_block_ms": timeout_ms(settings),
        # A record not acknowledged by then fails (it must exceed request timeout + linger); a
        # transaction open longer is aborted by the broker.
        "delivery_timeout_ms": 2 * timeout_ms(settings) + 1000,
        "transaction_timeout_ms": 2 * timeout_ms(settings),
    }
    options.update(overrides)
    return KafkaProducer(**options)


class TransactionalProducer:
    """A transactional producer whose every step is bounded by ACCORD_KAFKA_TIMEOUT.

    kafka-python 3.0 waits for `send_offsets_to_transaction`, `commit_transaction` and
    `abort_transaction` without a timeout (`result.wait()` in producer/kafka.py), and its
    sender can drop such a request for good: when the cached coordinator's connection is gone,
    `Sender._maybe_send_pending_request` breaks out with `target_node` still set, so the
    request is neither sent nor re-enqueued, and the caller waits forever. Here each step
    waits on the transaction manager's result with a timeout instead (as kafka-python's own
    `init_transactions` does), and raises KafkaTimeoutError; the caller then throws the
    producer away and builds a new one, whose `init_transactions` fences this one and aborts
    whatever it left open."""

    def __init__(self, settings: Settings, transactional_id: str, **overrides: Any) -> None:
        self.timeout_ms = timeout_ms(settings)
        self.producer = producer(settings, transactional_id=transactional_id, **overrides)
        try:
            self.producer.init_transactions()  # bounded by max_block_ms
        except BaseException:
            self.close()
            raise
        self._sent: list[Any] = []

    def begin(self) -> None:
        self._sent = []
        self.producer.begin_transaction()

    def send(self, topic: str, **record: Any) -> None:
        self._sent.append(self.producer.send(topic, **record))

    def commit(self, offsets: dict[Any, Any], group_id: str) -> None:
        """Commit what was sent, with `offsets` as the group's offsets, in the transaction; any
        record that failed fails the commit (kafka-python would commit without it)."""
        self.producer.flush(timeout=self.timeout_ms / 1000)
        for future in self._sent:
            if future.failed():
                raise future.exception
        manager = self.producer._transaction_manager
        self._wait(manager.send_offsets_to_transaction(offsets, group_id), "send_offsets_to_transaction")
        self._wait(manager.begin_commit(), "commit_transaction")
        self._sent = []

    def abort(self) -> None:
        self._sent = []
        self._wait(self.producer._transaction_manager.begin_abort(), "abort_transaction")

    def _wait(self, result: Any, what: str) -> None:
        self.producer._sender.wakeup()
        if not result.wait(timeout_ms=self.timeout_ms):
            raise KafkaTimeoutError(f"{what} did not complete within {self.timeout_ms} ms")

    def close(self) -> None:
        close_producer(self.producer, self.timeout_ms / 1000)


def close_producer(producer: KafkaProducer, timeout_s: float) -> None:
    """Close without waiting more than timeout_s, even for records the broker never took."""
    try:
        producer.close(timeout=timeout_s)
    except KafkaError:
        # close() flushes first and gives up if records are still unacknowledged: fail them
        # (nobody will see them acknowledged now) and close again.
        producer._accumulator.abort_incomplete_batches()
        producer.close(timeout=0)


def consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    return _consumer(connection(settings), topics, {**bounded(settings), **overrides})


def audit_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    """A consumer for `accord audit`: as the audit principal (ACCORD_AUDIT_KAFKA_USERNAME) at
    ACCORD_AUDIT_BOOTSTRAP_SERVERS when configured, otherwise as the services. It never commits."""
    connect = connection(settings, audit=True)
    try:
        return _consumer(connect, topics, {**bounded(settings), **overrides, "enable_auto_commit": False})
    except KafkaTimeoutError as exc:
        # A broker that refuses a SASL login just closes the socket, which kafka-python retries
        # until its bootstrap times out; say what most likely went wrong.
        if settings.audit_principal and _listening(connect["bootstrap_servers"]):
            raise SaslAuthenticationFailedError(
                f"{connect['bootstrap_servers']} did not let the audit principal "
                f"{settings.audit_kafka_username!r} in: check ACCORD_AUDIT_KAFKA_USERNAME and "
                f"ACCORD_AUDIT_KAFKA_PASSWORD, and that this listener speaks {connect['security_protocol']} "
                f"with {settings.sasl_mechanism}"
            ) from exc
        raise


def _listening(bootstrap_servers: str) -> bool:
    host, port = bootstrap_servers.split(",")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def _consumer(connect: dict[str, Any], topics: tuple[str, ...], overrides: dict[str, Any]) -> KafkaConsumer:
    options: dict[str, Any] = {
        **connect,
        "isolation_level": "read_committed",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "client_id": "accord",
    }
    options.update(overrides)
    return KafkaConsumer(*topics, **options)


def audit_committed(
    settings: Settings, wanted: dict[str, list[TopicPartition]]
) -> dict[str, dict[TopicPartition, int]]:
    """For `accord audit`: the committed offsets of several groups, read in one OffsetFetch as
    the audit principal (see audit_consumer); a partition with none committed is left out.
    Reading is all it does: the admin client it uses never leaves this function."""
    admin = KafkaAdminClient(
        **connection(settings, audit=True), **bounded(settings), client_id="accord-audit"
    )
    try:
        found = admin.list_group_offsets(wanted)
    finally:
        admin.close()
    return {
        group: {tp: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0}
        for group, offsets in found.items()
    }


def admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    options: dict[str, Any] = {**connection(settings), **bounded(settings), "client_id": "accord"}
    options.update(overrides)
    return KafkaAdminClient(**options)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


def partitions(
    consumer: KafkaConsumer, topic_names: Iterable[str], wait_s: float | None = None, who: str = ""
) -> list[TopicPartition]:
    """Every partition of these topics. With `wait_s`, each topic must exist: wait that long
    for topics being created as a service starts, then raise; without, a missing one is skipped."""
    deadline = time.monotonic() + (wait_s or 0)
    while True:
        found = {name: consumer.partitions_for_topic(name) for name in topic_names}
        missing = [name for name, parts in found.items() if not parts]
        if not missing or wait_s is None:
            return [TopicPartition(name, p) for name, parts in found.items() for p in sorted(parts or [])]
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{who}{': ' if who else ''}topics {missing} do not exist; run `accord topics create`"
            )
        time.sleep(0.5)


Start = Literal["beginning", "end"] | Mapping[tuple[str, int], int]


class TopicReader:
    """Every partition of some topics, assigned without a consumer group and read from `start`:
    the beginning, the end, or stored next offsets (partitions without one from the beginning).
    As the services' principal, or (audit=True) the read-only audit principal. The one loop
    behind reading to the end (audit, privacy, the rebuild), following the topics (the watcher,
    the simulation) and the projection service."""

    def __init__(
        self,
        settings: Settings,
        topic_names: Iterable[str],
        *,
        start: Start = "beginning",
        audit: bool = False,
        wait_s: float | None = None,
        **overrides: Any,
    ) -> None:
        self.consumer = (audit_consumer if audit else consumer)(settings, **overrides)
        try:
            self.parts = partitions(self.consumer, topic_names, wait_s)
            self.consumer.assign(self.parts)
            if start == "end":
                for tp, end in self.consumer.end_offsets(self.parts).items():
                    self.consumer.seek(tp, end)
            elif start == "beginning":
                self.consumer.seek_to_beginning(*self.parts)
            else:
                for tp in self.parts:
                    offset = start.get((tp.topic, tp.partition))
                    if offset is None:
                        self.consumer.seek_to_beginning(tp)
                    else:
                        self.consumer.seek(tp, offset)
        except BaseException:
            self.consumer.close()
            raise

    def ends(self) -> dict[TopicPartition, int]:
        """Each partition's end offset as of now."""
        return dict(self.consumer.end_offsets(self.parts))

    def poll(
        self, timeout_ms: int = 500, until: Mapping[TopicPartition, int] | None = None, **options: Any
    ) -> list[Record]:
        """The records of one poll; with `until`, none at or past a partition's limit (the
        reader then stands at the limit)."""
        out: list[Record] = []
        for tp, records in self.consumer.poll(timeout_ms=timeout_ms, **options).items():
            stop = until.get(tp, 0) if until is not None else None
            for r in records:
                if stop is not None and r.offset >= stop:
                    self.consumer.seek(tp, stop)
                    break
                out.append(Record(tp.topic, tp.partition, r.offset, r.value or b""))
        return out

    def batches(
        self, until: Mapping[TopicPartition, int] | None = None, progress: Callable[[int], None] | None = None
    ) -> Iterator[list[Record]]:
        """Polled batches until every partition reaches `until` (default: its end as of now);
        `progress` hears the number of records read so far after every poll."""
        limits = dict(until) if until is not None else self.ends()
        count = 0
        while any(self.consumer.position(tp) < limits.get(tp, 0) for tp in self.parts):
            batch = self.poll(500, limits)
            count += len(batch)
            if batch:
                yield batch
            if progress:
                progress(count)

    def close(self) -> None:
        self.consumer.close()


def read_to_end(
    settings: Settings, topic_names: list[str], progress: Callable[[int], None] | None = None
) -> Iterator[Record]:
    """Every committed record of these topics, from offset 0 to the end as of now, read as the
    audit principal (read-only)."""
    reader = TopicReader(
        settings,
        topic_names,
        audit=True,
        client_id="accord-audit",
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        for batch in reader.batches(progress=progress):
            yield from batch
    finally:
        reader.close()
