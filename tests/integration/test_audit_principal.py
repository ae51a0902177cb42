"""Audit as its own read-only Kafka principal: the auditor reads the history and verifies it,
the broker (not our code) refuses it any write, a wrong password is refused with a clear
error, and the audit module cannot even reach for a producer."""

from __future__ import annotations

import ast
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    SaslAuthenticationFailedError,
    TopicAuthorizationFailedError,
)
from kafka.structs import OffsetAndMetadata
from pydantic import SecretStr

from events.topics import STEP_TOPICS
from services import audit, broker, clients, topics
from services.settings import Settings
from tests.integration.test_workflow import complaint, submit

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def auditor(settings: Settings) -> dict[str, object]:
    """The audit principal's settings: from the environment when it names one, otherwise the
    auditor of the broker that `accord broker start` runs for this data directory."""
    if settings.audit_principal:
        fields = ("audit_kafka_username", "audit_kafka_password", "audit_bootstrap_servers")
        return {name: getattr(settings, name) for name in fields}
    try:
        principal = broker.audit_principal(settings)
    except broker.BrokerError as exc:
        pytest.fail(f"no audit principal: {exc}", pytrace=False)
    return {
        "audit_kafka_username": principal.username,
        "audit_kafka_password": SecretStr(principal.password),
        "audit_bootstrap_servers": principal.bootstrap_servers,
    }


def _marked_records(settings: Settings, topic: str, since: dict[TopicPartition, int], marker: bytes) -> list:
    reader = clients.consumer(settings, client_id="accord-test-reader")
    try:
        reader.assign(list(since))
        for tp, offset in since.items():
            reader.seek(tp, offset)
        ends = reader.end_offsets(list(since))
        found = []
        while any(reader.position(tp) < ends[tp] for tp in since):
            for records in reader.poll(timeout_ms=500).values():
                found.extend(r for r in records if r.value == marker)
        return found
    finally:
        reader.close()


def test_the_auditor_reads_the_history_and_verifies_it(running, live_producer, watcher, auditor) -> None:
    case = submit(live_producer, complaint("principal1", "app"))
    watcher.wait(case, "CaseAssigned")
    watcher.wait(case, "DeadlineStarted")
    # The services' address points nowhere: only the audit principal's connection can work.
    as_auditor = running.model_copy(update={**auditor, "bootstrap_servers": "127.0.0.1:9"})

    rows = audit.timeline(as_auditor, case)
    kinds = [r["type"] for r in rows]
    assert kinds[:2] == ["ComplaintRegistered", "ComplaintClassified"] and "CaseAssigned" in kinds

    # verify also fetches each relay's committed offset as the auditor. Until a relay has
    # committed what it published, the case's newest events look unrecorded: wait (bounded).
    for _ in range(30):
        verdict = audit.verify(as_auditor)
        about_case = [str(f) for f in verdict.findings if f.case_id == case]
        if not about_case:
            break
        time.sleep(1)
    assert not about_case, "\n".join(about_case)
    assert verdict.events >= len(rows) and verdict.stored > 0


def test_the_broker_refuses_the_auditor_any_write_to_an_event_topic(settings, auditor) -> None:
    topics.create(settings)
    topic = STEP_TOPICS["contact"].name
    as_auditor = settings.model_copy(update=auditor)
    reader = clients.consumer(settings)
    parts = [TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or [])]
    before = reader.end_offsets(parts)
    reader.close()
    marker = f"forged by the auditor {uuid.uuid4()}".encode()
    # clients has no producer for the audit principal, so the forger builds its own.
    plain = KafkaProducer(**clients.connection(as_auditor, audit=True), enable_idempotence=False, retries=0)
    idempotent = KafkaProducer(**clients.connection(as_auditor, audit=True), enable_idempotence=True)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            plain.send(topic, key=b"case", value=marker).get(timeout=30)
        with pytest.raises(KafkaError, match="AuthorizationFailed"):
            idempotent.send(topic, key=b"case", value=marker).get(timeout=30)
    finally:
        plain.close(timeout=5)
        idempotent.close(timeout=5)
    assert _marked_records(settings, topic, before, marker) == []


def test_the_auditor_cannot_move_a_relays_committed_offset(settings, auditor) -> None:
    topics.create(settings)
    as_auditor = settings.model_copy(update=auditor)
    group = f"accord-relay-contact-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(STEP_TOPICS["contact"].name, 0)
    probe = clients.audit_consumer(as_auditor, group_id=group)
    try:
        assert probe.committed(tp) is None  # reading a relay's offset is allowed
        with pytest.raises(GroupAuthorizationFailedError):
            probe.commit({tp: OffsetAndMetadata(0, "", -1)})
    finally:
        probe.close()


def test_a_wrong_audit_password_is_refused_with_a_clear_error(settings, auditor) -> None:
    wrong = settings.model_copy(update={**auditor, "audit_kafka_password": SecretStr("not-the-password")})
    with pytest.raises(SaslAuthenticationFailedError, match="ACCORD_AUDIT_KAFKA_PASSWORD") as refused:
        clients.audit_consumer(wrong, bootstrap_timeout_ms=5000)
    assert auditor["audit_kafka_username"] in str(refused.value)
    assert "not-the-password" not in str(refused.value)


def test_the_audit_module_has_no_way_to_a_producer() -> None:
    tree = ast.parse(Path(audit.__file__).read_text())
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "clients"
    }
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not {"KafkaProducer", "AIOKafkaProducer", "producer"} & (imported | names)
    assert used == {"audit_committed"}  # it only reads (as the audit principal); read_to_end too
