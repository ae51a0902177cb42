"""services/runtime/assignor.py: partition n of every input topic goes to one member; units stay
with their owners within their share; a unit moving from a live owner is handed out next round."""

from __future__ import annotations

from types import SimpleNamespace

from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription
from kafka.structs import TopicPartition

from services.runtime.assignor import CoPartitionedAssignor, _balance

TOPICS = ["commands", "events"]


def member(member_id: str, owned: dict[str, list[int]] | None = None) -> SimpleNamespace:
    owned_partitions = [
        ConsumerProtocolSubscription.TopicPartition(topic=t, partitions=ps) for t, ps in (owned or {}).items()
    ]
    metadata = ConsumerProtocolSubscription(
        version=1, topics=TOPICS, user_data=b"", owned_partitions=owned_partitions
    )
    return SimpleNamespace(member_id=member_id, metadata=metadata)


class Cluster:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def topics(self) -> list[str]:
        return TOPICS


def given(assignment: dict, member_id: str) -> dict[str, list[int]]:
    return {t: list(ps) for t, ps in assignment[member_id].assigned_partitions}


def test_each_member_gets_the_same_partition_numbers_of_every_topic() -> None:
    assignment = CoPartitionedAssignor().assign(Cluster(6), [member("a"), member("b"), member("c")])
    numbers = [set(given(assignment, m)["commands"]) for m in "abc"]
    for m, mine in zip("abc", numbers, strict=True):
        assert set(given(assignment, m)["events"]) == mine
    assert sorted(n for mine in numbers for n in mine) == list(range(6))
    assert [len(mine) for mine in numbers] == [2, 2, 2]


def test_kafka_pythons_cooperative_sticky_does_not_co_partition() -> None:
    """Why the assignor exists: the sticky algorithm balances topic-partitions one by one."""
    assignment = CooperativeStickyAssignor().assign(Cluster(3), [member("a"), member("b")])
    a = given(assignment, "a")
    assert set(a.get("commands", [])) != set(a.get("events", []))


def test_a_new_member_gets_units_only_after_their_owner_gave_them_up() -> None:
    everything = {t: list(range(4)) for t in TOPICS}
    first = CoPartitionedAssignor().assign(Cluster(4), [member("a", everything), member("b")])
    assert given(first, "b") == {}  # round one: a still owns every unit
    assert len(given(first, "a")["commands"]) == 2  # a keeps its share and revokes the rest
    kept = {t: ps for t, ps in given(first, "a").items()}
    second = CoPartitionedAssignor().assign(Cluster(4), [member("a", kept), member("b")])
    assert given(second, "a") == kept  # sticky
    assert sorted(given(second, "b")["events"]) == sorted(set(range(4)) - set(kept["events"]))


def test_units_stay_with_their_owner_within_its_share() -> None:
    owners = {TopicPartition(t, n): ("a" if n < 3 else "b") for t in TOPICS for n in range(6)}
    assert _balance(list(range(6)), ["a", "b", "c"], owners) == {"a": [0, 1], "b": [3, 4], "c": [2, 5]}
