"""The idle-member CPU measurement: N members of one group (cooperative-sticky) on a topic with
fewer partitions, each a process polling like Accord's loop (poll(timeout_ms=200)); prints the
CPU each member used over a window, as a share of one core. Not part of `make test`.

    python -m bench.group_spin                 # plain kafka-python: the spin, when the race hits
    python -m bench.group_spin --fix           # with services.runtime.group.unstick after each poll
    python -m bench.group_spin --runs 5 --members 4 --partitions 3 --window 10
    python -m bench.group_spin --grow 1 --busy 0.5   # partitions added while members work: the race, often

One member: python -m bench.group_spin member TOPIC GROUP BUSY_SECONDS [--fix]"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid

from events.topics import KEEP_FOREVER, Topic
from services import clients, topics
from services.settings import Settings


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def member(topic: str, group: str, fix: bool, busy_s: float) -> None:
    from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor

    from services.runtime.group import unstick

    consumer = clients.consumer(
        Settings.from_env(),
        group_id=group,
        client_id="accord-spin",
        partition_assignment_strategy=[CooperativeStickyAssignor],
        metadata_max_age_ms=2000,  # see added partitions soon (--grow)
    )
    consumer.subscribe([topic])
    last: list[int] | None = None
    while True:
        consumer.poll(timeout_ms=200)
        time.sleep(busy_s)  # handling what the poll returned, as a step does
        if fix and unstick(consumer):
            print(os.getpid(), "unstuck", flush=True)
        owned = sorted(tp.partition for tp in consumer.assignment())
        if owned != last:
            print(os.getpid(), "owns", owned, flush=True)
            last = owned


def run(
    members: int, partitions: int, settle: float, window: float, fix: bool, busy_s: float, grow: int
) -> list[float]:
    settings = Settings.from_env()
    name = f"bench.spin.{uuid.uuid4().hex[:8]}"
    topic = Topic(name, "spin bench", key="-", carries="raw", config=KEEP_FOREVER)
    topics.create(settings, [topic], partitions=partitions)
    command = [sys.executable, "-m", "bench.group_spin", "member", name, f"bench-spin-{name}", str(busy_s)]
    procs = [subprocess.Popen(command + (["--fix"] if fix else [])) for _ in range(members)]
    try:
        time.sleep(settle)
        if grow:  # the leader sees its metadata change and starts a rebalance of its own
            from kafka.admin import NewPartitions

            admin = clients.admin(settings)
            try:
                admin.create_partitions({name: NewPartitions(partitions + grow)})
            finally:
                admin.close()
            time.sleep(settle)
        before = [cpu_seconds(p.pid) for p in procs]
        started = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - started
        return [100 * (cpu_seconds(p.pid) - b) / elapsed for p, b in zip(procs, before, strict=True)]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "member":
        member(sys.argv[2], sys.argv[3], "--fix" in sys.argv, float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.group_spin")
    parser.add_argument("--fix", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--grow", type=int, default=0, help="partitions to add after the members settled")
    parser.add_argument("--busy", type=float, default=0.0, help="seconds each member works after a poll")
    args = parser.parse_args()
    for run_no in range(1, args.runs + 1):
        shares = run(args.members, args.partitions, args.settle, args.window, args.fix, args.busy, args.grow)
        print(f"run {run_no}: " + " ".join(f"{share:.1f}%" for share in shares), "of one core", flush=True)


if __name__ == "__main__":
    main()
