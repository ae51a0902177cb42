"""A cooperative (KIP-429) assignor that keeps a step's input topics co-partitioned: partition n
of every input topic goes to the same member, so one instance owns all of a case's inputs
(every input is keyed by case id) and one store holds the case."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment
from kafka.structs import TopicPartition


class CoPartitionedAssignor(CooperativeStickyAssignor):  # type: ignore[misc]
    """kafka-python's cooperative-sticky balances topic-partitions one by one: with two input
    topics and two members it gave all of one topic to each member. Here the unit is a
    partition number across the subscribed topics: units stay with their owner while it is
    within its share (sticky), the rest go to the members below theirs, and — cooperatively —
    a unit moving from a live owner is handed out only in the next round, after that owner has
    revoked it (the follow-up rebalance kafka-python's coordinator requests)."""

    name = "accord-copartitioned"

    def assign(self, cluster: Any, members: Any) -> dict[str, Any]:
        topics = sorted({t for m in members for t in self.parse_member_metadata(m.metadata).subscription})
        numbers = sorted({p for t in topics for p in (cluster.partitions_for_topic(t) or ())})
        owners: dict[TopicPartition, str] = {}
        for member in members:
            for tp in self.parse_member_metadata(member.metadata).partitions:
                owners[tp] = member.member_id
        ids = sorted(m.member_id for m in members)
        final = _balance(numbers, ids, owners)
        assignment = {}
        for member_id in ids:
            given: dict[str, list[int]] = defaultdict(list)
            for number in final[member_id]:
                for topic in topics:
                    tp = TopicPartition(topic, number)
                    if number in (cluster.partitions_for_topic(topic) or ()) and owners.get(tp) in (
                        None,
                        member_id,
                    ):
                        given[topic].append(number)
            assignment[member_id] = ConsumerProtocolAssignment(
                self.version, sorted((t, sorted(ps)) for t, ps in given.items()), b""
            )
        return assignment


def _balance(numbers: list[int], ids: list[str], owners: dict[TopicPartition, str]) -> dict[str, list[int]]:
    """Partition numbers per member: as even as can be, each kept by its current owner while
    that owner is within its share."""
    share, extra = divmod(len(numbers), len(ids))
    quota = {member_id: share + (1 if i < extra else 0) for i, member_id in enumerate(ids)}
    current: dict[int, str] = {}
    for number in numbers:
        votes = [owner for tp, owner in owners.items() if tp.partition == number and owner in quota]
        if votes:
            current[number] = max(sorted(set(votes)), key=votes.count)
    # Members that own more get the larger quotas, so fewer units move.
    by_holding = sorted(ids, key=lambda m: (-sum(1 for o in current.values() if o == m), m))
    quota = dict(zip(by_holding, sorted(quota.values(), reverse=True), strict=True))
    final: dict[str, list[int]] = {member_id: [] for member_id in ids}
    free: list[int] = []
    for number in numbers:
        owner = current.get(number)
        if owner is not None and len(final[owner]) < quota[owner]:
            final[owner].append(number)
        else:
            free.append(number)
    for number in free:
        member_id = min(ids, key=lambda m: (len(final[m]) - quota[m], m))
        final[member_id].append(number)
    return final
