"""State that moves with its partition, on both backends (SQLite files and a real PostgreSQL):
a store per partition number; two owners of one partition (the previous one still finishing,
as after a move) never give an input or a timer a second effect, and a write conflict is told
apart from a redelivery: the redelivery is dropped, the conflicting input decided again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from events.codec import encode
from events.intake import ComplaintRegistered
from events.topics import event_topic
from services import bootstrap
from services.privacy import KeyStore
from services.runtime import metrics
from services.runtime.clock import ManualClock
from services.runtime.processor import Processor
from services.runtime.store import EMIT, StepStore
from services.settings import Settings
from tests.given import T0, env

DAY = timedelta(days=1)
TOPIC = event_topic("intake").name


def registered(case: str, tag: str = "") -> bytes:
    """An input for the sla step: a case registered (a new event id each time)."""
    return encode(
        env(
            ComplaintRegistered(
                submission_id=f"S-{case}{tag}",
                channel="branch",
                received_at=T0,
                customer_id="CUST-1",
                subject="s",
                description="d",
                policy="CN-2020",
            ),
            case=case,
        )
    )


def owner(settings: Settings, clock: ManualClock, partition: int) -> Processor:
    """One instance's processor of the sla step's partition: its own connection to the store."""
    store = StepStore.open("sla", settings.data_dir, settings.database_url, partition)
    return bootstrap.processor("sla", settings, clock=clock, sealer=KeyStore(settings), store=store)


def emitted(processor: Processor, case: str) -> list[str]:
    return [item.type for _, item in processor.store.stream(case) if item.kind == EMIT]


def settings_for(tmp_path, database_url: str | None) -> Settings:
    return Settings.from_env({}).model_copy(
        update={"data_dir": tmp_path, "database_url": database_url, "clock": "wall"}
    )


def test_each_partition_number_has_a_store_of_its_own_and_audit_finds_every_one(
    tmp_path, database_url
) -> None:
    settings = settings_for(tmp_path, database_url)
    assert StepStore.existing("sla", tmp_path, database_url) == []
    clock = ManualClock(T0)
    first, fourth = owner(settings, clock, 0), owner(settings, clock, 3)
    assert first.handle(TOPIC, 0, 0, b"C0", registered("C0")) == "recorded"
    assert fourth.handle(TOPIC, 3, 0, b"C3", registered("C3")) == "recorded"
    assert emitted(first, "C0") == ["DeadlineStarted"] and emitted(first, "C3") == []
    assert emitted(fourth, "C3") == ["DeadlineStarted"] and emitted(fourth, "C0") == []
    assert first.store.position(f"{TOPIC}:0") == 0 and fourth.store.position(f"{TOPIC}:3") == 0
    assert first.store.identity() != fourth.store.identity()  # each its own relay position
    StepStore.open("sla", tmp_path, database_url)  # the single store a step that is not partitioned keeps
    assert StepStore.existing("sla", tmp_path, database_url) == [None, 0, 3]


def test_a_redelivery_is_dropped_and_a_write_conflict_is_decided_again(tmp_path, database_url) -> None:
    settings = settings_for(tmp_path, database_url)
    clock = ManualClock(T0)
    old, new = owner(settings, clock, 2), owner(settings, clock, 2)
    assert old.handle(TOPIC, 2, 0, b"C1", registered("C1")) == "recorded"
    # The new owner reads from where the store says; Kafka may hand it the record again.
    assert new.handle(TOPIC, 2, 0, b"C1", registered("C1")) == "duplicate"
    # The previous owner has the case cached; the new owner moves the case's stream on …
    old.load("C1")
    conflicts = metrics.WRITE_CONFLICTS.labels("sla")._value.get()
    assert new.handle(TOPIC, 2, 1, b"C1", registered("C1", "again")) in ("noted", "recorded", "duplicate")
    # … so the previous owner's next input conflicts on the stream: not a redelivery (its
    # position was never recorded), so it is decided again on the stream as it now stands.
    outcome = old.handle(TOPIC, 2, 2, b"C1", registered("C1", "third"))
    assert outcome != "duplicate"
    assert metrics.WRITE_CONFLICTS.labels("sla")._value.get() == conflicts + 1
    assert old.store.position(f"{TOPIC}:2") == 2
    versions = [version for version, _ in old.store.stream("C1")]
    assert versions == list(range(1, len(versions) + 1))  # one history, no gap, no fork


def test_a_poll_batch_is_one_transaction_and_falls_back_to_one_by_one_on_a_conflict(
    tmp_path, database_url
) -> None:
    """The loop records a poll's inputs in one store transaction. Inside it, each input sees
    what the ones before it recorded; the previous owner having recorded some of them already
    makes the whole transaction conflict, and then each input is handled alone: what the other
    owner recorded is a redelivery, the rest takes effect once."""
    settings = settings_for(tmp_path, database_url)
    clock = ManualClock(T0)
    old, new = owner(settings, clock, 5), owner(settings, clock, 5)
    records = [(TOPIC, 5, offset, f"C{offset}".encode(), registered(f"C{offset}")) for offset in range(6)]
    records.append((TOPIC, 5, 6, b"C0", registered("C0", "again")))  # a later input on a case of the batch
    for offset in range(3):
        new.load(f"C{offset}")  # the new owner read these cases before …
    # … the old owner, not yet told the partition moved, recorded its first three inputs.
    for record in records[:3]:
        assert old.handle(*record) == "recorded"
    conflicts = metrics.WRITE_CONFLICTS.labels("sla")._value.get()
    new.handle_batch([(*record, []) for record in records])
    assert metrics.WRITE_CONFLICTS.labels("sla")._value.get() == conflicts + 1  # the batch, once
    assert new.store.position(f"{TOPIC}:5") == 6
    alone = owner(settings, clock, 7)  # the same inputs with no other writer, one at a time
    for _, _, offset, key, value in records:
        alone.handle(TOPIC, 7, offset, key, value)
    for offset in range(6):  # every effect once: none lost, none twice
        assert emitted(new, f"C{offset}") == emitted(alone, f"C{offset}") != []
    versions = [version for version, _ in new.store.stream("C0")]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 3  # the later input too

    # Without another writer, the batch is one transaction: nothing is in the store until its end.
    fresh = owner(settings, clock, 1)
    with fresh.store.batch():
        assert fresh.handle(TOPIC, 1, 0, b"D1", registered("D1")) == "recorded"
        assert fresh.handle(TOPIC, 1, 0, b"D1", registered("D1")) == "duplicate"  # seen in the batch
        other = StepStore.open("sla", settings.data_dir, settings.database_url, 1)
        assert other.stream("D1") == [] and other.position(f"{TOPIC}:1") is None
    assert [item.type for _, item in other.stream("D1") if item.kind == EMIT] == ["DeadlineStarted"]
    assert other.position(f"{TOPIC}:1") == 0


def test_a_deadline_falling_due_while_its_partition_moves_fires_once(tmp_path, database_url) -> None:
    settings = settings_for(tmp_path, database_url)
    clock = ManualClock(T0)
    old = owner(settings, clock, 4)
    assert old.handle(TOPIC, 4, 0, b"C9", registered("C9")) == "recorded"
    # The partition moves: the new owner rebuilds the timers from the store while the old
    # one, not yet told, still holds them too. The warning and breach fall due meanwhile.
    new = owner(settings, clock, 4)
    new.rebuild_timers()
    assert set(old.timers) == set(new.timers) == {"C9"}
    for day in (12, 14, 16):  # the 75% and 90% warnings, then the breach of the 15 days
        now = T0 + day * DAY
        clock.current = now
        fired_old = old.tick(now)
        fired_new = new.tick(now)
        assert fired_old > 0 and fired_new == 0  # the second owner's write conflicted: skipped
        assert new.tick(now) == 0  # it read the stream again: nothing is left to fire
    kinds = emitted(new, "C9")
    assert kinds.count("DeadlineBreached") == 1
    warnings = _warnings(new, "C9")
    assert len(warnings) == 2 and len(set(warnings)) == 2  # each threshold once


def _warnings(processor: Processor, case: str) -> list[str]:
    """Each warning's identity (deadline and percentage): the same one twice would be a repeat."""
    from events.codec import decode
    from events.envelope import Envelope

    out = []
    for _, item in processor.store.stream(case):
        if item.kind == EMIT and item.type == "DeadlineWarned":
            event = decode(Envelope, item.data).event
            out.append(f"{event.deadline}|{event.percent_used}")  # type: ignore[union-attr]
    return out


