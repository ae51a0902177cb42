"""The one consumer loop, shared by every step: read the step's input partitions from Kafka,
hand each record to the step's processor (processor.py), let timers fire, and keep the relay
publishing what was recorded. Built by services/bootstrap.py; nothing here knows a step."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from services import clients
from services.runtime import metrics
from services.runtime.health import Liveness
from services.runtime.processor import Processor
from services.runtime.relay import Relay
from services.settings import Settings

log = logging.getLogger("accord.loop")


def group_id(step: str) -> str:
    """The step's consumer group (its committed offsets are for lag only; the store holds the truth)."""
    return f"accord-{step}"


class Runner:
    """Runs one step on Kafka: `bootstrap.step_runner(name, settings).run(stop)`."""

    def __init__(
        self,
        processor: Processor,
        settings: Settings,
        relay: Callable[[Callable[[str, str], None], Callable[[], None]], Relay],
        liveness: Liveness | None = None,
    ) -> None:
        self.processor = processor
        self.name = processor.name
        self.settings = settings
        self.new_relay = relay
        self.relay: Relay | None = None
        self.consumer: Any = None
        self.liveness = liveness or Liveness(self.name, settings.liveness_s)
        self.lag = 0  # records behind the ends of the input partitions, as last measured

    def start(self) -> None:
        self.relay = self.new_relay(
            self._published, lambda: metrics.RECOVERIES.labels(self.name, "relay").inc()
        )
        published = self.relay.publish()  # whatever was recorded before a crash goes out now
        if published:
            log.info("%s: published %d message(s) recorded before the last stop", self.name, published)
        self.processor.rebuild_timers(self.liveness.beat)
        self.consumer = clients.consumer(
            self.settings,
            group_id=group_id(self.name),
            max_poll_records=500,
            client_id=f"accord-{self.name}",
        )
        # One instance per step owns every input partition (the store's tracking is the truth;
        # the group's committed offsets only report lag). Scaling out means splitting the
        # partitions between instances, each with its own store.
        partitions = clients.partitions(self.consumer, self.processor.step.inputs, 60.0, self.name)
        self.consumer.assign(partitions)
        read_before = []
        for tp in partitions:
            recorded = self.processor.store.position(f"{tp.topic}:{tp.partition}")
            if recorded is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, recorded + 1)
                read_before.append(f"{tp.topic}:{tp.partition}")
        self.processor.caught_up = self._caught_up
        self.processor.watermark.assign([f"{tp.topic}:{tp.partition}" for tp in partitions], read_before)

    def _caught_up(self, partition: str) -> bool:
        """Whether this input partition has been read to its end, as of the last fetch."""
        if self.consumer is None:
            return False
        topic, number = partition.rsplit(":", 1)
        tp = TopicPartition(topic, int(number))
        end = self.consumer.highwater(tp)  # from the last fetch: no request
        if end is None:
            return False
        position = self.consumer.position(tp, timeout_ms=1000)  # known after a fetch: no wait
        return position is not None and position >= end  # (past commit markers too)

    def _published(self, topic: str, kind: str) -> None:
        metrics.PUBLISHED.labels(self.name, topic).inc()
        # A long backlog (after an outage, or a rebuilt store) is progress, not a hung loop.
        self.liveness.beat()
        self.liveness.progressed(1)

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume, record and publish until `stop` is set. Through a broker outage it keeps
        turning: polls return nothing, the relay repairs itself (services/runtime/relay.py),
        lag is measured again later; only an error nothing here can cure is raised, and the
        process then exits non-zero."""
        stop = stop or threading.Event()
        self.start()
        assert self.relay is not None
        last_tick = 0.0
        try:
            while not stop.is_set():
                self.liveness.beat()
                try:
                    batch = self.consumer.poll(timeout_ms=200)
                except clients.UNRECOVERABLE:
                    raise
                except KafkaError as exc:
                    # kafka-python 3.0 lets a failed metadata refresh out of poll() while it
                    # looks for the group coordinator (coordinator/base.py); the broker is away.
                    metrics.KAFKA_ERRORS.labels(self.name, "poll").inc()
                    log.warning("%s: poll failed (%s: %s); polling again", self.name, type(exc).__name__, exc)
                    stop.wait(1.0)
                    batch = {}
                for tp, records in batch.items():
                    for record in records:
                        try:
                            self.processor.handle(
                                tp.topic, tp.partition, record.offset, record.key, record.value
                            )
                        except Exception:
                            metrics.ERRORS.labels(self.name).inc()
                            raise
                    self.liveness.progressed(len(records))
                if time.monotonic() - last_tick >= self.settings.tick_seconds:
                    self.processor.tick()
                    self._report_lag()
                    last_tick = time.monotonic()
                if self.relay.backlog() or self.relay.producer is None:
                    self.relay.publish()  # progress is counted per message (_published)
                backlog = self.relay.backlog()
                metrics.BACKLOG.labels(self.name).set(backlog)
                self.liveness.waiting(self.lag + backlog)
                if batch:
                    with contextlib.suppress(KafkaError):
                        self.consumer.commit_async()  # advisory, for lag; the store holds the truth
        finally:
            self.close()

    def _report_lag(self) -> None:
        """Lag per input partition, bounded by ACCORD_KAFKA_TIMEOUT; while Kafka does not
        answer, the last measurement stands."""
        try:
            ends = self.consumer.end_offsets(
                list(self.consumer.assignment()), timeout_ms=clients.timeout_ms(self.settings)
            )
            lags = {tp: max(0, end - self.consumer.position(tp, timeout_ms=1000)) for tp, end in ends.items()}
        except Exception:  # noqa: BLE001 - lag is best effort; never stop the step for it
            metrics.KAFKA_ERRORS.labels(self.name, "end_offsets").inc()
            return
        for tp, lag in lags.items():
            metrics.LAG.labels(self.name, tp.topic, str(tp.partition)).set(lag)
        self.lag = sum(lags.values())

    def close(self) -> None:
        # Each close is bounded; one that fails must not leave the other client open.
        if self.consumer is not None:
            with contextlib.suppress(KafkaError):
                self.consumer.close(autocommit=False)
            self.consumer = None
        if self.relay is not None:
            with contextlib.suppress(KafkaError):
                self.relay.close()
            self.relay = None
