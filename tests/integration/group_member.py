"""One member of a consumer group, as its own process, for tests/integration/test_group.py: runs a
GroupSource and reports on stdout, one JSON object a line, what it owns, what it was given and
lost, and every record it received.

    python -m tests.integration.group_member TOPIC GROUP INSTANCE_ID|- SESSION_TIMEOUT_MS [RECORDED]

RECORDED is the last offset "the store" recorded for every partition (default: none);
GROUP_MEMBER_BUSY_S the seconds it works after each poll (default 0)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from kafka import TopicPartition

from services.runtime.group import GroupSource
from services.settings import Settings


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    topic, group, instance, session_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    recorded = int(sys.argv[5]) if len(sys.argv) > 5 else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def partitions(tps: frozenset[TopicPartition]) -> list[int]:
        return sorted(tp.partition for tp in tps)

    source = GroupSource(
        Settings.from_env(),
        group,
        [topic],
        recorded=lambda tp: recorded,
        on_revoked=lambda tps: say(revoked=partitions(tps)),
        on_assigned=lambda tps: say(assigned=partitions(tps)),
        instance_id=None if instance == "-" else instance,
        client_id="accord-test-member",
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=min(1000, session_ms // 3),
        metadata_max_age_ms=2000,  # sees added partitions soon
    )
    busy_s = float(os.environ.get("GROUP_MEMBER_BUSY_S", "0"))
    if os.environ.get("GROUP_MEMBER_NO_HEAL"):  # to show what the heal prevents
        source._heal = lambda: None  # type: ignore[method-assign]
    source.start()
    last: tuple[list[int], bool, int] | None = None
    healed = False
    try:
        while not stop.is_set():
            batch = source.poll(timeout_ms=200)
            time.sleep(busy_s)  # handling the batch, as a step does
            for tp, records in batch.items():
                for record in records:
                    say(record=[tp.partition, record.offset])
            coordinator = source.consumer._coordinator
            now = (
                partitions(source.owned()),
                bool(coordinator._is_leader),
                coordinator._generation.generation_id,
            )
            if now != last:
                say(owned=now[0], leader=now[1], generation=now[2])
            if source.heals and not healed:
                say(healed=source.heals)
                healed = True
                last = now
    finally:
        source.close()


if __name__ == "__main__":
    main()
