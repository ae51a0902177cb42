"""The raw Kafka baseline, on the same broker as the pipeline: a relay chain of plain
kafka-python processes with no logic (poll, produce, flush, commit per batch) over as many
hops as the workflow has steps, on 1 KB JSON records; and the raw rate of consuming one
topic from offset 0."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from events.topics import KEEP_FOREVER, Topic
from services import topics
from services.settings import Settings

HOPS = 6  # intake, contact, planning, execution, evaluation, sla


def _record(n: int) -> bytes:
    body = {"n": n, "pad": ""}
    raw = json.dumps(body)
    body["pad"] = "x" * (1024 - len(raw))
    return json.dumps(body).encode()


def _hop(bootstrap: str, source: str, sink: str, group: str, total: int) -> None:
    consumer = KafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=1000,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    seen = 0
    while seen < total:
        batch = consumer.poll(timeout_ms=500)
        for records in batch.values():
            for r in records:
                producer.send(sink, key=r.key, value=r.value)
            seen += len(records)
        if batch:
            producer.flush()
            consumer.commit()
    producer.close()
    consumer.close()


def relay_chain(settings: Settings, count: int, run: str) -> dict[str, Any]:
    names = [f"bench.{run}.hop{i}" for i in range(HOPS + 1)]
    topics.create(
        settings,
        [Topic(n, "bench", key="-", carries="raw", config=KEEP_FOREVER) for n in names],
        partitions=6,
    )
    ctx = multiprocessing.get_context("spawn")
    hops = [
        ctx.Process(
            target=_hop, args=(settings.bootstrap_servers, names[i], names[i + 1], f"bench-{run}-{i}", count)
        )
        for i in range(HOPS)
    ]
    for p in hops:
        p.start()
    time.sleep(3)  # let every hop join before the clock starts
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5
    )
    started = time.time()
    for n in range(count):
        producer.send(names[0], key=str(n).encode(), value=_record(n))
    producer.flush()
    producer.close()
    for p in hops:
        p.join(timeout=600)
    elapsed = time.time() - started
    latencies = _hop_latencies(settings, names)
    return {
        "messages": count,
        "hops": HOPS,
        "seconds": round(elapsed, 2),
        "messages_per_second": round(count / elapsed, 1),
        **latencies,
    }


def _read_all(settings: Settings, topic: str, keep: bool = True) -> tuple[list[Any], int, float]:
    """Every record of the topic from offset 0 (none kept, only counted, without `keep`), how
    many, and the seconds the reading took."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=5000,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    out: list[Any] = []
    count = 0
    started = time.perf_counter()
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for records in consumer.poll(timeout_ms=500).values():
            count += len(records)
            if keep:
                out.extend(records)
    elapsed = time.perf_counter() - started
    consumer.close()
    return out, count, elapsed


def _hop_latencies(settings: Settings, names: list[str]) -> dict[str, Any]:
    """Per-hop latency from the records' CreateTime: the time a hop produced a key minus the
    time the previous hop (or the source) produced it."""
    stamps = []
    for name in names:
        records, _, _ = _read_all(settings, name)
        stamps.append({r.key: r.timestamp for r in records})
    deltas = [
        stamps[i + 1][k] - stamps[i][k]
        for i in range(len(names) - 1)
        for k in stamps[i]
        if k in stamps[i + 1]
    ]
    deltas.sort()
    return {
        "hop_latency_ms_p50": deltas[len(deltas) // 2] if deltas else None,
        "hop_latency_ms_p99": deltas[int(len(deltas) * 0.99)] if deltas else None,
        "hop_latency_ms_mean": round(statistics.fmean(deltas), 1) if deltas else None,
    }


def raw_consume(settings: Settings, topic: str) -> dict[str, Any]:
    _, count, elapsed = _read_all(settings, topic, keep=False)
    return {
        "records": count,
        "seconds": round(elapsed, 2),
        "records_per_second": round(count / elapsed, 1),
    }


def raw_consume_all(settings: Settings, topic_names: list[str]) -> dict[str, Any]:
    """raw_consume of each topic in turn, summed: the raw rate of reading those topics."""
    each = [raw_consume(settings, name) for name in topic_names]
    records, seconds = sum(r["records"] for r in each), sum(r["seconds"] for r in each)
    return {
        "records": records,
        "seconds": round(seconds, 2),
        "records_per_second": round(records / max(seconds, 1e-9), 1),
    }
