"""Partition ownership in a step's consumer group (services/runtime/group.py) on the real broker,
with members as real processes: the partitions are shared without overlap, a killed member's
partitions move, a restarted static member gets its own back, every partition starts where the
store says, and an idle member does not spin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from services import clients
from services.runtime.group import GroupSource
from services.settings import Settings

pytestmark = pytest.mark.broker

SESSION_MS = 10_000  # the broker's group.min.session.timeout.ms is 6 s
LIMIT_S = 90.0  # generous: a condition that holds at all holds long before this


class Member:
    """A group member process and everything it reported."""

    def __init__(
        self, settings: Settings, topic: str, group: str, instance: str | None, *extra: str, busy_s: float = 0
    ) -> None:
        command = [sys.executable, "-m", "tests.integration.group_member", topic, group, instance or "-"]
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "GROUP_MEMBER_BUSY_S": str(busy_s),
        }
        self.proc = subprocess.Popen(
            [*command, str(SESSION_MS), *extra], stdout=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    @property
    def owned(self) -> set[int]:
        states = [line for line in list(self.lines) if "owned" in line]
        return set(states[-1]["owned"]) if states else set()

    @property
    def leader(self) -> bool:
        states = [line for line in list(self.lines) if "owned" in line]
        return bool(states and states[-1]["leader"])

    @property
    def generation(self) -> int:
        states = [line for line in list(self.lines) if "owned" in line]
        return int(states[-1]["generation"]) if states else -1

    def changes(self) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if "assigned" in line or "revoked" in line]

    def records(self) -> list[tuple[int, int]]:
        return [tuple(line["record"]) for line in list(self.lines) if "record" in line]

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def members(settings: Settings) -> Iterator[Callable[..., Member]]:
    started: list[Member] = []

    def start(topic: str, group: str, instance: str | None = None, *extra: str, busy_s: float = 0) -> Member:
        started.append(Member(settings, topic, group, instance, *extra, busy_s=busy_s))
        return started[-1]

    yield start
    for member in started:
        member.stop()


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = LIMIT_S) -> float:
    """Seconds until `condition` held; fails the test after `limit_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > limit_s:
            pytest.fail(f"not within {limit_s:.0f}s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def shared_without_overlap(group: list[Member], partitions: int) -> bool:
    owned = [m.owned for m in group]
    return all(owned) and sum(map(len, owned)) == partitions and set().union(*owned) == set(range(partitions))


def test_two_then_three_members_share_six_partitions_without_overlap(
    members: Callable[..., Member], new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    topic, group = new_topic("group.share", partitions=6), unique("group.share")
    first, second = members(topic, group, "a"), members(topic, group, "b")
    wait_for(lambda: shared_without_overlap([first, second], 6), "two members own all six partitions")
    assert {len(first.owned), len(second.owned)} == {3}

    third = members(topic, group, "c")
    wait_for(
        lambda: (
            shared_without_overlap([first, second, third], 6)
            and [len(m.owned) for m in (first, second, third)] == [2, 2, 2]
        ),
        "three members own two partitions each",
    )


def test_a_killed_member_s_partitions_move_to_the_others(
    members: Callable[..., Member], new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    topic, group = new_topic("group.kill", partitions=6), unique("group.kill")
    group_members = [members(topic, group, name) for name in ("a", "b", "c")]
    wait_for(lambda: shared_without_overlap(group_members, 6), "three members own all six partitions")
    victim, *survivors = group_members
    orphaned = victim.owned
    seen = [len(m.changes()) for m in survivors]

    victim.kill()
    took = wait_for(lambda: shared_without_overlap(survivors, 6), "the survivors own all six partitions")
    print(f"the killed member's partitions moved after {took:.1f}s (session timeout {SESSION_MS // 1000}s)")
    # The survivors kept what they had (sticky): only the orphans moved.
    assert orphaned <= survivors[0].owned | survivors[1].owned
    for member, already in zip(survivors, seen, strict=True):
        assert not any("revoked" in change for change in member.changes()[already:])


def test_a_restarted_static_member_gets_its_partitions_back_without_a_rebalance(
    members: Callable[..., Member], new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    topic, group = new_topic("group.static", partitions=6), unique("group.static")
    group_members = [members(topic, group, name) for name in ("a", "b", "c")]
    wait_for(lambda: shared_without_overlap(group_members, 6), "three members own all six partitions")
    # The group's leader: the member a restart is likeliest to disturb.
    name, victim = next((n, m) for n, m in zip("abc", group_members, strict=True) if m.leader)
    others = [m for m in group_members if m is not victim]
    before, generation = victim.owned, victim.generation
    changes_before = [len(m.changes()) for m in others]

    victim.kill()  # no LeaveGroup: the broker keeps its place for the session timeout
    again = members(topic, group, name)
    wait_for(lambda: again.owned == before, f"the restarted member {name} owns {sorted(before)} again")
    time.sleep(3)  # a rebalance the restart caused would show in the others' reports by now
    assert again.generation == generation
    assert [m.generation for m in others] == [generation, generation]
    assert [len(m.changes()) for m in others] == changes_before
    assert shared_without_overlap([again, *others], 6)


def test_each_partition_starts_after_the_position_the_store_recorded(
    settings: Settings,
    members: Callable[..., Member],
    new_topic: Callable[..., str],
    unique: Callable[[str], str],
    producer: Callable[..., Any],
) -> None:
    topic, group = new_topic("group.seek", partitions=6), unique("group.seek")
    send = producer()
    for partition in range(6):
        for n in range(10):
            send.send(topic, partition=partition, value=f"{partition}:{n}".encode())
    send.flush(timeout=30)
    # Kafka's committed offsets say something else: they are for lag only, never a start.
    committer = clients.consumer(settings, group_id=group, enable_auto_commit=False)
    try:
        committer.commit({TopicPartition(topic, p): OffsetAndMetadata(8, "", -1) for p in range(6)})
    finally:
        committer.close(autocommit=False)

    member = members(topic, group, "a", "4")  # the store recorded offset 4 of every partition
    wait_for(lambda: len(member.records()) == 6 * 5, "offsets 5..9 of every partition arrived")
    time.sleep(1)
    assert sorted(member.records()) == [(p, o) for p in range(6) for o in range(5, 10)]


def test_an_idle_member_does_not_spin(
    members: Callable[..., Member], new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    topic, group = new_topic("group.idle", partitions=2), unique("group.idle")
    group_members = [members(topic, group, name) for name in ("a", "b", "c")]
    wait_for(
        lambda: (
            shared_without_overlap([m for m in group_members if m.owned], 2)
            and sum(1 for m in group_members if m.owned) == 2
            and all(any("owned" in line for line in m.lines) for m in group_members)
        ),
        "two members own a partition each, the third none",
    )
    time.sleep(3)  # past the second round of the cooperative rebalance
    idle = next(m for m in group_members if not m.owned)
    before, started = idle.cpu_seconds(), time.monotonic()
    time.sleep(5)
    share = (idle.cpu_seconds() - before) / (time.monotonic() - started)
    print(f"an idle member used {100 * share:.1f}% of one core")
    assert share < 0.3, f"an idle member used {100 * share:.0f}% of a core: it spins"


def test_partitions_added_while_members_work_are_shared_and_no_member_spins(
    settings: Settings,
    members: Callable[..., Member],
    new_topic: Callable[..., str],
    unique: Callable[[str], str],
) -> None:
    """The leader sees the new partition and rebalances on its own; in kafka-python 3.0 that
    rebalance, when it finishes while the member is busy between polls, is never applied and
    poll() spins (services/runtime/group.py unstick). Whether the race is hit varies; either way
    the new partition must find an owner and nobody may spin."""
    from kafka.admin import NewPartitions

    topic, group = new_topic("group.grow", partitions=3), unique("group.grow")
    group_members = [members(topic, group, name, busy_s=0.3) for name in ("a", "b", "c", "d")]
    wait_for(
        lambda: (
            shared_without_overlap([m for m in group_members if m.owned], 3)
            and sum(1 for m in group_members if m.owned) == 3
        ),
        "three of four members own a partition each",
    )
    before = [m.cpu_seconds() for m in group_members]
    started = time.monotonic()
    admin = clients.admin(settings)
    try:
        admin.create_partitions({topic: NewPartitions(4)})
    finally:
        admin.close()
    # A stuck member spins from the rebalance (a few seconds in) until the broker expels it for
    # the heartbeats it stopped sending (the session timeout, 10 s later).
    time.sleep(8)
    elapsed = time.monotonic() - started
    shares = [(m.cpu_seconds() - b) / elapsed for m, b in zip(group_members, before, strict=True)]
    wait_for(lambda: shared_without_overlap(group_members, 4), "four members own a partition each")
    healed = sum(1 for m in group_members if any("healed" in line for line in m.lines))
    print(f"after the growth: {' '.join(f'{100 * s:.1f}%' for s in shares)} of one core; {healed} healed")
    # Spinning through every 200 ms poll between 300 ms of work is 40% of a core.
    assert max(shares) < 0.15, f"a member used {100 * max(shares):.0f}% of a core: it spins"


def test_partition_n_of_every_input_topic_goes_to_the_same_member(
    settings: Settings, new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    """A step reads several topics keyed by case id: one instance must own all of a case's inputs."""
    inputs = [new_topic("group.commands", partitions=4), new_topic("group.events", partitions=4)]
    group = unique("group.copartitioned")
    sources = [
        GroupSource(settings, group, inputs, recorded=lambda tp: None, client_id="accord-test")
        for _ in range(2)
    ]
    stop = threading.Event()

    def run(source: GroupSource) -> None:
        source.start()
        while not stop.is_set():
            source.poll(timeout_ms=200)

    threads = [threading.Thread(target=run, args=(source,), daemon=True) for source in sources]
    try:
        for thread in threads:
            thread.start()

        def numbers(source: GroupSource) -> list[set[int]]:
            return [{tp.partition for tp in source.owned() if tp.topic == topic} for topic in inputs]

        wait_for(
            lambda: (
                all(n[0] and n[0] == n[1] for n in map(numbers, sources))
                and sum(len(s.owned()) for s in sources) == 8
            ),
            "each member owns the same partition numbers of both topics, all eight owned",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for source in sources:
            source.close()


def test_a_failing_store_read_is_raised_from_poll_and_the_partition_stays_paused(
    settings: Settings, new_topic: Callable[..., str], unique: Callable[[str], str]
) -> None:
    topic, group = new_topic("group.fail", partitions=1), unique("group.fail")

    def recorded(tp: TopicPartition) -> int | None:
        raise OSError("the store is gone")

    source = GroupSource(settings, group, [topic], recorded=recorded, client_id="accord-test")
    source.start()
    try:
        deadline = time.monotonic() + LIMIT_S
        with pytest.raises(OSError, match="the store is gone"):
            while time.monotonic() < deadline:
                source.poll(timeout_ms=200)
        assert source.consumer is not None
        assert source.consumer.paused() == {TopicPartition(topic, 0)}
    finally:
        source.close()