def test_a_submission_sealed_on_arrival_is_forwarded_sealed_its_events_naming_the_bytes_sent(
    tmp_path: Path,
) -> None:
    """Intake's first stage seals personal data sent in the clear before forwarding it, so the
    internal topic holds none; the events it causes still name the hash of the bytes the
    channel sent, which is what audit finds on `complaints.submitted`."""
    import json

    from events.codec import content_hash
    from events.topics import INTAKE_SUBMISSIONS, SUBMITTED
    from tests.bus import Bus

    bus = Bus(tmp_path)
    body = {
        "submission_id": "plain-1",
        "channel": "hotline",
        "submitted_at": bus.clock.now().isoformat(),
        "customer_id": "CP-1",
        "customer": {"name": "Wei Zhang-plain", "phone": "+86 138 0000 1111"},
        "subject": "fee",
        "description": "charged twice",
    }
    sent = json.dumps(body).encode()
    bus.publish(SUBMITTED.name, b"plain-1", sent)
    forwarded = bus.topics[INTAKE_SUBMISSIONS.name]
    assert len(forwarded) == 1 and forwarded[0][0] == b"CP-1"  # re-keyed by customer
    assert b"Wei Zhang-plain" not in (forwarded[0][1] or b"")  # sealed before it left intake
    registered = [e for e in bus.events() if e.event.type == "ComplaintRegistered"]
    assert len(registered) == 1 and registered[0].cause_hash == content_hash(sent)
    bus.publish(SUBMITTED.name, b"plain-1", sent)  # the channel sends it again
    assert len(bus.topics[INTAKE_SUBMISSIONS.name]) == 1
    assert [e.event.type for e in bus.events()].count("ComplaintRegistered") == 1


def test_a_step_refuses_a_store_from_before_partitions_rather_than_decide_everything_again(
    tmp_path: Path,
) -> None:
    import pytest

    settings = settings_for(tmp_path, None)
    StepStore.open("sla", tmp_path)  # the layout before scale-out: one store for all partitions
    with pytest.raises(RuntimeError, match="single store from before stores were kept per partition"):
        bootstrap.step_runner("sla", settings)
    assert bootstrap.step_runner("contact", settings).name == "contact"  # no old store: it runs
