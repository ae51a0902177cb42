"""The one consumer loop, shared by every step: one instance of a step, a member of its step's
consumer group (services/runtime/group.py). For each partition number it is given it opens that
partition's store, its processor (processor.py) and its relay (relay.py), and drops them when
the partition moves to another instance; it hands each record to the processor of its
partition, lets timers fire and keeps each relay publishing what was recorded. Built by
services/bootstrap.py; nothing here knows a step."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from services import clients
from services.runtime import metrics
from services.runtime.assignor import CoPartitionedAssignor
from services.runtime.group import GroupSource, Partitions
from services.runtime.health import Liveness
from services.runtime.processor import Processor, Received
from services.runtime.relay import Relay
from services.runtime.store import StepStore
from services.runtime.table import SharedTable
from services.settings import Settings
from services.steps.contract import StepSpec

log = logging.getLogger("accord.loop")

COMMIT_EVERY_S = 1.0  # how often the group's (advisory) offsets are committed

# A relay as its unit builds it: given what to call per published message and per recovery.
RelayFactory = Callable[[Callable[[str, str], None], Callable[[], None]], Relay]


def group_id(step: str) -> str:
    """The step's consumer group (its committed offsets are for lag only; the store holds the truth)."""
    return f"accord-{step}"


def instance_id(step: str, instance: int) -> str:
    """A step instance's static membership: the same id after a restart gets the same partitions."""
    return f"{group_id(step)}-{instance}"


@dataclass
class Unit:
    """One partition number's share of a step: the processor over its own store, and the relay
    publishing from that store."""

    number: int
    processor: Processor
    new_relay: RelayFactory
    relay: Relay | None = None
    partitions: set[TopicPartition] = field(default_factory=set)


