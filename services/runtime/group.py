"""A step instance's share of its input partitions: joins the step's consumer group
(cooperative and co-partitioned, static membership, read_committed, no auto commit), starts each
partition it is given where the store says, and tells its owner what it gained and lost."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import MemberState

from services import clients
from services.runtime.assignor import CoPartitionedAssignor
from services.settings import Settings

log = logging.getLogger("accord.group")

Partitions = frozenset[TopicPartition]
Batch = dict[TopicPartition, list[ConsumerRecord]]


class GroupSource:
    """Consumes `topics` as one member of `group_id`; `instance_id` makes it a static member
    (KIP-345), so a restart within the session timeout gets its partitions back without a
    rebalance. Partition n of every topic goes to the same member (services/runtime/assignor.py),
    moved incrementally (KIP-429); `partition_assignment_strategy` overrides it.

    - `recorded(tp)` is the last offset the owner's store recorded for a partition (None: none
      yet). A partition this member is given is read from the offset after it; Kafka's
      committed offsets are never used to start from (they are for lag only).
    - `on_revoked(partitions)` and `on_assigned(partitions)` are called on the caller's
      thread, from `poll()`, before it returns any record: the owner has finished the input in
      hand (it is the one calling poll), drops a revoked partition's state, loads an assigned
      one's. A partition taken away by force (this member was expelled: session timeout,
      fenced) is revoked the same way — its records were possibly already read by another
      member, which only the store's and the relay's fencing make safe.

    kafka-python calls its rebalance listener on its IO thread while poll() blocks; only the
    seek happens there (it must precede the first fetch of the partition). Anything the owner's
    `recorded` raises is raised again from poll(), as itself, and the partition stays paused."""

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: Iterable[str],
        *,
        recorded: Callable[[TopicPartition], int | None],
        on_revoked: Callable[[Partitions], None] = lambda partitions: None,
        on_assigned: Callable[[Partitions], None] = lambda partitions: None,
        instance_id: str | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self.topics = sorted(topics)
        self.recorded = recorded
        self.on_revoked = on_revoked
        self.on_assigned = on_assigned
        self.instance_id = instance_id
        self.overrides = overrides
        self.consumer: KafkaConsumer | None = None
        self._lock = threading.Lock()
        self._owned: set[TopicPartition] = set()
        self._revoked: set[TopicPartition] = set()
        self._assigned: set[TopicPartition] = set()
        self._failure: BaseException | None = None
        self.heals = 0  # times a stuck rebalance was restarted (see _heal)

    def start(self, timeout_s: float | None = None) -> None:
        options: dict[str, Any] = {
            "group_id": self.group_id,
            "partition_assignment_strategy": [CoPartitionedAssignor],
            "enable_auto_commit": False,
            "isolation_level": "read_committed",
            **self.overrides,
        }
        if self.instance_id is not None:
            options["group_instance_id"] = self.instance_id
        self.consumer = clients.consumer(self.settings, **options)
        self.consumer.subscribe(self.topics, listener=_Listener(self))
        self._await_metadata(timeout_s if timeout_s is not None else self.settings.kafka_timeout_s)

    def owned(self) -> Partitions:
        """The partitions this member owns now (as of its last poll)."""
        with self._lock:
            return frozenset(self._owned)

    def poll(self, timeout_ms: int = 200) -> Batch:
        """Records of owned partitions only, each from where the store left it. Rebalances
        happen inside this call; their notifications are delivered before it returns."""
        assert self.consumer is not None, "start() first"
        batch: Batch = self.consumer.poll(timeout_ms=timeout_ms)
        self._heal()
        self._deliver()
        with self._lock:
            owned = set(self._owned)
        # A record fetched before its partition moved is not ours to handle any more.
        return {tp: records for tp, records in batch.items() if tp in owned}

    def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Advisory: committed offsets report lag; the store holds the truth."""
        from kafka.structs import OffsetAndMetadata

        assert self.consumer is not None
        with contextlib.suppress(KafkaError):
            self.consumer.commit_async(
                {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
            )

    def close(self) -> None:
        """Leave. A static member does not send LeaveGroup: its partitions wait for it (up to
        the session timeout) so that a restart gets them back without a rebalance."""
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            with contextlib.suppress(KafkaError):
                consumer.close(autocommit=False)

    # -- kafka-python's IO thread ------------------------------------------------------------
    def _assign(self, partitions: set[TopicPartition]) -> None:
        assert self.consumer is not None
        for tp in sorted(partitions):
            try:
                last = self.recorded(tp)
            except BaseException as exc:  # noqa: BLE001 - raised again from poll()
                self.consumer.pause(tp)
                with self._lock:
                    self._failure = self._failure or exc
                continue
            if last is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, last + 1)
        with self._lock:
            self._owned |= partitions
            self._assigned |= partitions
            self._revoked -= partitions

    def _revoke(self, partitions: set[TopicPartition]) -> None:
        with self._lock:
            self._owned -= partitions
            self._revoked |= partitions
            self._assigned -= partitions

    # -- the caller's thread -----------------------------------------------------------------
    def _deliver(self) -> None:
        with self._lock:
            failure, self._failure = self._failure, None
            revoked, self._revoked = frozenset(self._revoked), set()
            assigned, self._assigned = frozenset(self._assigned), set()
        if failure is not None:
            raise failure
        if revoked:
            log.info("%s: partitions revoked: %s", self.group_id, _names(revoked))
            self.on_revoked(revoked)
        if assigned:
            log.info("%s: partitions assigned: %s", self.group_id, _names(assigned))
            self.on_assigned(assigned)

    def _await_metadata(self, timeout_s: float) -> None:
        """Wait until the subscribed topics' partitions are known before the first join, so
        that a leader never assigns from empty metadata (see _heal for what follows if it
        does). A topic that does not exist is an error, as it is for the assign()ing loop."""
        assert self.consumer is not None
        coordinator = self.consumer._coordinator
        deadline = time.monotonic() + timeout_s
        self.consumer._cluster.request_update()
        while True:
            snapshot = getattr(coordinator, "_metadata_snapshot", None) or {}
            missing = [t for t in self.topics if not snapshot.get(t)]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.group_id}: no partitions known for {missing}")
            time.sleep(0.05)

    def _heal(self) -> None:
        assert self.consumer is not None
        if unstick(self.consumer):
            self.heals += 1
            log.warning("%s: a finished rebalance was never applied; joining again", self.group_id)


