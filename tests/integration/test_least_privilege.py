"""Least privilege on Kafka: on the broker's SASL listener each service is its own principal,
and the broker itself (not our code) refuses a step that writes another step's topic, uses
another step's transactional id or reads a topic it does not consume, while allowing its own.
What a step writes here is aborted, so no reader of the suite's topics ever sees it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import TopicPartition
from kafka.errors import (
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)

from events.topics import COMMANDS, SUBMITTED, event_topic
from services import broker, clients, principals, topics
from services.settings import Settings
from services.steps.registry import NAMES, load

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def as_service(settings: Settings) -> Callable[[str], Settings]:
    """The settings a service runs with when it connects as its own principal: the SASL
    listener of the broker `accord broker start` runs for this data directory."""
    topics.create(settings)  # the declared topics (idempotent)
    credentials = broker.services_credentials(settings)
    if not credentials.exists():
        pytest.fail(f"no service principals in {credentials}: start the broker with `accord broker start`")
    sasl = settings.model_copy(
        update={
            "security_protocol": "SASL_PLAINTEXT",
            "bootstrap_servers": broker.sasl_bootstrap_servers(settings),
            "kafka_credentials": credentials,
            "sasl_username": None,
            "sasl_password": None,
            "kafka_timeout_s": 20.0,
        }
    )
    return sasl.as_service


@pytest.fixture
def transactional(
    as_service: Callable[[str], Settings],
) -> Iterator[Callable[..., clients.TransactionalProducer]]:
    opened: list[clients.TransactionalProducer] = []

    def make(service: str, transactional_id: str) -> clients.TransactionalProducer:
        opened.append(clients.TransactionalProducer(as_service(service), transactional_id))
        return opened[-1]

    yield make
    for producer in opened:
        producer.close()


def _delivered(producer: clients.TransactionalProducer, topic: str) -> KafkaError | None:
    """Send one record inside the open transaction; the broker's refusal, or None."""
    future = producer.producer.send(topic, key=b"acl-test", value=b"never committed")
    producer.producer.flush(timeout=producer.timeout_ms / 1000)
    return future.exception if future.failed() else None


def _other(step: str) -> str:
    return NAMES[(NAMES.index(step) + 1) % len(NAMES)]


@pytest.mark.parametrize("step", NAMES)
def test_the_broker_lets_a_step_write_its_own_topic_and_refuses_it_another_steps(
    step: str, transactional: Callable[..., clients.TransactionalProducer]
) -> None:
    # The relay's transactional id is accord-<step>; one of our own under its prefix, so the
    # suite's running relay is not fenced.
    producer = transactional(step, f"accord-{step}-acl-test-{uuid.uuid4().hex[:6]}")
    producer.begin()
    assert _delivered(producer, event_topic(step).name) is None
    producer.abort()  # allowed, and never visible to a read_committed reader
    producer.begin()
    refused = _delivered(producer, event_topic(_other(step)).name)
    assert isinstance(refused, TopicAuthorizationFailedError), refused
    assert event_topic(_other(step)).name in str(refused)
    producer.abort()


def test_a_step_cannot_take_another_steps_transactional_id(as_service: Callable[[str], Settings]) -> None:
    # Were it allowed, its init_transactions would fence the planning relay.
    with pytest.raises(TransactionalIdAuthorizationFailedError):
        clients.TransactionalProducer(as_service("contact"), "accord-planning")


def test_a_step_cannot_write_a_submission_or_a_command(
    transactional: Callable[..., clients.TransactionalProducer],
) -> None:
    producer = transactional("planning", f"accord-planning-acl-test-{uuid.uuid4().hex[:6]}")
    for topic in (SUBMITTED.name, COMMANDS.name):
        producer.begin()
        assert isinstance(_delivered(producer, topic), TopicAuthorizationFailedError)
        producer.abort()


def test_a_step_reads_its_inputs_and_not_a_topic_it_does_not_consume(
    as_service: Callable[[str], Settings],
) -> None:
    intake = as_service("intake")
    unread = next(s for s in NAMES if s != "intake" and event_topic(s).name not in load("intake").inputs)
    allowed = clients.consumer(intake, client_id="accord-acl-test")
    refused = clients.consumer(intake, client_id="accord-acl-test")
    try:
        assert allowed.end_offsets([TopicPartition(topic, 0) for topic in load("intake").inputs])
        with pytest.raises(TopicAuthorizationFailedError):
            refused.end_offsets([TopicPartition(event_topic(unread).name, 0)])
    finally:
        allowed.close()
        refused.close()


def test_the_console_may_only_send_commands(as_service: Callable[[str], Settings]) -> None:
    producer = clients.producer(as_service("console"))
    try:
        assert producer.partitions_for(COMMANDS.name)  # its topic (a write would reach the steps)
        refused = producer.send(SUBMITTED.name, key=b"acl-test", value=b"not a submission")
        producer.flush(timeout=20)
        assert isinstance(refused.exception, TopicAuthorizationFailedError)
    finally:
        clients.close_producer(producer, 5)


def test_every_service_principal_logs_in(settings: Settings, as_service: Callable[[str], Settings]) -> None:
    for service in principals.SERVICES:
        admin = clients.admin(as_service(service), client_id=f"accord-acl-test-{service}")
        admin.close()
