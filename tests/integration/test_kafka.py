"""The broker as Accord uses it: idempotent producers, read_committed consumers, and
transactional consume-transform-produce with the consumed offsets in the same transaction."""

from __future__ import annotations

import json

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from events.codec import decode, encode, header, headers_for
from events.submission import ComplaintSubmission
from tests.integration.conftest import drain


def submission(n: int) -> ComplaintSubmission:
    return decode(
        ComplaintSubmission,
        json.dumps(
            {
                "submission_id": f"app-{n}",
                "channel": "app",
                "submitted_at": "2026-03-01T10:00:00Z",
                "customer_id": f"C{n}",
                "subject": f"complaint {n}",
                "description": "扣费错误 ✓",
            }
        ).encode(),
    )


def test_an_idempotent_producer_and_a_read_committed_consumer_round_trip(
    new_topic, producer, consumer
) -> None:
    topic = new_topic("roundtrip")
    sent = [submission(n) for n in range(50)]
    out = producer()
    for item in sent:
        out.send(topic, key=item.submission_id.encode(), value=encode(item), headers=headers_for(item))
    out.flush()

    records = drain(consumer(topic, group_id=f"g-{topic}"), expected=50)

    assert (
        sorted(
            (decode(ComplaintSubmission, r.value) for r in records),
            key=lambda s: int(s.submission_id.split("-")[1]),
        )
        == sent
    )
    assert {header(r.headers, "type") for r in records} == {"ComplaintSubmission"}
    by_key: dict[bytes, set[int]] = {}
    for r in records:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(parts) == 1 for parts in by_key.values())  # one key, one partition


def test_read_committed_never_sees_an_aborted_transaction(new_topic, producer, consumer) -> None:
    topic = new_topic("aborted", partitions=1)
    tx = producer(transactional_id=f"tx-{topic}")
    tx.init_transactions()
    tx.begin_transaction()
    tx.send(topic, key=b"k", value=b"never")
    tx.flush()
    tx.abort_transaction()
    tx.begin_transaction()
    tx.send(topic, key=b"k", value=b"committed")
    tx.commit_transaction()

    records = drain(consumer(topic, group_id=f"g-{topic}"), expected=1, timeout_s=10)
    assert [r.value for r in records] == [b"committed"]


def _transform_batch(tx, source, sink: str, group: str, *, commit: bool) -> int:
    """One consume-transform-produce step: outputs and input offsets in one transaction."""
    batch = source.poll(timeout_ms=2000)
    while not batch:
        batch = source.poll(timeout_ms=2000)
    tx.begin_transaction()
    offsets = {}
    count = 0
    for tp, records in batch.items():
        for record in records:
            tx.send(sink, key=record.key, value=record.value.upper())
            count += 1
        offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
    tx.send_offsets_to_transaction(offsets, group)
    if commit:
        tx.commit_transaction()
    else:
        tx.abort_transaction()
    return count


def test_consume_transform_produce_is_exactly_once_across_an_abort(new_topic, producer, consumer) -> None:
    source_topic, sink_topic = new_topic("ctp-in", partitions=1), new_topic("ctp-out", partitions=1)
    group = f"g-{source_topic}"
    plain = producer()
    for n in range(20):
        plain.send(source_topic, key=f"k{n}".encode(), value=f"item-{n}".encode())
    plain.flush()

    tx = producer(transactional_id=f"tx-{source_topic}")
    tx.init_transactions()
    source = consumer(source_topic, group_id=group, max_poll_records=20)
    # First attempt aborts (as if the process died): nothing is visible, no offset is kept.
    assert _transform_batch(tx, source, sink_topic, group, commit=False) == 20
    source.close()

    source = consumer(source_topic, group_id=group, max_poll_records=20)
    assert _transform_batch(tx, source, sink_topic, group, commit=True) == 20

    out = drain(consumer(sink_topic, group_id=f"check-{sink_topic}"), expected=20, timeout_s=10)
    assert sorted(r.value for r in out) == sorted(f"ITEM-{n}".encode() for n in range(20))
    committed = source.committed(TopicPartition(source_topic, 0))
    assert committed == 20


def test_a_cluster_id_that_starts_with_a_dash_still_formats_the_storage(settings, tmp_path) -> None:
    """Two ids in 64 do (base64url); passed as `-t <id>`, Kafka's storage tool read it as an
    option and refused to format, which made a test's own broker fail to start now and then."""
    from services import broker

    paths = broker.Paths.of(settings.model_copy(update={"data_dir": tmp_path}))
    paths.home.mkdir(parents=True)
    (paths.top / "cluster.id").write_text("-" + "A" * 21)
    paths.config.write_text(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.1:1\n"
        "listeners=PLAINTEXT://127.0.0.1:2,CONTROLLER://127.0.0.1:1\n"
        f"controller.listener.names=CONTROLLER\nlog.dirs={paths.data}\n"
    )
    broker._format_storage(paths)
    assert "cluster.id=-AAAA" in (paths.data / "meta.properties").read_text()