class Runner:
    """Runs one instance of a step on Kafka: `bootstrap.step_runner(name, settings).run(stop)`.

    `open_store(number)` opens a partition number's store; `unit(number, store)` builds its
    processor and relay."""

    def __init__(
        self,
        spec: StepSpec[Any],
        settings: Settings,
        open_store: Callable[[int], StepStore],
        unit: Callable[[int, StepStore], Unit],
        liveness: Liveness | None = None,
        table: SharedTable | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.settings = settings
        self.open_store = open_store
        self.new_unit = unit
        self.table = table
        self.liveness = liveness or Liveness(self.name, settings.liveness_s)
        self.source: GroupSource | None = None
        self.units: dict[int, Unit] = {}
        self._stores: dict[int, StepStore] = {}  # opened on kafka-python's IO thread too
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None  # the relays' transactions, side by side
        self.lag = 0  # records behind the ends of the owned input partitions, as last measured

    def number(self, tp: TopicPartition) -> int:
        """The unit a topic-partition belongs to: its partition number, of every input topic."""
        return int(tp.partition)

    # -- ownership -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.table is not None:
            self.table.start()
        session_ms = int(self.settings.session_timeout_s * 1000)
        self.source = GroupSource(
            self.settings,
            group_id(self.name),
            self.spec.inputs,
            recorded=self._recorded,
            on_revoked=self._revoked,
            on_assigned=self._assigned,
            instance_id=instance_id(self.name, self.settings.instance),
            partition_assignment_strategy=[CoPartitionedAssignor],
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(500, session_ms // 5),
            max_poll_records=500,
            client_id=f"{instance_id(self.name, self.settings.instance)}",
        )
        self.source.start(timeout_s=60.0)  # topics being created as the services start
        self.liveness.instance = self.settings.instance
        self.liveness.partitions = []

    def _store(self, number: int) -> StepStore:
        with self._lock:
            store = self._stores.get(number)
            if store is None:
                store = self._stores[number] = self.open_store(number)
            return store

    def _recorded(self, tp: TopicPartition) -> int | None:
        """(kafka-python's IO thread) Where the store says this partition's reading resumes."""
        return self._store(self.number(tp)).position(f"{tp.topic}:{tp.partition}")

    def _assigned(self, partitions: Partitions) -> None:
        grouped: dict[int, set[TopicPartition]] = defaultdict(set)
        for tp in partitions:
            grouped[self.number(tp)].add(tp)
        opened: list[Unit] = []
        for number, tps in sorted(grouped.items()):
            unit = self.units.get(number)
            if unit is None:
                unit = self.units[number] = self.new_unit(number, self._store(number))
                opened.append(unit)
            unit.partitions |= tps
            names = [f"{tp.topic}:{tp.partition}" for tp in sorted(unit.partitions)]
            read_before = [name for name in names if unit.processor.store.position(name) is not None]
            unit.processor.watermark.assign(names, read_before)
        self._each(opened, self._open)  # each relay's producer fences its partition's previous owner
        for unit in opened:
            unit.processor.rebuild_timers(self.liveness.beat)
        self._owned_changed()

    def _open(self, unit: Unit) -> None:
        """A partition number this instance now owns: its relay (its producer fences the
        previous owner's, and publishes what that one recorded but had not published); its
        timers are rebuilt from its store next, on the loop's thread."""
        processor = unit.processor
        processor.caught_up = self._caught_up
        if self.table is not None:
            table = self.table
            processor.shared = table.current
        unit.relay = unit.new_relay(
            self._published, lambda: metrics.RECOVERIES.labels(self.name, "relay").inc()
        )
        unit.relay.on_commit = metrics.TRANSACTIONS.labels(self.name).observe
        published = unit.relay.publish()
        if published:
            log.info("%s[p%d]: published %d message(s) recorded before", self.name, unit.number, published)

    def _revoked(self, partitions: Partitions) -> None:
        """Partitions this instance no longer owns: the input in hand is finished (this runs
        between polls); what their store recorded is published if the relay still can, then
        their store, processor and relay are let go."""
        for tp in partitions:
            unit = self.units.get(self.number(tp))
            if unit is None:
                continue
            unit.partitions.discard(tp)
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(self.name, tp.topic, str(tp.partition))
            if unit.partitions:
                continue
            self._close(unit)
            del self.units[unit.number]
            with self._lock:
                store = self._stores.pop(unit.number, None)
            if store is not None:
                store.close()
        self._owned_changed()

    def _close(self, unit: Unit) -> None:
        if unit.relay is None:
            return
        relay, unit.relay = unit.relay, None
        with contextlib.suppress(KafkaError):
            relay.publish()  # hand over nothing unpublished (a fenced producer just fails here)
        with contextlib.suppress(KafkaError):
            relay.close()

    def _each(self, units: list[Unit], action: Callable[[Unit], None]) -> None:
        """`action` on each unit, at once when there are several (each touches only its own
        store and producer); an exception is raised here, on the loop's thread."""
        if len(units) <= 1:
            for unit in units:
                action(unit)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.partitions, thread_name_prefix=self.name
            )
        for done in [self._pool.submit(action, unit) for unit in units]:
            done.result()

    def _owned_changed(self) -> None:
        numbers = sorted({tp.partition for unit in self.units.values() for tp in unit.partitions})
        self.liveness.partitions = numbers
        metrics.OWNED.labels(self.name).set(len(numbers))
        self._count_timers()

    def _count_timers(self) -> None:
        metrics.TIMERS.labels(self.name).set(sum(len(u.processor.timers) for u in self.units.values()))

    def _caught_up(self, partition: str) -> bool:
        """Whether this input partition has been read to its end, as of the last fetch."""
        consumer = self.source.consumer if self.source is not None else None
        if consumer is None:
            return False
        topic, number = partition.rsplit(":", 1)
        tp = TopicPartition(topic, int(number))
        if tp not in consumer.assignment():
            return False
        end = consumer.highwater(tp)  # from the last fetch: no request
        if end is None:
            return False
        position = consumer.position(tp, timeout_ms=1000)  # known after a fetch: no wait
        return position is not None and position >= end  # (past commit markers too)

    def _published(self, topic: str, kind: str) -> None:
        metrics.PUBLISHED.labels(self.name, topic).inc()
        # A long backlog (after an outage, or a rebuilt store) is progress, not a hung loop.
        self.liveness.beat()
        self.liveness.progressed(1)

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Consume, record and publish until `stop` is set. Through a broker outage it keeps
        turning: polls return nothing, the relays repair themselves (services/runtime/relay.py),
        lag is measured again later; only an error nothing here can cure is raised, and the
        process then exits non-zero."""
        stop = stop or threading.Event()
        try:
            self.start()
            assert self.source is not None
            last_tick = last_commit = 0.0
            read: dict[TopicPartition, int] = {}  # next offsets to commit, per input partition
            while not stop.is_set():
                self.liveness.beat()
                try:
                    batch = self.source.poll(timeout_ms=200)
                except clients.UNRECOVERABLE:
                    raise
                except KafkaError as exc:
                    # kafka-python 3.0 lets a failed metadata refresh out of poll() while it
                    # looks for the group coordinator (coordinator/base.py); the broker is away.
                    metrics.KAFKA_ERRORS.labels(self.name, "poll").inc()
                    log.warning("%s: poll failed (%s: %s); polling again", self.name, type(exc).__name__, exc)
                    stop.wait(1.0)
                    batch = {}
                inputs: dict[int, list[Received]] = defaultdict(list)  # per unit: one store transaction
                for tp, records in batch.items():
                    if self.number(tp) not in self.units:  # not ours (the group source filters these already)
                        continue
                    inputs[self.number(tp)] += [
                        (tp.topic, tp.partition, r.offset, r.key, r.value, r.headers) for r in records
                    ]
                    read[tp] = records[-1].offset + 1
                for number, received in inputs.items():
                    try:
                        self.units[number].processor.handle_batch(received)
                    except Exception:
                        metrics.ERRORS.labels(self.name).inc()
                        raise
                    self.liveness.progressed(len(received))
                if self.table is not None:
                    self.table.poll()
                if time.monotonic() - last_tick >= self.settings.tick_seconds:
                    for unit in list(self.units.values()):
                        unit.processor.tick()
                    self._count_timers()
                    self._report_lag()
                    last_tick = time.monotonic()
                # Each partition's relay publishes in a Kafka transaction of its own (its own
                # transactional id): their round trips overlap (progress is counted per message).
                due = [u for u in self.units.values() if _due(u.relay)]
                self._each(due, _publish)
                backlog = sum(u.relay.backlog() for u in due if u.relay is not None)  # the others had none
                metrics.BACKLOG.labels(self.name).set(backlog)
                self.liveness.waiting(self.lag + backlog)
                if read and time.monotonic() - last_commit >= COMMIT_EVERY_S:
                    # Advisory, for lag seen from outside (the stores hold the truth); each
                    # commit is a write on the broker, so not one per poll.
                    owned = set(self.source.owned())
                    self.source.commit({tp: offset for tp, offset in read.items() if tp in owned})
                    read, last_commit = {}, time.monotonic()
        finally:
            self.close()

    def _report_lag(self) -> None:
        """Lag per owned input partition, bounded by ACCORD_KAFKA_TIMEOUT; while Kafka does not
        answer, the last measurement stands."""
        consumer = self.source.consumer if self.source is not None else None
        owned = list(self.source.owned()) if self.source is not None else []
        if consumer is None or not owned:
            self.lag = 0
            return
        try:
            ends = consumer.end_offsets(owned, timeout_ms=clients.timeout_ms(self.settings))
            lags = {tp: max(0, end - consumer.position(tp, timeout_ms=1000)) for tp, end in ends.items()}
        except Exception:  # noqa: BLE001 - lag is best effort; never stop the step for it
            metrics.KAFKA_ERRORS.labels(self.name, "end_offsets").inc()
            return
        for tp, lag in lags.items():
            metrics.LAG.labels(self.name, tp.topic, str(tp.partition)).set(lag)
        self.lag = sum(lags.values())

    def close(self) -> None:
        # Each close is bounded; one that fails must not leave another client open. The
        # relays go first: what was recorded is published before the partitions wait for us.
        for unit in list(self.units.values()):
            self._close(unit)
        if self.source is not None:
            self.source.close()
            self.source = None
        if self.table is not None:
            with contextlib.suppress(KafkaError):
                self.table.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            with contextlib.suppress(Exception):
                store.close()
        self.units.clear()


def _due(relay: Relay | None) -> bool:
    """A relay with something to publish, or one to reconnect (it knows its own back-off)."""
    return relay is not None and (relay.producer is None or relay.backlog() > 0)


def _publish(unit: Unit) -> None:
    if unit.relay is not None:
        unit.relay.publish()