def unstick(consumer: KafkaConsumer) -> bool:
    """Call after each poll() of a subscribe()d consumer; True if it had to act.

    kafka-python 3.0 can leave a member half-way through a rebalance for good: a join the
    leader started because its metadata changed (coordinator/consumer.py need_rejoin: the
    assignment snapshot differs from the metadata snapshot) may still be in flight when poll()
    stops waiting for it (coordinator/base.py join_group_async leaves the task running); the
    leader's own assignment step then makes the snapshots equal (_perform_assignment), so
    need_rejoin() is false and no later poll() collects the finished join. The member stays
    REBALANCING with its heartbeats off and its assignment never applied, and poll() spins:
    its wait is capped by the time to the next heartbeat, overdue = 0 ms, and it sleeps only
    for a positive wait (consumer/group.py _poll_once). Asking for a rejoin makes the next
    poll() join again and apply the result."""
    coordinator = consumer._coordinator
    task = getattr(coordinator, "_join_task", None)
    if (
        coordinator.state is MemberState.REBALANCING
        and task is not None
        and task.is_done
        and not coordinator.need_rejoin()
    ):
        coordinator.request_rejoin()
        return True
    return False


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: GroupSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.source._revoke(set(revoked))

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.source._assign(set(assigned))


def _names(partitions: Iterable[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(partitions))
